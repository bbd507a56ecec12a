"""The figures of a report, computed from classified-order records (pure: no I/O).

What counts: every order whose ``order-created`` record's ``occurred_at`` falls in the period
``[start, end)``, once (re-sent records of the same order are ignored), with the dimension
values it was classified with at creation. ``status_now`` is each of those orders' latest
status category among the records read (as of the report's end). People's corrections made
in the period count as the accuracy query counts them (``streams.classify.accuracy``).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from schemas.events import ClassifiedOrder, FeedbackClassified, Notification
from streams.classify import accuracy, breakdowns
from streams.report.care import CareFigures
from streams.report.staff import StaffFigures

PeriodName = Literal["day", "week"]
#: Report dimension -> field of ``ClassifiedOrder`` (``streams.classify.breakdowns``).
DIMENSIONS: dict[str, str] = {d: breakdowns.DIMENSIONS[d] for d in breakdowns.REPORT}

#: Dimensions with a natural order are listed in it; others by orders, most first.
NATURAL_ORDER: dict[str, list[str]] = {
    "value_tier": ["high", "medium", "low"],
    "priority": ["P1", "P2", "P3", "P4"],
    "customer_segment": ["vip", "regular", "new"],
}


@dataclass(frozen=True)
class Period:
    """A trailing period ending at ``end``; trend buckets are hours (day) or days (week)."""

    name: PeriodName
    start: datetime
    end: datetime
    timezone: str

    @classmethod
    def ending(cls, name: PeriodName, end: datetime, timezone: str) -> Period:
        zone = ZoneInfo(timezone)
        # Absolute time: aware arithmetic in one zone follows the wall clock (a 25-hour day).
        length = timedelta(days=1) if name == "day" else timedelta(days=7)
        start = (end.astimezone(UTC) - length).astimezone(zone)
        return cls(name=name, start=start, end=end.astimezone(zone), timezone=timezone)

    def bucket(self, when: datetime) -> datetime:
        """Start of the trend bucket holding ``when`` (local hour or local day)."""
        local = when.astimezone(ZoneInfo(self.timezone))
        if self.name == "day":
            return local.replace(minute=0, second=0, microsecond=0)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def buckets(self) -> list[datetime]:
        step = timedelta(hours=1) if self.name == "day" else timedelta(days=1)
        first, out = self.bucket(self.start), []
        current = first
        while current < self.end:
            out.append(current)
            # Hours step in absolute time (a DST change must not skip or repeat one); days
            # step on the wall clock (aware datetime arithmetic), so a day is 23-25 hours.
            if self.name == "day":
                current = self.bucket((current.astimezone(UTC) + step).astimezone(current.tzinfo))
            else:
                current = self.bucket(current + step)
        return out


@dataclass
class Cell:
    orders: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)

    def add(self, currency: str, amount: Decimal) -> None:
        self.orders += 1
        self.amounts[currency] = self.amounts.get(currency, Decimal(0)) + amount


@dataclass
class Figures:
    period: Period
    orders: int = 0
    amounts: dict[str, Decimal] = field(default_factory=dict)
    #: dimension -> value -> cell
    by: dict[str, dict[str, Cell]] = field(default_factory=dict)
    #: trend bucket start -> cell
    trend: dict[datetime, Cell] = field(default_factory=dict)
    status_now: Counter[str] = field(default_factory=Counter)
    #: SLA id -> deadlines missed in the period (reminders sent); role -> escalations sent.
    sla_breaches: Counter[str] = field(default_factory=Counter)
    escalations: Counter[str] = field(default_factory=Counter)
    feedback: FeedbackFigures = field(default_factory=lambda: FeedbackFigures())
    #: Per team, this period against the previous one (``streams.report.staff``).
    staff: StaffFigures = field(default_factory=StaffFigures)
    care: CareFigures = field(default_factory=CareFigures)
    #: ``streams.classify.accuracy.summary`` of the corrections made in the period.
    accuracy: dict[str, Any] = field(default_factory=dict)

    def share(self, dimension: str, value: str) -> float:
        return self.by[dimension][value].orders / self.orders if self.orders else 0.0

    def amount_share(self, dimension: str, value: str, currency: str) -> float:
        total = self.amounts.get(currency, Decimal(0))
        part = self.by[dimension][value].amounts.get(currency, Decimal(0))
        return float(part / total) if total else 0.0


@dataclass
class FeedbackFigures:
    """Customer feedback received in the period: what it was about, and how it was answered."""

    received: int = 0
    review: int = 0
    resolved: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)
    by_team: Counter[str] = field(default_factory=Counter)
    #: Seconds from arrival to the first acknowledgement or response, per answered feedback.
    first_response: list[float] = field(default_factory=list)
    breaches: Counter[str] = field(default_factory=Counter)

    @property
    def review_share(self) -> float:
        return self.review / self.received if self.received else 0.0

    @property
    def median_first_response_minutes(self) -> float | None:
        if not self.first_response:
            return None
        return round(statistics.median(self.first_response) / 60, 1)


def count_feedback(
    figures: Figures, records: Iterable[FeedbackClassified], notes: Iterable[Notification]
) -> Figures:
    """Feedback received in the period (each once, its latest record), and feedback SLA steps."""
    period, fb = figures.period, figures.feedback
    latest: dict[str, FeedbackClassified] = {}
    answered: dict[str, datetime] = {}
    for record in records:
        if not period.start <= record.occurred_at < period.end:
            continue
        latest[record.feedback_id] = record
        if record.status in ("acknowledged", "responded"):
            answered.setdefault(record.feedback_id, record.classified_at)
    for fid, record in latest.items():
        fb.received += 1
        fb.review += record.needs_review
        fb.resolved += record.status == "resolved"
        fb.by_category[record.category] += 1
        fb.by_channel[record.channel.value] += 1
        fb.by_team[record.team or "review"] += 1
        if fid in answered:
            fb.first_response.append(max(0.0, (answered[fid] - record.occurred_at).total_seconds()))
    seen: set[str] = set()
    for note in notes:
        if note.feedback_id is None or note.notification_id in seen:
            continue
        if note.kind == "feedback_sla_reminder" and period.start <= note.created_at < period.end:
            seen.add(note.notification_id)
            fb.breaches[note.rule_id or "?"] += 1
    return figures


def compute(records: Iterable[ClassifiedOrder], period: Period) -> Figures:
    figures = Figures(period=period, by={d: {} for d in DIMENSIONS})
    figures.trend = {b: Cell() for b in period.buckets()}
    created: dict[str, ClassifiedOrder] = {}
    latest: dict[str, ClassifiedOrder] = {}
    corrected: dict[str, ClassifiedOrder] = {}  # correction event id -> its record (once)
    for record in records:
        if record.cause == "order-created" and period.start <= record.occurred_at < period.end:
            created.setdefault(record.order_id, record)
        if record.cause == "corrected" and period.start <= record.occurred_at < period.end:
            corrected.setdefault(record.event_id, record)
        seen = latest.get(record.order_id)
        if record.occurred_at < period.end and (
            seen is None or record.occurred_at >= seen.occurred_at
        ):
            latest[record.order_id] = record
    for order_id, record in created.items():
        figures.orders += 1
        figures.amounts[record.currency] = (
            figures.amounts.get(record.currency, Decimal(0)) + record.total_amount
        )
        for dimension, attribute in DIMENSIONS.items():
            value = str(getattr(record, attribute))
            cells = figures.by[dimension]
            cells.setdefault(value, Cell()).add(record.currency, record.total_amount)
        figures.trend[period.bucket(record.occurred_at)].add(record.currency, record.total_amount)
        figures.status_now[latest[order_id].status_category.value] += 1
    for dimension, cells in figures.by.items():
        figures.by[dimension] = dict(sorted(cells.items(), key=_sort_key(dimension)))
    cells: dict[str, Counter[str]] = defaultdict(Counter)
    for record in [*created.values(), *corrected.values()]:
        for name, value in accuracy.contributions(record):
            cells[name][value] += 1
    figures.accuracy = accuracy.summary(cells)
    return figures


def count_sla(figures: Figures, notes: Iterable[Notification]) -> Figures:
    """Missed deadlines and escalations sent in the period, each notification id once."""
    seen: set[str] = set()
    period = figures.period
    for note in notes:
        if note.notification_id in seen or not period.start <= note.created_at < period.end:
            continue
        seen.add(note.notification_id)
        if note.feedback_id is not None:
            continue  # feedback clocks: count_feedback
        if note.kind == "sla_reminder":
            figures.sla_breaches[note.rule_id or "?"] += 1
        elif note.kind == "sla_escalation":
            figures.escalations[note.recipient_role] += 1
    return figures


def _sort_key(dimension: str) -> Callable[[tuple[str, Cell]], tuple[int, int, str]]:
    order = NATURAL_ORDER.get(dimension, [])

    def key(item: tuple[str, Cell]) -> tuple[int, int, str]:
        value, cell = item
        rank = order.index(value) if value in order else len(order)
        return (rank, -cell.orders, value)

    return key
