"""The Faust tweaks rely on private details of Faust and aiokafka: fail loudly if those move."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from streams import faust_tuning


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
