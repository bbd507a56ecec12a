"""Faust consumer knobs that Faust does not expose, set where Faust builds its aiokafka consumer.

Faust creates its consumer with ``fetch_max_wait_ms=1500`` fixed. aiokafka keeps one fetch in
flight per broker, and a partition drained while that fetch waits is only fetched again when it
returns: so each hop through an internal topic (ordertriage has two before the order agent)
waited up to 1.5 s (measured with ``make bench``: p50 2.2 s end to end at half the maximum
rate). A shorter wait costs a few empty fetch round trips per second when idle.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

_original = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer


def limit_fetch_wait(max_wait_ms: int) -> None:
    """Make every worker consumer Faust creates from now on wait at most ``max_wait_ms``."""

    def create(self: Any, transport: Any) -> Any:
        consumer = _original(self, transport)
        # Read by AIOKafkaConsumer.start() when it builds its fetcher (aiokafka 0.10-0.14).
        assert hasattr(consumer, "_fetch_max_wait_ms")
        consumer._fetch_max_wait_ms = max_wait_ms
        return consumer

    faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = create  # type: ignore[method-assign]
