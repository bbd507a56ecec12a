"""The Faust tweaks rely on private details of Faust and aiokafka: fail loudly if those move."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams import faust_tuning


async def test_fetch_wait_reaches_the_fetcher_aiokafka_builds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    monkeypatch.setattr(faust_tuning, "_original", lambda self, transport: made)
    monkeypatch.setattr(
        faust_aiokafka.AIOKafkaConsumerThread,
        "_create_worker_consumer",
        faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer,
    )
    faust_tuning.limit_fetch_wait(7)
    consumer = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer(None, None)  # type: ignore[arg-type]
    assert consumer is made
    assert made._fetch_max_wait_ms == 7  # the attribute start() hands to its Fetcher


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
