"""What the timers, the re-classification sweeps and the open-order gauges need of each order,
kept in memory beside the orders table and updated by every write to it.

They used to scan the whole table: the timers and the sweep once per partition after every
assignment, the gauges every 15 s. With RocksDB every value scanned is decoded (a pydantic
parse of ~2 KB), so with many orders in state a restarted worker answered ``/readyz`` in
seconds and then spent minutes in scans before it classified anything, and went back to
them every 15 s (a scan also held every decoded order in a list: ~10 KiB each). Now the
first tick after an assignment starts one scan for every partition, and each write of an
order updates its digest (``OrderState`` is frozen: a digest of the
value written stays true until the next write).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faust.stores.memory import Store as MemoryStore
from faust.types import TableT

from schemas.events import StatusCategory
from streams.records import OrderState

log = logging.getLogger("ordertriage.open_orders")

FINISHED = (StatusCategory.COMPLETED, StatusCategory.CLOSED)
#: Orders digested between two yields to the event loop while a RocksDB table is scanned.
SCAN_BATCH = 500


@dataclass(frozen=True, slots=True)
class Digest:
    partition: int | None
    #: Kept facts and not completed or closed: a rule switch or a review re-evaluates it.
    sweepable: bool
    rules_version: str
    #: When the timers need it next (an SLA step, or its removal after finishing).
    wakeup: float | None
    #: Open for the gauges (not finished, not completed or closed).
    open: bool
    status: str
    status_since: float | None
    #: The earliest SLA deadline of its running clocks: overdue from then on.
    overdue_at: float | None


class OpenOrders:
    def __init__(self, table: TableT, wakeup: Callable[[OrderState], float | None]) -> None:
        self.table = table
        self.wakeup = wakeup
        #: order id -> digest of every order this worker holds; None until a scan completes.
        self.digests: dict[str, Digest] | None = None
        #: A scan in progress: what it found so far, and the keys written since it began.
        self._scan: tuple[dict[str, Digest], set[str]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._generation = 0
        #: Scans of the whole table since start (one per assignment).
        self.scans = 0
        set_key, del_key = table.on_key_set, table.on_key_del

        def on_key_set(key: Any, value: Any) -> None:
            set_key(key, value)
            if self.digests is not None or self._scan is not None:
                self._written(key, self.digest(value))

        def on_key_del(key: Any) -> None:
            del_key(key)
            self._written(key, None)

        table.on_key_set = on_key_set  # type: ignore[method-assign]
        table.on_key_del = on_key_del  # type: ignore[method-assign]

    def _written(self, key: str, digest: Digest | None) -> None:
        for digests, touched in ((self.digests, None), self._scan or (None, None)):
            if digests is None:
                continue
            if touched is not None:
                touched.add(key)  # newer than what the scan may still read of it
            if digest is None:
                digests.pop(key, None)
            else:
                digests[key] = digest

    def reset(self) -> None:
        """Partitions moved: scan the table again when next asked."""
        self._generation += 1
        self.digests, self._scan = None, None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def ready(self) -> dict[str, Digest] | None:
        """Every order's digest, or None while the scan after an assignment runs.

        Called from the order agent's stream (a tick), which Faust runs only once the table
        is recovered. With the memory store the scan is a walk over the values (no decoding)
        and runs at once; with RocksDB it decodes every value, so it runs as a task that
        yields every few hundred orders (1M orders: ~100 s of decoding that blocked the
        event loop, and the consumer's requests timed out): meanwhile orders are classified
        as ever, and timers and sweeps wait for it.
        """
        if self.digests is None and self._task is None:
            self.scans += 1
            if isinstance(self.table.data, MemoryStore):
                self.digests = {k: self.digest(v) for k, v in self.table.data.data.items()}
            else:
                self._task = asyncio.ensure_future(self._scan_table(self._generation))
        return self.digests

    def built(self) -> dict[str, Digest] | None:
        """The digests if a scan since the last assignment completed (read-only users)."""
        return self.digests

    def of_partition(self, partition: int) -> list[tuple[str, Digest]] | None:
        digests = self.ready()
        if digests is None:
            return None
        return [(k, d) for k, d in digests.items() if d.partition == partition]

    async def _scan_table(self, generation: int) -> None:
        found: dict[str, Digest] = {}
        touched: set[str] = set()
        self._scan = (found, touched)
        try:
            for n, (key, state) in enumerate(self.table.items(), 1):
                if key not in touched:
                    found[key] = self.digest(state)
                if n % SCAN_BATCH == 0:
                    await asyncio.sleep(0)
                    if generation != self._generation:
                        return
        except Exception:  # a database closed by a rebalance: the next assignment scans again
            log.exception("scanning the orders table for timers and sweeps failed")
            if generation == self._generation:
                self._scan, self._task = None, None  # the next tick tries again
            return
        if generation == self._generation:
            self.digests, self._scan, self._task = found, None, None
            log.info("timers and sweeps follow %d orders", len(found))

    def digest(self, state: OrderState) -> Digest:
        c = state.classification
        done = c.status_category in FINISHED
        return Digest(
            partition=state.partition,
            sweepable=state.facts is not None and not done,
            rules_version=sys.intern(c.rules_version),  # a few distinct values: shared
            wakeup=self.wakeup(state),
            open=state.finished_at is None and not done,
            status=sys.intern(c.status.value),
            status_since=state.status_since.timestamp() if state.status_since else None,
            overdue_at=min((k.due_at.timestamp() for k in state.clocks), default=None),
        )
