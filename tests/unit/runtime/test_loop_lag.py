"""streams.runtime.loop_lag: a blocked event loop shows as a late wake-up."""

from __future__ import annotations

import asyncio
import time

from streams.runtime.loop_lag import watch


class Samples:
    """Records what the watcher observes; ``grown`` is set once ``want`` samples are in."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self.want = 0
        self.grown = asyncio.Event()

    def observe(self, amount: float) -> None:
        self.values.append(amount)
        if len(self.values) >= self.want:
            self.grown.set()

    async def until(self, count: int) -> None:
        self.want = count
        if len(self.values) < count:
            self.grown.clear()
            await asyncio.wait_for(self.grown.wait(), timeout=5)


async def test_a_callback_that_holds_the_loop_is_measured_as_lag() -> None:
    samples = Samples()
    task = asyncio.create_task(watch(samples, interval=0.02))
    try:
        await samples.until(3)  # a few samples of an idle loop
        idle = len(samples.values)
        assert max(samples.values) < 0.2
        time.sleep(0.3)  # noqa: ASYNC251 - the point: a callback that blocks the loop
        await samples.until(idle + 1)
    finally:
        task.cancel()
    assert samples.values[idle] >= 0.25  # the blocked 0.3 s, less the interval it overlapped
