"""The Faust tweaks rely on private details of Faust and aiokafka: fail loudly if those move."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from streams.runtime import faust_tuning


def test_root_log_level_is_raised_back_once_the_app_runs() -> None:
    tasks: list[Callable[[], Coroutine[Any, Any, None]]] = []

    class FakeApp:
        def task(self, fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
            tasks.append(fn)

    root = logging.getLogger()
    saved = root.level
    try:
        root.setLevel(logging.DEBUG)  # what Faust's spinner leaves behind
        faust_tuning.keep_root_log_level(FakeApp(), "warning")  # type: ignore[arg-type]
        asyncio.run(tasks[0]())
        assert root.level == logging.WARNING
        faust_tuning.keep_root_log_level(FakeApp(), "debug")  # type: ignore[arg-type]
        asyncio.run(tasks[1]())
        assert root.level == logging.WARNING  # never lowered
    finally:
        root.setLevel(saved)


async def test_flush_before_commit_waits_for_a_slow_buffer_to_empty() -> None:
    """Faust's own flush gives up after 0.1 s without progress; ours returns only when empty."""
    import asyncio

    from faust.transport.producer import ProducerBuffer

    from streams.runtime.faust_tuning import _flush_everything

    class SlowBuffer:
        state = "running"
        app = None  # ProducerBuffer's own default: a buffer without coalesced tables

        def __init__(self, n: int) -> None:
            self.left = n
            self.message_sent = asyncio.Event()

        @property
        def size(self) -> int:
            return self.left

        async def drain(self) -> None:
            while self.left:
                await asyncio.sleep(0.25)  # slower than Faust's 0.1 s patience
                self.left -= 1
                self.message_sent.set()

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
    setattr(fetcher, faust_tuning._ATTR, 0.2)
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
