"""Is the stream making progress? Pure bookkeeping behind the stall metric and /healthz.

A stream is *stalled* when records wait (lag > 0) on a partition and its committed offset has
not moved for a while. Lag alone is not a fault (a backlog drains slowly), and no commits alone
are not either (nothing to do); together they mean the consumer or an agent is stuck, which no
broker-side check sees: the member keeps heartbeating while nothing is processed.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Mapping
from dataclasses import dataclass, field


@dataclass
class _Partition:
    committed: int | None
    since: float  # when the committed offset last moved, or the partition last had no lag
    lag: int = 0


@dataclass
class Progress:
    """Per partition: the committed offset and since when it has not moved while lagging."""

    partitions: dict[Hashable, _Partition] = field(default_factory=dict)
    lag: int = 0

    def reset(self, now: float) -> None:
        """Rebalances and table recovery pause the streams on purpose: restart every clock."""
        for p in self.partitions.values():
            p.since = now

    def observe(
        self,
        now: float,
        offsets: Mapping[Hashable, tuple[int | None, int | None]],
        held: Collection[Hashable] = (),
    ) -> None:
        """``offsets``: partition -> (committed offset, high-water mark), either unknown (None).

        ``held`` partitions are not read on purpose (backpressure): their clocks restart.
        """
        total = 0
        seen: dict[Hashable, _Partition] = {}
        for tp, (committed, highwater) in offsets.items():
            known = self.partitions.get(tp)
            lag = max(0, highwater - (committed or 0)) if highwater is not None else 0
            total += lag
            if known is None or committed != known.committed or lag == 0 or tp in held:
                seen[tp] = _Partition(committed, now, lag)
            else:
                known.lag = lag
                seen[tp] = known
        # Partitions no longer assigned are forgotten; new ones start their clock now.
        self.partitions = seen
        self.lag = total

    def stalled_seconds(self, now: float) -> float:
        """How long the longest-stuck topic with waiting records has made no progress.

        Per topic, not per partition: a worker draining a backlog can leave one partition
        unfetched for a while as Faust serves the others, which is no fault (a liveness probe
        restarting it would only slow the backlog down); a topic none of whose partitions
        moved is (e.g. a crashed agent, whose topic then waits while the others go on).
        Only partitions with waiting records count: siblings with nothing to do say nothing
        about the stuck ones (seen: three partitions of a topic never committed again after
        a kill -9 while the fourth, drained, kept the topic looking alive).
        """
        latest: dict[str, float] = {}
        for tp, p in self.partitions.items():
            if not p.lag:
                continue
            topic = str(getattr(tp, "topic", tp))
            latest[topic] = max(latest.get(topic, p.since), p.since)
        return max((now - since for since in latest.values()), default=0.0)

    def stuck(self, now: float, seconds: float) -> list[Hashable]:
        """Partitions with waiting records whose committed offset has not moved for ``seconds``."""
        return [tp for tp, p in self.partitions.items() if p.lag and now - p.since >= seconds]
