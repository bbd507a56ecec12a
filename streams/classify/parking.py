"""When a status change that arrived before its order stops waiting for it.

A parked change gives up when its order would have arrived by now if it existed: every created
order the producers wrote up to ``grace`` seconds after the change was parked has gone through
the whole created path (the input, the by-customer hop, the enriched hop) and reached the order
book, and it was not among them.

"Gone through" is decided from offsets, not timestamps, with a drain barrier of epochs: an epoch
starts at a moment with the end offsets of the created input; once the group has committed all
of them, it takes the end offsets of the next hop (whatever that stage wrote for those records
is below them: Faust flushes before it commits), and so on. When the last hop is committed past
its snapshot, every order appended to the input before the epoch started is in the order book.

The rule it replaces compared record timestamps per enriched partition: four by-customer
partitions feed each one unevenly after a restart or a rebalance, so one fast upstream partition
moved the mark past orders still queued in a slow one (1,020 status changes of existing orders
dead-lettered as ``unknown_order`` when four workers scaled down to one).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class _Epoch:
    started: float
    stage: int
    snapshot: dict[Hashable, int]


@dataclass
class Drain:
    """How far the created path is drained: ``through`` = every order appended before it is in
    the order book (None until the first epoch completes, e.g. right after a restart)."""

    stages: Sequence[str]
    #: Epochs running at most at once; a new one starts only when there is room.
    depth: int = 32
    through: float | None = None
    epochs: deque[_Epoch] = field(default_factory=deque)

    def step(
        self,
        now: float,
        committed: Mapping[Hashable, int],
        ends: Mapping[Hashable, int],
        topic_of: Mapping[Hashable, str],
    ) -> None:
        """One sample: the group's ``committed`` offsets, read *before* the ``ends`` (end
        offsets of every partition of every stage); ``topic_of`` names each partition's topic.

        A partition with nothing committed counts as committed at 0.
        """

        def snapshot(stage: int) -> dict[Hashable, int]:
            return {tp: end for tp, end in ends.items() if topic_of[tp] == self.stages[stage]}

        for epoch in self.epochs:
            while all(committed.get(tp, 0) >= end for tp, end in epoch.snapshot.items()):
                epoch.stage += 1
                if epoch.stage == len(self.stages):
                    break
                epoch.snapshot = snapshot(epoch.stage)
        while self.epochs and self.epochs[0].stage == len(self.stages):
            self.through = max(self.through or 0.0, self.epochs.popleft().started)
        if len(self.epochs) < self.depth:
            self.epochs.append(_Epoch(now, 0, snapshot(0)))

    def gave_up(self, parked_at: float, grace: float) -> bool:
        """Whether a change parked at ``parked_at`` (wall clock) stops waiting for its order."""
        return self.through is not None and self.through >= parked_at + grace
