"""Keep CPython's full garbage collections short while the tables grow in memory.

A full collection (generation 2) walks every container object the process holds, and with
the memory store the tables are most of them: measured at 120 input events/s from empty
state, the full collections paused the event loop 66, 87, 123, 143, 166 and 178 ms as the
heap grew from 100k to 230k objects, and each pause showed in the latency trace as a spike of
every output in flight (all agents share the loop). A pause grows with the heap: with a
million orders in memory it would be seconds.

After each full collection, the objects that survived it are moved to the permanent
generation (``gc.freeze``), so the next full collection walks only what was allocated since.
What it costs: a reference cycle that was alive at a freeze and dies later is never
collected (acyclic objects, the tables' values among them, are still freed by their reference
counts the moment they die). ``ORDERTRIAGE_GC_FREEZE=false`` turns it off.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from faust import App
from prometheus_client import Histogram

#: How often the timer looks for a finished full collection (seconds).
CHECK_EVERY = 1.0


def full_collections() -> int:
    """How many generation-2 collections have run in this process."""
    return int(gc.get_stats()[2]["collections"])


class FreezeAfterFullCollections:
    """Freeze the survivors once per full collection that ran since the last check."""

    def __init__(self) -> None:
        self.seen = full_collections()
        self.freezes = 0

    def freeze(self) -> None:
        gc.freeze()
        self.freezes += 1

    def check(self) -> bool:
        """Freeze if a full collection has run since the last call; whether it froze."""
        now = full_collections()
        if now == self.seen:
            return False
        self.seen = now
        self.freeze()
        return True


class PauseClock:
    """Times every full collection into a histogram (``gc.callbacks``; the latest installed
    clock observes, so tests that build many apps do not stack callbacks)."""

    current: PauseClock | None = None

    def __init__(self, seconds: Histogram) -> None:
        self.seconds = seconds
        self.started: float | None = None

    @staticmethod
    def callback(phase: str, info: dict[str, Any]) -> None:
        clock = PauseClock.current
        if clock is None or info.get("generation") != 2:
            return
        if phase == "start":
            clock.started = time.perf_counter()
        elif clock.started is not None:
            clock.seconds.observe(time.perf_counter() - clock.started)
            clock.started = None

    @classmethod
    def install(cls, seconds: Histogram) -> PauseClock:
        cls.current = cls(seconds)
        if cls.callback not in gc.callbacks:
            gc.callbacks.append(cls.callback)
        return cls.current


def install(app: App) -> FreezeAfterFullCollections:
    """Freeze what the process holds now (modules, models, the app: built once, never
    garbage), then check for finished full collections every ``CHECK_EVERY`` seconds on
    ``app``'s loop (not from a ``gc.callbacks`` hook: that runs inside the collector, in any
    thread)."""
    freezer = FreezeAfterFullCollections()
    freezer.freeze()

    @app.timer(interval=CHECK_EVERY)
    async def freeze_after_full_collections() -> None:
        freezer.check()

    return freezer
