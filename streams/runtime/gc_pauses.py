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
from collections import deque
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
    """Times every full collection (``gc.callbacks``) for a histogram.

    The callback runs inside the collector, in whichever thread allocated, so it only appends
    to a deque (no lock: a lock held by the interrupted code would deadlock it); ``drain``
    moves the durations into the histogram from the event loop. The latest installed clock
    records, so tests that build many apps do not stack callbacks.
    """

    current: PauseClock | None = None

    def __init__(self, seconds: Histogram) -> None:
        self.seconds = seconds
        self.started: float | None = None
        self.pending: deque[float] = deque(maxlen=10_000)

    @staticmethod
    def callback(phase: str, info: dict[str, Any]) -> None:
        clock = PauseClock.current
        if clock is None or info.get("generation") != 2:
            return
        if phase == "start":
            clock.started = time.perf_counter()
        elif clock.started is not None:
            clock.pending.append(time.perf_counter() - clock.started)
            clock.started = None

    def drain(self) -> None:
        while self.pending:
            self.seconds.observe(self.pending.popleft())

    @classmethod
    def install(cls, seconds: Histogram) -> PauseClock:
        cls.current = cls(seconds)
        if cls.callback not in gc.callbacks:
            gc.callbacks.append(cls.callback)
        return cls.current


def install(app: App, pause_seconds: Histogram, *, freeze: bool) -> PauseClock:
    """Time full collections into ``pause_seconds``; with ``freeze``, first freeze what the
    process holds now (modules, models, the app: built once, never garbage). Every
    ``CHECK_EVERY`` seconds, on ``app``'s loop: the pauses recorded go to the histogram and,
    with ``freeze``, the survivors of a full collection that ran since are frozen (not from
    the callback: it runs inside the collector, in any thread)."""
    clock = PauseClock.install(pause_seconds)
    freezer = FreezeAfterFullCollections() if freeze else None
    if freezer is not None:
        freezer.freeze()

    @app.timer(interval=CHECK_EVERY)
    async def after_full_collections() -> None:
        clock.drain()
        if freezer is not None:
            freezer.check()

    return clock
