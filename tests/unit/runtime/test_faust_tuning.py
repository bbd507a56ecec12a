"""The Faust tweaks rely on private details of Faust and aiokafka: fail loudly if those move."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from streams.runtime import faust_tuning


def test_the_worker_keeps_the_root_log_level_it_was_given() -> None:
    """Faust's start-up spinner set the root logger to DEBUG: every debug call built a record."""
    import faust
    from faust.worker import Worker

    faust_tuning.no_startup_spinner()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    worker = Worker(faust.App("spinner-test"), loglevel="warning", quiet=True)
    try:
        worker._setup_logging()
        assert root.level == logging.WARNING and worker.spinner is None
        assert not logging.getLogger("faust.tables.recovery").isEnabledFor(logging.DEBUG)
    finally:
        root.setLevel(saved_level)
        root.handlers[:] = saved_handlers


class SlowBuffer:
    """What the flush uses of Faust's ``ProducerBuffer``: a size that drains, one per delay."""

    state = "running"
    app: Any = None  # ProducerBuffer's own default: a buffer without coalesced tables

    def __init__(self, n: int, delay: float = 0.25) -> None:
        self.left = n
        self.delay = delay
        self.message_sent = asyncio.Event()

    @property
    def size(self) -> int:
        return self.left

    async def drain(self) -> None:
        while self.left:
            await asyncio.sleep(self.delay)  # 0.25: slower than Faust's 0.1 s patience
            self.left -= 1
            self.message_sent.set()


async def test_flush_before_commit_waits_for_a_slow_buffer_to_empty() -> None:
    """Faust's own flush gives up after 0.1 s without progress; ours returns only when empty."""

    from faust.transport.producer import ProducerBuffer

    from streams.runtime.faust_tuning import _flush_everything

    faust_way = SlowBuffer(3)
    drainer = asyncio.create_task(faust_way.drain())
    await ProducerBuffer.flush_atmost(faust_way, None)  # type: ignore[arg-type]
    assert faust_way.size == 3  # gave up with everything still buffered
    drainer.cancel()

    ours = SlowBuffer(3)
    drainer = asyncio.create_task(ours.drain())
    await asyncio.wait_for(_flush_everything(ours), timeout=5)  # type: ignore[arg-type]
    assert ours.size == 0
    await drainer


async def test_the_barrier_empties_the_buffer_then_waits_for_the_brokers() -> None:
    """The orders' records follow the outputs: every buffered message handed over, then every
    batch in aiokafka acknowledged (``flush``), before the barrier returns."""
    from types import SimpleNamespace

    from aiokafka import AIOKafkaProducer
    from faust.transport.drivers.aiokafka import Producer

    from streams.runtime.faust_tuning import _delivered

    assert callable(AIOKafkaProducer.flush)
    assert "_producer" in Producer.__annotations__ or hasattr(Producer, "_producer")
    steps: list[str] = []

    class Kafka:
        async def flush(self) -> None:
            steps.append(f"acknowledged with {buffer.size} buffered")

    buffer = SlowBuffer(2, delay=0.01)
    buffer.app = SimpleNamespace(producer=SimpleNamespace(_producer=Kafka()))
    drainer = asyncio.create_task(buffer.drain())
    await asyncio.wait_for(_delivered(buffer), timeout=5)  # type: ignore[arg-type]
    assert steps == ["acknowledged with 0 buffered"]
    await drainer


async def test_a_fetch_after_one_that_brought_records_waits_the_coalescing_delay(
    monkeypatch: Any,
) -> None:
    """Only a fetch following one with records is held back; an idle one goes at once."""
    import itertools
    import time

    from aiokafka.consumer.fetcher import Fetcher

    sent: list[float] = []
    answers = iter([True, False, False, True, True])

    async def aiokafka_fetch(self: object, assignment: object, node: int, request: object) -> bool:
        sent.append(time.monotonic())
        return next(answers)

    monkeypatch.setattr(faust_tuning, "_aiokafka_proc_fetch_request", aiokafka_fetch)
    fetcher = Fetcher.__new__(Fetcher)  # only its attributes are used
    fetcher._records = {}
    setattr(fetcher, faust_tuning._ATTR, (None, faust_tuning._Rounds(coalesce_s=0.2)))
    for _ in range(5):
        await faust_tuning._proc_fetch_request(fetcher, None, 1, None)
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert gaps[0] >= 0.2  # after records: held back
    assert gaps[1] < 0.2 and gaps[2] < 0.2  # after empty answers: at once
    assert gaps[3] >= 0.2  # after records again
    # Another fetcher (a plain client's) is never held back.
    plain = Fetcher.__new__(Fetcher)
    answers = iter([True, True])
    sent.clear()
    await faust_tuning._proc_fetch_request(plain, None, 1, None)
    await faust_tuning._proc_fetch_request(plain, None, 1, None)
    assert sent[1] - sent[0] < 0.2


async def test_a_round_that_brought_records_for_many_partitions_is_followed_at_once(
    monkeypatch: Any,
) -> None:
    """A backlog fills every round: the delay is only for live rounds of a few records."""
    import time
    from types import SimpleNamespace

    from aiokafka.consumer.fetcher import Fetcher

    sent: list[float] = []
    fetcher = Fetcher.__new__(Fetcher)
    fetcher._records = {}
    setattr(fetcher, faust_tuning._ATTR, (None, faust_tuning._Rounds(coalesce_s=0.2)))
    asked = SimpleNamespace(topics=[("in", [(p, 0, 1024) for p in range(8)])])

    def brings(partitions: int) -> Any:
        async def fetch(self: object, assignment: object, node: int, request: object) -> bool:
            sent.append(time.monotonic())
            for p in range(partitions):  # results as aiokafka keeps them, stamped on arrival
                fetcher._records[("in", p)] = SimpleNamespace(_created=time.monotonic())
            return partitions > 0

        return fetch

    monkeypatch.setattr(faust_tuning, "_aiokafka_proc_fetch_request", brings(1))  # 1 of 8
    await faust_tuning._proc_fetch_request(fetcher, None, 1, asked)
    monkeypatch.setattr(faust_tuning, "_aiokafka_proc_fetch_request", brings(6))  # 6 of 8
    await faust_tuning._proc_fetch_request(fetcher, None, 1, asked)
    await faust_tuning._proc_fetch_request(fetcher, None, 1, asked)
    assert sent[1] - sent[0] >= 0.2  # after a live round: held back
    assert sent[2] - sent[1] < 0.2  # after a backlog round: at once


async def test_the_producer_lingers_only_while_the_rounds_are_a_backlog(monkeypatch: Any) -> None:
    """Rounds that read far from their partitions' ends (a backlog) let new producer batches
    wait for more records; a live round or an empty one sets the linger back to 0 before its
    records reach the agents. A partition's fetch error among the results counts for
    nothing (it once stopped the fetch loop: test_pipeline_with_least_privilege)."""
    from types import SimpleNamespace

    from aiokafka.consumer.fetcher import Fetcher, FetchError, FetchResult
    from aiokafka.producer.message_accumulator import MessageAccumulator

    accumulator = MessageAccumulator.__new__(MessageAccumulator)
    accumulator._linger_time = 0.0
    app = SimpleNamespace(producer=SimpleNamespace(_producer=SimpleNamespace(
        _message_accumulator=accumulator
    )))  # fmt: skip
    fetcher = Fetcher.__new__(Fetcher)
    fetcher._records = {}
    setattr(fetcher, faust_tuning._ATTR, (app, faust_tuning._Rounds(backlog_linger_s=0.005)))
    states: dict[tuple[str, int], Any] = {}
    assignment = SimpleNamespace(state_value=states.get)

    async def round_reading(behind: list[int]) -> float:
        """A round that read each of len(behind) partitions that many records from its end."""

        async def fetch(self: object, assignment_: object, node: int, request: object) -> bool:
            for p, n in enumerate(behind):  # as aiokafka keeps them, stamped on arrival
                states[("in", p)] = SimpleNamespace(highwater=1000 + n)
                fetcher._records[("in", p)] = FetchResult(
                    ("in", p),
                    assignment=assignment,
                    partition_records=SimpleNamespace(next_fetch_offset=1000),
                    backoff=0.1,
                )
            # A partition whose fetch failed (refused by an ACL, say): no records to count.
            fetcher._records[("in", 99)] = FetchError(error=RuntimeError("refused"), backoff=0.1)
            return bool(behind)

        monkeypatch.setattr(faust_tuning, "_aiokafka_proc_fetch_request", fetch)
        await faust_tuning._proc_fetch_request(fetcher, None, 1, None)
        return float(accumulator._linger_time)

    half = faust_tuning.BACKLOG_RECORDS // 2
    backlog, live = [half, half + 1], [3, 1]  # just enough records behind, and 4
    lingers = [await round_reading(r) for r in (backlog, backlog, live, backlog, [])]
    assert lingers == [0.005, 0.005, 0.0, 0.005, 0.0]
    assert await round_reading([half, half - 1]) == 0.0  # one record short


def test_the_linger_hook_still_fits_aiokafka() -> None:
    import inspect

    from aiokafka.producer.message_accumulator import MessageAccumulator

    # A batch takes the accumulator's linger when it is created.
    assert "MessageBatch(tp, builder, self._batch_ttl, self._linger_time)" in inspect.getsource(
        MessageAccumulator
    )


def test_the_coalescing_hook_still_fits_faust_and_aiokafka() -> None:
    import inspect

    from aiokafka.consumer.fetcher import Fetcher
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    assert list(inspect.signature(Fetcher._proc_fetch_request).parameters) == [
        "self",
        "assignment",
        "node_id",
        "request",
    ]
    assert "_create_worker_consumer" in vars(AIOKafkaConsumerThread)
    assert "self._proc_fetch_request(" in inspect.getsource(Fetcher._fetch_requests_routine)
    assert "self._fetcher = Fetcher(" in inspect.getsource(
        __import__("aiokafka").AIOKafkaConsumer.start
    )


async def test_at_shutdown_the_waiting_table_writes_leave_after_the_last_commit(
    monkeypatch: Any,
) -> None:
    """Faust's last commit flushes only when it has offsets to commit, and the buffer's own
    flush came after the Kafka producer had stopped: the record cache's writes since the last
    commit stayed behind (RocksDB kept them, the changelog never got them). Now they leave
    right after the consumer's last commit, while this worker still owns their partitions."""
    from types import SimpleNamespace

    from faust.transport.consumer import Consumer
    from faust.transport.producer import ProducerBuffer

    from streams.runtime import faust_tuning

    steps: list[str] = []

    async def committed(self: object) -> None:
        steps.append("committed")

    async def flush() -> None:
        steps.append("flushed")

    monkeypatch.setattr(faust_tuning, "_faust_consumer_on_stop", committed)
    consumer = SimpleNamespace(app=SimpleNamespace(producer=SimpleNamespace(flush=flush)))
    await faust_tuning._commit_then_flush(consumer)  # type: ignore[arg-type]
    assert steps == ["committed", "flushed"]

    # A failed flush is logged, and the stop goes on (it is then not marked clean).
    async def failing() -> None:
        raise RuntimeError("broker gone")

    steps.clear()
    consumer.app.producer.flush = failing
    await faust_tuning._commit_then_flush(consumer)  # type: ignore[arg-type]
    assert steps == ["committed"]

    # Installed on Faust's classes, which still have what the hooks rely on.
    monkeypatch.setattr(Consumer, "on_stop", Consumer.on_stop)
    monkeypatch.setattr(ProducerBuffer, "on_stop", ProducerBuffer.on_stop)
    monkeypatch.setattr(ProducerBuffer, "flush", ProducerBuffer.flush)
    faust_tuning.flush_before_commit()
    assert Consumer.on_stop is faust_tuning._commit_then_flush
    assert ProducerBuffer.on_stop is faust_tuning._stop_buffer


async def test_the_buffer_stopping_after_the_kafka_producer_reports_what_stays_unsent(
    caplog: Any,
) -> None:
    """No "Cannot flush" traceback at every stop: with the Kafka producer gone, the buffer's
    stop counts what is left (the stop is then not clean) instead of trying to send it."""
    from types import SimpleNamespace

    from streams.runtime import faust_tuning, write_cache

    class App:
        producer = SimpleNamespace(_producer=None, buffer=SimpleNamespace(size=0))

    app = App()
    buffer = SimpleNamespace(app=app, size=0)
    await faust_tuning._stop_buffer(buffer)  # type: ignore[arg-type]
    assert faust_tuning.pending_writes(app) == 0  # type: ignore[arg-type]
    assert "not sent at shutdown" not in caplog.text

    app.producer.buffer.size = 2  # two messages Faust's buffer still holds
    await faust_tuning._stop_buffer(buffer)  # type: ignore[arg-type]
    assert faust_tuning.pending_writes(app) == 2  # type: ignore[arg-type]
    assert write_cache.unflushed(app) == 0  # type: ignore[arg-type]
    assert "2 table writes and messages not sent at shutdown" in caplog.text
