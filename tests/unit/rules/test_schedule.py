"""streams.rules.schedule: the scheduled review fires once per slot, in the configured zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from streams.rules.schedule import ReviewSchedule

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).timestamp()


def test_daily_review_at_eight_local_time_fires_once_per_day() -> None:
    schedule = ReviewSchedule("0 8 * * *", "Asia/Shanghai", start=at(30, 7, 59))
    assert schedule.due(at(30, 7, 59)) is None
    assert schedule.due(at(30, 8, 0)) == at(30, 8)
    assert schedule.due(at(30, 8, 1)) is None
    assert schedule.due(at(30, 23, 0)) is None


def test_missed_slots_after_a_pause_are_one_review() -> None:
    schedule = ReviewSchedule("0 * * * *", "Asia/Shanghai", start=at(30, 0, 30))
    assert schedule.due(at(30, 5, 10)) == at(30, 1)
    assert schedule.due(at(30, 5, 20)) is None
    assert schedule.due(at(30, 6, 0)) == at(30, 6)


def test_no_expression_never_fires() -> None:
    assert ReviewSchedule("", "UTC").due(at(30, 12)) is None
