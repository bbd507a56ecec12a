"""When a status change that arrived before its order stops waiting for it.

Wall-clock time alone is wrong after a restart or with a backlog: the order may be sitting
unread in the created stream while the clock runs. So a parked change gives up only when the
created stream has moved ``grace`` seconds past it, or when that stream has been idle (caught
up) for ``grace`` seconds and the change has waited at least as long.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CreatedProgress:
    """Per partition: the newest record timestamp of a created order, and when it was seen."""

    watermark: dict[int, float] = field(default_factory=dict)
    last_seen_at: dict[int, float] = field(default_factory=dict)
    #: Oldest record timestamp among the parked changes of a partition (unknown until scanned).
    oldest_parked: dict[int, float | None] = field(default_factory=dict)

    def assigned(self, partition: int, now: float) -> None:
        """A partition (re)gained: its stream counts as busy for one grace period from now."""
        self.watermark.pop(partition, None)
        self.oldest_parked.pop(partition, None)
        self.last_seen_at[partition] = now

    def parked(self, partition: int, record_timestamp: float) -> None:
        if partition in self.oldest_parked:
            oldest = self.oldest_parked[partition]
            self.oldest_parked[partition] = (
                record_timestamp if oldest is None else min(oldest, record_timestamp)
            )

    def scanned(self, partition: int, oldest_left: float | None) -> None:
        self.oldest_parked[partition] = oldest_left

    def worth_scanning(self, partition: int, now: float, grace: float) -> bool:
        """Whether any parked change of ``partition`` could give up now (scans are O(table))."""
        if partition not in self.oldest_parked:
            return True
        oldest = self.oldest_parked[partition]
        if oldest is None:
            return False
        idle_since = self.last_seen_at.get(partition, now)
        return now - idle_since >= grace or self.watermark.get(partition, 0.0) >= oldest + grace

    def busy_upstream(self, now: float) -> None:
        """Created orders are still queued before the order book: no partition is idle."""
        for partition in self.last_seen_at:
            self.last_seen_at[partition] = now

    def saw(self, partition: int, record_timestamp: float, now: float) -> None:
        self.watermark[partition] = max(self.watermark.get(partition, 0.0), record_timestamp)
        self.last_seen_at[partition] = now

    def gave_up(
        self, partition: int, record_timestamp: float, parked_at: float, now: float, grace: float
    ) -> bool:
        """Whether a change (record timestamp, parked at) on ``partition`` stops waiting."""
        if self.watermark.get(partition, 0.0) >= record_timestamp + grace:
            return True
        idle_since = self.last_seen_at.get(partition, now)
        return now - idle_since >= grace and now - parked_at >= grace
