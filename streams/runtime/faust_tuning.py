"""Faust behaviour that costs the worker CPU and that Faust has no setting for (``make bench``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher, FetchResult
from faust import App
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.worker import Worker as FaustWorker

from streams.runtime.write_cache import flush as flush_table_writes
from streams.runtime.write_cache import kafka_producer, unflushed


def no_startup_spinner() -> None:
    """Start Faust's worker without its terminal spinner, so the root log level stays as asked.

    At log levels >= warning the worker adds a handler that spins a start-up spinner on every
    log record and sets the root logger to DEBUG for it, so every ``log.debug`` in Faust and
    aiokafka built a record nobody printed: two per changelog record in Faust's recovery loop
    (profiled: ~11% of a worker recovering 100k orders; ~5% of its CPU under load, before an
    app task reset the level after start-up). The spinner only draws on a terminal.
    """
    FaustWorker.on_setup_root_logger = _without_spinner  # type: ignore[method-assign]


def _without_spinner(self: FaustWorker, logger: logging.Logger, level: int) -> None:
    self.spinner = None


async def _flush_everything(self: ProducerBuffer) -> None:
    """Wait until every buffered message has been handed to the Kafka producer.

    Faust's ``ProducerBuffer.flush`` returns as soon as 0.1 s pass without a message leaving
    the buffer. The consumer calls it right before committing offsets, so under load an
    offset was committed while its table writes (changelog records) were still buffered, and
    a kill -9 then lost those state changes (found by the verifier, ``make faults``). Here the
    flush returns only when the buffer is empty; if the producer stops it raises, so the
    commit does not happen. The coalesced tables' waiting changelog writes are sent first
    (``streams.runtime.write_cache``): they belong to offsets this commit covers.
    """
    await flush_table_writes(self.app, barrier=lambda: _delivered(self))
    await _handed_over(self)


async def _handed_over(buffer: ProducerBuffer) -> None:
    """Until ``buffer`` is empty: every message in it handed to the Kafka producer."""
    while buffer.size:
        if buffer.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        buffer.message_sent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(buffer.message_sent.wait(), timeout=1.0)


async def _delivered(buffer: ProducerBuffer) -> None:
    """Until everything sent so far is acknowledged by the brokers (the write cache's barrier:
    the order book's state follows the outputs it implies)."""
    await _handed_over(buffer)
    await kafka_producer(buffer.app).flush()


log = logging.getLogger(__name__)

#: How long a stopping worker waits for its last table writes to be acknowledged (below the
#: StatefulSet's 60 s grace period); past it the stop is not marked clean.
LAST_FLUSH_TIMEOUT_S = 30.0

_faust_consumer_on_stop = FaustConsumer.on_stop
_faust_buffer_on_stop = ProducerBuffer.on_stop


async def _commit_then_flush(self: FaustConsumer) -> None:
    """At shutdown, after the consumer's last commit, send the coalesced tables' waiting writes
    while this worker still owns their partitions.

    Faust's last commit flushes only when it has offsets to commit, so the writes of events
    processed since then (not committed: they will be read again) stayed in the record cache,
    and the buffer's own flush at the producer's stop came after the Kafka producer had gone
    ("Cannot flush: no Kafka producer" at every stop). The memory store loses them harmlessly;
    a RocksDB table kept them on disk without their changelog records, and a clean start keeps
    those tables. Sending them here is what a write between two commits does; sending them any
    later, once the consumer has left the group, would let a record of a partition's former
    owner land after its new owner's (the ``rebalance`` fault scenario lost three status changes
    that way). The agents have stopped by now; what is still unsent when the worker exits
    (a failed or timed-out flush, a timer's write) keeps the stop from being marked clean
    (:func:`pending_writes`).
    """
    await _faust_consumer_on_stop(self)
    try:
        await asyncio.wait_for(self.app.producer.flush(), LAST_FLUSH_TIMEOUT_S)
    except Exception:
        log.exception("the last table writes did not reach their changelogs")


async def _stop_buffer(self: ProducerBuffer) -> None:
    """The producer buffer's stop, which Faust runs after the Kafka producer's: flush only if a
    producer is left; otherwise say what stays unsent (read again by the next owner) once."""
    if getattr(self.app.producer, "_producer", None) is not None:
        await _faust_buffer_on_stop(self)
    elif waiting := pending_writes(self.app):
        log.warning(
            "%d table writes and messages not sent at shutdown: their inputs are not committed,"
            " and the local tables are rebuilt at the next start",
            waiting,
        )


def pending_writes(app: App) -> int:
    """Table writes (coalesced) and messages (Faust's buffer) not yet handed to Kafka."""
    buffer = getattr(app.producer, "buffer", None)
    return unflushed(app) + (buffer.size if buffer is not None else 0)


def flush_before_commit() -> None:
    """Make the commit path's flush complete (see ``_flush_everything``), and the last one
    happen while the stopping worker still owns its partitions (``_commit_then_flush``)."""
    ProducerBuffer.flush = _flush_everything  # type: ignore[method-assign]
    FaustConsumer.on_stop = _commit_then_flush  # type: ignore[method-assign]
    ProducerBuffer.on_stop = _stop_buffer  # type: ignore[method-assign]


@dataclass
class _Rounds:
    """What a worker consumer's fetcher does around each fetch round (one per app)."""

    #: Seconds the next fetch waits after a live round that brought records.
    coalesce_s: float = 0.0
    #: Seconds the producer's new batches wait for more records while the rounds are full.
    backlog_linger_s: float = 0.0
    #: The producer whose linger follows the rounds (set on the first round).
    accumulator: Any = None

    def after(self, app: App, backlog: bool) -> None:
        """Called in the consumer's thread after every round (an empty one is not a backlog)."""
        if self.accumulator is None:
            producer = getattr(app.producer, "_producer", None)
            self.accumulator = getattr(producer, "_message_accumulator", None)
            if self.accumulator is None:
                return
        # Read when a batch is created; a plain attribute, so the event loop sees either value.
        self.accumulator._linger_time = self.backlog_linger_s if backlog else 0.0


_ROUNDS: weakref.WeakKeyDictionary[App, _Rounds] = weakref.WeakKeyDictionary()
_ATTR = "_ordertriage_rounds"


def _create_worker_consumer(self: Any, transport: Any) -> AIOKafkaConsumer:
    consumer: AIOKafkaConsumer = _faust_create_worker_consumer(self, transport)
    rounds = _ROUNDS.get(self.app)
    if rounds is not None:
        start, app = consumer.start, self.app

        async def start_then_tune() -> None:
            await start()
            setattr(consumer._fetcher, _ATTR, (app, rounds))

        consumer.start = start_then_tune  # type: ignore[method-assign]
    return consumer


async def _proc_fetch_request(self: Fetcher, assignment: Any, node_id: int, request: Any) -> bool:
    tuned: tuple[App, _Rounds] | None = getattr(self, _ATTR, None)
    if tuned is None:
        return bool(await _aiokafka_proc_fetch_request(self, assignment, node_id, request))
    app, rounds = tuned
    last: dict[int, float] = self.__dict__.setdefault("_ordertriage_last_data", {})
    if (wait := last.get(node_id, 0.0) + rounds.coalesce_s - time.monotonic()) > 0:
        await asyncio.sleep(wait)
    started = time.monotonic()
    got: bool = await _aiokafka_proc_fetch_request(self, assignment, node_id, request)
    if rounds.coalesce_s > 0 and got and not _backlog_round(self, request, started):
        last[node_id] = time.monotonic()
    else:
        last.pop(node_id, None)
    if rounds.backlog_linger_s > 0:
        rounds.after(app, got and _records_behind(self, started) >= BACKLOG_RECORDS)
    return got


def _backlog_round(fetcher: Fetcher, request: Any, started: float) -> bool:
    """Records came back for at least a quarter of the partitions asked: a backlog, where
    every round is full anyway and waiting would only slow the drain; live, a round brings
    records for one or two of the ~100 partitions a worker asks for."""
    asked = sum(len(partitions) for _, partitions in getattr(request, "topics", ()))
    results = getattr(fetcher, "_records", {}).values()
    fresh = sum(1 for result in results if getattr(result, "_created", 0.0) >= started)
    return asked > 0 and fresh * 4 >= asked


#: Records behind, summed over a round's partitions, from which the producer lingers: live,
#: a round reads a few records at the ends of their partitions; a backlog's, thousands.
BACKLOG_RECORDS = 1000


def _records_behind(fetcher: Fetcher, started: float) -> int:
    """How far the round's partitions were from their ends where it read them (records)."""
    behind = 0
    for result in getattr(fetcher, "_records", {}).values():
        # A partition's fetch error (``FetchError``: no records, raised to the consumer) too.
        if not isinstance(result, FetchResult) or result._created < started:
            continue
        state = result._assignment.state_value(result._topic_partition)
        if state is not None and state.highwater is not None:
            behind += state.highwater - result._partition_records.next_fetch_offset
    return behind


_faust_create_worker_consumer = AIOKafkaConsumerThread._create_worker_consumer
_aiokafka_proc_fetch_request = Fetcher._proc_fetch_request


def tune_fetch_rounds(app: App, *, coalesce_s: float = 0.0, backlog_linger_s: float = 0.0) -> None:
    """Coalesce live fetch rounds, and let the producer batch while the rounds are a backlog.

    ``coalesce_s``: after a fetch that brought records, send the next one ``coalesce_s`` later,
    not at once. At live rates the broker answers a worker's fetch as soon as one record
    arrives on any of the ~150 partitions it reads, and every round encodes, decodes and walks
    all of them (in the consumer thread, which shares the GIL with the agents) to deliver one
    or two records. Waiting a few milliseconds after a round that brought data lets one round
    carry what several would; an idle worker's fetch still waits at the broker as before, and
    a hop waits at most ``coalesce_s`` longer, only while records keep coming; a round that
    brought records for many of its partitions (a backlog) is followed at once.

    ``backlog_linger_s``: while the fetch rounds read far from their partitions' ends (at least
    ``BACKLOG_RECORDS`` behind: a backlog), new producer batches wait this long for more
    records (Faust's ``producer_linger``, but only then): the sender otherwise sends a produce
    request whenever the last one is answered, ~4 records each, and encodes, sends and settles
    each request on the event loop. Live rounds set it back to 0, so a notification's hops do
    not wait (docs/performance.md).
    """
    if coalesce_s <= 0 and backlog_linger_s <= 0:
        return
    _ROUNDS[app] = _Rounds(coalesce_s, backlog_linger_s)
    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
    Fetcher._proc_fetch_request = _proc_fetch_request  # type: ignore[method-assign]
