"""Background re-evaluation of open orders after a rule switch or on the review schedule.

Runs on the order agent's ticks, one partition at a time and at most
``reclassify_batch_size`` orders per tick, so live events of the partition wait for one
small batch at most. The queue is in memory: after a crash or rebalance it is rebuilt from
the table (orders still on an older version), and re-evaluation is idempotent, so nothing
is missed and nothing is sent twice with different ids.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from schemas.events import ClassifiedOrder, Status
from streams.agents.open_orders import FINISHED
from streams.agents.timers import Timers
from streams.app import Worker
from streams.classify import sla
from streams.classify.engine import reclassify
from streams.classify.notify import newly_fired
from streams.records import Tick

log = logging.getLogger("ordertriage.reclassify")

Send = Callable[[ClassifiedOrder, list[str], Status | None], Awaitable[None]]


@dataclass
class Sweep:
    version: str
    review: float | None
    queue: deque[str] = field(default_factory=deque)
    changed: int = 0


class Reclassify:
    def __init__(self, w: Worker, timers: Timers) -> None:
        self.w = w
        self.timers = timers
        #: partition -> the sweep running (or last finished) there, on this worker.
        self.sweeps: dict[int, Sweep] = {}
        #: partition -> a scheduled review that came while the orders were being scanned.
        self.waiting: dict[int, float] = {}

    def _start(self, partition: int, review: float | None) -> Sweep | None:
        """A sweep of the partition's open orders; None while they are still being scanned."""
        version = self.w.rulebook.current.version
        digests = self.timers.orders.of_partition(partition)
        if digests is None:
            return None
        queue = deque(
            order_id
            for order_id, d in digests
            if d.sweepable and (review is not None or d.rules_version != version)
        )
        sweep = Sweep(version, review, queue)
        old = self.sweeps.get(partition)
        self.w.metrics.reclassify_pending.inc(len(queue) - (len(old.queue) if old else 0))
        self.sweeps[partition] = sweep
        if queue:
            why = "scheduled review" if review is not None else f"rules now {version}"
            log.info(
                "Re-evaluating %d open orders of partition %d (%s)", len(queue), partition, why
            )
        return sweep

    async def sweep(self, partition: int, tick: Tick, send: Send) -> None:
        """Re-evaluate the next batch of ``partition``'s open orders, starting a sweep if due."""
        metrics, orders = self.w.metrics, self.w.tables.orders
        current = self.sweeps.get(partition)
        review = tick.review if tick.review is not None else self.waiting.get(partition)
        if review is not None and (current is None or current.review != review):
            started = self._start(partition, review)
            if started is None:  # the orders are still being scanned: review once they are
                self.waiting[partition] = review
                return
            self.waiting.pop(partition, None)
            current = started
        elif current is None or current.version != self.w.rulebook.current.version:
            started = self._start(partition, None)
            if started is None:
                return
            current = started
        rules = self.w.rulebook.current
        now = datetime.fromtimestamp(tick.now, UTC)  # the tick's time: one as-of per batch
        had_work = bool(current.queue)
        for _ in range(min(self.w.settings.reclassify_batch_size, len(current.queue))):
            order_id = current.queue.popleft()
            metrics.reclassify_pending.dec()
            state = orders.get(order_id)
            if state is None or state.facts is None:
                continue
            before = state.classification
            if before.status_category in FINISHED:
                continue
            review_at = datetime.fromtimestamp(current.review, UTC) if current.review else None
            outcome = reclassify(before, state.facts, rules, now=now, review_at=review_at)
            if outcome is None:
                metrics.reclassified.labels(outcome="unchanged").inc()
                continue
            after = outcome.classification
            fired = newly_fired(before, after)
            since = state.status_since or after.occurred_at
            clocks = sla.start(rules.slas, after.status, since, outcome.facts, state.clocks)
            state = state.model_copy(
                update={"classification": after, "notified": fired, "clocks": clocks}
            )
            orders[order_id] = state
            self.timers.schedule(partition, order_id, state)
            await send(after, fired, None)
            metrics.reclassified.labels(outcome="changed").inc()
            current.changed += 1
        if had_work and not current.queue:
            log.info(
                "Partition %d re-evaluated under %s: %d orders changed",
                partition,
                current.version,
                current.changed,
            )
