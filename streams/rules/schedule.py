"""Cron schedules in the configured time zone (the scheduled review of open orders)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter


class ReviewSchedule:
    """When the next scheduled full re-evaluation is due (``reclassify_cron``), if any."""

    def __init__(self, expression: str, zone: str, start: float | None = None) -> None:
        now = (
            datetime.now(ZoneInfo(zone))
            if start is None
            else datetime.fromtimestamp(start, ZoneInfo(zone))
        )
        self.schedule = croniter(expression, now, ret_type=float) if expression else None
        self.next_at = self.schedule.get_next() if self.schedule else None

    def due(self, now: float) -> float | None:
        """The scheduled time if it has passed (once per scheduled time), else None."""
        if self.schedule is None or self.next_at is None or now < self.next_at:
            return None
        due = self.next_at
        self.next_at = self.schedule.get_next()
        while self.next_at <= now:  # missed slots (a long pause) are one review, not many
            self.next_at = self.schedule.get_next()
        return due
