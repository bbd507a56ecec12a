"""Table changelogs stop being fetched once recovery has read them.

Faust "pauses" the changelog partitions after recovery only in its own bookkeeping; its
aiokafka client goes on fetching them. Every table write then came back to the worker in a
fetch result nobody consumes, and aiokafka's fetcher sends no new fetch to a broker while any
of its partitions holds an unconsumed result younger than the prefetch backoff (100 ms). So
the first write to each changelog partition after an assignment stalled every stage of the
worker for 100 ms: traced on a fresh worker at 120 events/s, the consumer fetched once every
~103 ms for its first second of inputs (p99 ~330 ms there, against ~50 ms after), and again
whenever a table partition was first written (the first record-cache flush).

Here the changelog partitions are paused at the client once a generation's recovery is
complete. Each rebalance gives the client a new assignment, unpaused, so the next recovery
reads them as before; a pause that would land on another generation's assignment is skipped.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from faust import App
from faust.tables.recovery import Recovery
from faust.types import TP

log = logging.getLogger(__name__)

#: The apps this is installed on (Faust's class is patched once per process).
_APPS: weakref.WeakSet[App] = weakref.WeakSet()


def install(app: App) -> None:
    _APPS.add(app)
    _patch_faust()


@functools.cache
def _patch_faust() -> None:
    original = Recovery.on_recovery_completed

    async def on_recovery_completed(self: Recovery, generation_id: int = 0) -> None:
        app = self.app
        if app in _APPS and app.consumer_generation_id == generation_id:
            try:
                # Standby partitions (none by default) are read on: they follow the others.
                actives = self.active_tps - self.standby_tps
                paused = await pause_changelogs(app, actives, generation_id)
                log.info("recovery done: %d changelog partitions no longer fetched", paused)
            except Exception:  # they are fetched and never consumed, as without this
                log.warning("pausing the changelog partitions failed", exc_info=True)
        await original(self, generation_id)

    Recovery.on_recovery_completed = on_recovery_completed  # type: ignore[method-assign]


async def pause_changelogs(app: App, tps: Iterable[TP], generation: int) -> int:
    """Pause the changelog partitions ``tps`` at the client; how many it paused."""
    parts = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    if not parts:
        return 0
    thread = app.consumer._thread  # type: ignore[attr-defined]
    client = thread._ensure_consumer()
    paused: int = await thread.call_thread(_pause_in_generation, client, parts, generation)
    return paused


def _pause_in_generation(client: Any, tps: list[TopicPartition], generation: int) -> int:
    """In the client's thread: pause ``tps`` if the client is still in ``generation``.

    Checked there, between two steps of its coordinator: a newer join would have given it
    another assignment, whose recovery must read these partitions.
    """
    subscription = client._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    if client._coordinator.generation != generation or assignment is None:
        return 0
    owned = [tp for tp in tps if tp in assignment.tps]
    for tp in owned:
        client._subscription.pause(tp)
    return len(owned)
