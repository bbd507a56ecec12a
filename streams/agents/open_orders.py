"""What the timers, the re-classification sweeps and the open-order gauges need of each order,
kept in memory beside the orders table and updated by every write to it.

They used to scan the whole table: the timers and the sweep once per partition after every
assignment, the gauges every 15 s. With RocksDB every value scanned is decoded (a pydantic
parse of ~2 KB), so with many orders in state a restarted worker answered ``/readyz`` in
seconds and then spent minutes in scans before it classified anything, and went back to
them every 15 s. Now the first tick after an assignment scans once for every partition,
and each write of an order updates its digest (``OrderState`` is frozen: a digest of the
value written stays true until the next write).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from faust.types import TableT

from schemas.events import StatusCategory
from streams.records import OrderState

FINISHED = (StatusCategory.COMPLETED, StatusCategory.CLOSED)


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
        #: order id -> digest of every order this worker holds; None until the next scan.
        self.digests: dict[str, Digest] | None = None
        set_key, del_key = table.on_key_set, table.on_key_del

        def on_key_set(key: Any, value: Any) -> None:
            set_key(key, value)
            if self.digests is not None:
                self.digests[key] = self.digest(value)

        def on_key_del(key: Any) -> None:
            del_key(key)
            if self.digests is not None:
                self.digests.pop(key, None)

        table.on_key_set = on_key_set  # type: ignore[method-assign]
        table.on_key_del = on_key_del  # type: ignore[method-assign]

    def reset(self) -> None:
        """Partitions moved: the next ``all`` scans the table again."""
        self.digests = None

    def all(self) -> dict[str, Digest]:
        """Every order's digest, scanning the table once after an assignment.

        Called from the order agent's stream (a tick), which Faust runs only once the
        table is recovered, like the timer heaps built from it before.
        """
        if self.digests is None:
            self.digests = {key: self.digest(state) for key, state in list(self.table.items())}
        return self.digests

    def built(self) -> dict[str, Digest] | None:
        """The digests if a scan since the last assignment built them (read-only users)."""
        return self.digests

    def of_partition(self, partition: int) -> Iterator[tuple[str, Digest]]:
        return ((k, d) for k, d in list(self.all().items()) if d.partition == partition)

    def digest(self, state: OrderState) -> Digest:
        c = state.classification
        done = c.status_category in FINISHED
        return Digest(
            partition=state.partition,
            sweepable=state.facts is not None and not done,
            rules_version=c.rules_version,
            wakeup=self.wakeup(state),
            open=state.finished_at is None and not done,
            status=c.status.value,
            status_since=state.status_since.timestamp() if state.status_since else None,
            overdue_at=min((k.due_at.timestamp() for k in state.clocks), default=None),
        )
