"""How long a ready callback waits for the event loop: the worker's own queueing delay.

Every agent, the producer's sender and the web views share one event loop, so a busy loop
delays every output in flight by the same amount (docs/performance.md: at live rates the tail
latency is the loop's queueing, not any one agent). A task sleeps a fixed interval and records
how much later than asked it woke up; the histogram's upper quantiles say how saturated the
worker is, beside ``ordertriage_gc_full_pause_seconds`` (one cause of a long wait).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from faust import App
from prometheus_client import Histogram

#: Seconds between samples: often enough to see a burst, cheap at ~10 wake-ups per second.
INTERVAL = 0.1


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


async def watch(histogram: Observer, interval: float = INTERVAL) -> None:
    """Record each wake-up's delay past ``interval`` until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        asked = loop.time() + interval
        await asyncio.sleep(interval)
        histogram.observe(max(0.0, loop.time() - asked))


def install(app: App, histogram: Histogram) -> None:
    @app.task
    async def event_loop_lag() -> None:
        await watch(histogram)
