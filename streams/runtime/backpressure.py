"""Backpressure between stages: inputs wait while this worker's internal topics pile up.

One worker runs every stage (created -> by customer -> enriched -> order book -> classified
-> insight), each stage reading the previous one's output back from Kafka. Faust fetches
every assigned partition with the same byte budget and has no notion of stages, so under a
backlog the inputs (small records, nothing upstream of them) race ahead and the later stages
get a fraction of the fetches: measured on a 1M-event backlog, 567k input records had been
read when the order book had taken 80k orders and the insight agent 57k classified records;
status changes waited in the parking table for orders still queued upstream, and ``/stats``
trailed the orders by many minutes.

The valve stops taking input records while the internal topics hold more than
``ORDERTRIAGE_BACKPRESSURE_RECORDS`` records this worker has not read yet, and takes them
again at half that (hysteresis, so it does not flap). A backlog then flows through every
stage together, and few status changes wait for their orders. Nothing is lost or reordered:
a held partition is simply not read (the client drops what it prefetched and fetches from
its position again on resume), and Faust's own pauses (recovery, rebalances) are left alone.
The insight agent's topics are in the stall check (``streams.web.orders``): were it stuck, the
inputs would be held for good, and liveness must fail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition
from faust import App
from faust.types import TP

log = logging.getLogger("ordertriage.backpressure")


@dataclass
class Valve:
    """Hold the inputs above ``limit`` waiting internal records; release at ``limit // 2``."""

    limit: int
    holding: bool = False

    def update(self, waiting: int) -> bool:
        """Whether the inputs are to be held now that ``waiting`` records wait downstream."""
        if self.limit <= 0:
            self.holding = False
        elif self.holding:
            self.holding = waiting > self.limit // 2
        else:
            self.holding = waiting > self.limit
        return self.holding


def waiting(
    highwater: Mapping[Hashable, int | None], position: Mapping[Hashable, int | None]
) -> int:
    """Records between each partition's position (the next offset to read) and its end.

    A partition with no known position (nothing read or committed yet) counts as none: its
    first fetch gives it one within a tick.
    """
    total = 0
    for tp, high in highwater.items():
        at = position.get(tp)
        if high is not None and at is not None:
            total += max(0, high - at)
    return total


def owned(assignment: Iterable[TP], topics: set[str]) -> list[TP]:
    """The partitions of ``topics`` in ``assignment``."""
    return [tp for tp in assignment if tp.topic in topics]


class Backpressure:
    """The valve wired to the Kafka consumer: hold or release the input partitions each tick.

    Held at the Kafka client (aiokafka's pause), not in Faust's set of active partitions:
    Faust drops the rest of a fetched batch for a partition it stops serving, after the
    client's position has moved past it (``streams.runtime.continuity`` then has to seek back). A
    paused client returns nothing more for the partition and fetches from its position again
    on resume, so no offset is skipped.
    """

    def __init__(
        self,
        app: App,
        valve: Valve,
        inputs: set[str],
        internal: set[str],
        position: Callable[[TP], int | None],
    ) -> None:
        """``position``: the next offset the stream reads from a partition (``Continuity``
        knows it from the first seek on, also for partitions starved of fetches)."""
        self.app, self.valve, self.inputs, self.internal = app, valve, inputs, internal
        self.position = position
        self.held: set[TP] = set()
        self.waiting = 0

    async def tick(self) -> None:
        app = self.app
        if app.rebalancing or app.in_recovery:
            # A new assignment starts unpaused; decide again once the streams run.
            self.held.clear()
            return
        assignment = app.consumer.assignment()
        internal = owned(assignment, self.internal)
        # The broker's end offsets, not the consumer's: a starved partition is not fetched,
        # so the high-water mark the consumer last saw for it is stale exactly when it matters.
        try:
            ends = await _client(app, "end_offsets", internal, spread=False) if internal else {}
        except Exception as exc:  # the broker is away: no input would be fetched either
            log.debug("backpressure: no end offsets (%r); deciding next tick", exc)
            return
        self.waiting = waiting(
            {tp: ends.get(tp) for tp in internal},
            {tp: self.position(tp) for tp in internal},
        )
        if self.valve.update(self.waiting):
            # Every tick: idempotent, and a rebalance in between may have unpaused them.
            if not self.held:
                log.info("holding inputs: %d internal records waiting", self.waiting)
            self.held = set(owned(assignment, self.inputs))
            await _client(app, "pause", self.held)
        elif self.held:
            log.info("reading inputs again: %d internal records waiting", self.waiting)
            await _client(app, "resume", self.held & set(assignment))
            self.held.clear()


async def _client(app: App, method: str, tps: Iterable[TP], *, spread: bool = True) -> Any:
    """``method`` of Faust's aiokafka consumer, run in the thread that owns it."""
    parts = [TopicPartition(tp.topic, tp.partition) for tp in tps]
    if not parts:
        return None
    thread = app.consumer._thread  # type: ignore[attr-defined]
    call = getattr(thread._ensure_consumer(), method)
    return await (thread.call_thread(call, *parts) if spread else thread.call_thread(call, parts))
