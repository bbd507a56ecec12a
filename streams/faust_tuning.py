"""Faust behaviour that costs latency or CPU and that Faust has no setting for (``make bench``)."""

from __future__ import annotations

import logging
from typing import Any

from faust import App
from faust.transport.drivers import aiokafka as faust_aiokafka

_original = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def limit_fetch_wait(max_wait_ms: int) -> None:
    """Make every worker consumer Faust creates from now on wait at most ``max_wait_ms``.

    Faust fixes ``fetch_max_wait_ms=1500``. aiokafka keeps one fetch in flight per broker, and a
    partition drained while that fetch waits is fetched again only when it returns: each hop
    through an internal topic (two before the order agent) waited up to 1.5 s (measured: p50
    2.2 s end to end at half the maximum rate). A short wait costs a few empty fetches per
    second when idle.
    """

    def create(self: Any, transport: Any) -> Any:
        consumer = _original(self, transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher (aiokafka 0.10-0.14).
        assert hasattr(consumer, "_fetch_max_wait_ms")
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]


def keep_root_log_level(app: App, level: str) -> None:
    """Undo the DEBUG root level Faust's worker leaves behind at log levels >= warning.

    For its start-up spinner the worker sets the root logger to DEBUG (the console handler
    still filters), and never resets it: every ``log.debug`` in Faust and aiokafka then builds
    a record nobody prints (profiled: ~5% of the worker's CPU under load).
    """
    wanted = logging.getLevelName(level.upper())

    @app.task
    async def reset_root_log_level() -> None:
        root = logging.getLogger()
        if root.level < wanted:
            root.setLevel(wanted)
