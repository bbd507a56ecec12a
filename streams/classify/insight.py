"""What the insight agent keeps, and how queries read it (pure: no Faust, no Kafka).

Counts live in time buckets per source partition (``<bucket start>:<partition>``): each
classified record updates one bucket of its own partition, so writes stay local to the worker
that owns the order, and a query sums the buckets of the partitions each worker owns (the web
view fans out and merges). Buckets are 15 minutes: every time zone's offset is a multiple of
15 minutes, so local midnights ("today") fall on bucket boundaries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

import streams.classify.breakdowns as breakdowns
from schemas.events import ClassifiedOrder, StatusCategory
from streams.classify import accuracy

BUCKET_SECONDS = 900
#: Buckets older than this are dropped: the longest window is 7 days.
RETENTION_SECONDS = 8 * 86400
SEEN_EVENTS = 8  # event ids remembered per order to ignore re-sent classified records
OPEN = {StatusCategory.NEW, StatusCategory.IN_PROGRESS}
Window = Literal["last_hour", "today", "last_7_days"]

#: Query dimensions: all of them (``streams.classify.breakdowns``). A created order counts in
#: every one; a status change only in ``status`` and ``status_category``.
DIMENSIONS = breakdowns.DIMENSIONS


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = 0
    amounts: dict[str, Decimal] = Field(default_factory=dict)

    def add(self, currency: str, amount: Decimal, count: int = 1) -> None:
        self.count += count
        self.amounts[currency] = self.amounts.get(currency, Decimal(0)) + amount


class Bucket(BaseModel):
    """One partition's counts for 15 minutes of event time (``occurred_at``)."""

    model_config = ConfigDict(extra="forbid")

    start: int
    partition: int
    #: Highest source offset counted: a lower or equal one is our own replay, already in.
    last_offset: int = -1
    cells: dict[str, dict[str, Cell]] = Field(default_factory=dict)  # dimension -> value -> cell


class OpenOrder(BaseModel):
    """An open order as the open-orders query lists it (no contact data, no reasons)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    created_at: datetime
    customer_id: str
    product_type: str
    customer_type: str
    customer_segment: str
    value_tier: str
    priority: str
    region: str
    channel: str
    status: str
    status_category: str
    total_amount: Decimal
    currency: str


class OrderIndex(BaseModel):
    """Per order: its partition, the events already counted, and the order while it is open.

    ``seen`` maps each recent event id to the offset of the classified record that counted
    it: the same offset again is our own replay (whose count may have been lost with a
    crash, so the buckets are asked again), another offset is a re-sent copy.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    partition: int
    seen: dict[str, int] = Field(default_factory=dict)
    open: OpenOrder | None = None

    @field_validator("seen", mode="before")
    @classmethod
    def _ids_without_offsets(cls, value: object) -> object:
        # Written before offsets were kept: -1 matches no record, so those stay "a copy".
        return dict.fromkeys(value, -1) if isinstance(value, list) else value


class CustomerSeen(BaseModel):
    """A customer's segment as one of their orders was classified (keyed by customer id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    segment: str
    order_id: str
    occurred_at: datetime

    def newer_than(self, other: CustomerSeen | None) -> bool:
        return other is None or (self.occurred_at, self.order_id) > (
            other.occurred_at,
            other.order_id,
        )


def bucket_key(start: int, partition: int) -> str:
    return f"{start}:{partition}"


def parse_bucket_key(key: str) -> tuple[int, int]:
    """``(start, partition)`` of a :func:`bucket_key`, so a scan need not decode the buckets."""
    start, _, partition = key.partition(":")
    return int(start), int(partition)


def bucket_start(when: datetime) -> int:
    ts = int(when.timestamp())
    return ts - ts % BUCKET_SECONDS


def contributions(record: ClassifiedOrder) -> list[tuple[str, str]]:
    """The cells a record counts in: a correction only in accuracy's (``accuracy``)."""
    if record.cause == "corrected":
        return accuracy.contributions(record)
    dims = breakdowns.STATUS_CHANGE if record.cause == "status-changed" else DIMENSIONS
    return [(d, breakdowns.value(record, d)) for d in dims] + accuracy.contributions(record)


def count(bucket: Bucket, record: ClassifiedOrder, offset: int) -> Bucket:
    """Count ``record`` (read at ``offset``) into ``bucket``; mutates and returns it."""
    for dimension, value in contributions(record):
        cell = bucket.cells.setdefault(dimension, {}).setdefault(value, Cell())
        cell.add(record.currency, record.total_amount)
    bucket.last_offset = offset
    return bucket


def index(
    before: OrderIndex | None, record: ClassifiedOrder, partition: int, offset: int
) -> OrderIndex:
    """The order's index entry after ``record`` (read at ``offset``)."""
    kept = list((before.seen if before else {}).items())[-(SEEN_EVENTS - 1) :]
    seen = {**dict(kept), record.event_id: offset}
    created_at = (
        before.open.created_at
        if before is not None and before.open is not None
        else record.occurred_at
    )
    if record.status_category not in OPEN:
        return OrderIndex(partition=partition, seen=seen)
    row = OpenOrder(
        created_at=created_at,
        product_type=record.primary_product_type,
        **{
            k: str(getattr(record, k))
            for k in OpenOrder.model_fields
            if k not in ("created_at", "product_type", "total_amount")
        },
        total_amount=record.total_amount,
    )
    return OrderIndex(partition=partition, seen=seen, open=row)


def window_bounds(window: Window, now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """``[from, to]`` a window covers: whole buckets, so at least the window's length."""
    zone = ZoneInfo(timezone)
    if window == "today":
        start = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        length = timedelta(hours=1) if window == "last_hour" else timedelta(days=7)
        start = now - length
    first = bucket_start(start)
    return datetime.fromtimestamp(first, zone), now.astimezone(zone)


def totals(
    buckets: Iterable[Bucket], dimension: str, since: datetime, until: datetime
) -> dict[str, Cell]:
    """Sum one dimension over the buckets starting in ``[since, until]``."""
    low, high = since.timestamp(), until.timestamp()
    out: dict[str, Cell] = {}
    for bucket in buckets:
        if low <= bucket.start <= high:
            for value, cell in bucket.cells.get(dimension, {}).items():
                total = out.setdefault(value, Cell())
                for currency, amount in cell.amounts.items():
                    total.amounts[currency] = total.amounts.get(currency, Decimal(0)) + amount
                total.count += cell.count
    return out


def merge(parts: Iterable[dict[str, Cell]]) -> dict[str, Cell]:
    out: dict[str, Cell] = {}
    for part in parts:
        for value, cell in part.items():
            total = out.setdefault(value, Cell())
            total.count += cell.count
            for currency, amount in cell.amounts.items():
                total.amounts[currency] = total.amounts.get(currency, Decimal(0)) + amount
    return dict(sorted(out.items(), key=lambda kv: (-kv[1].count, kv[0])))


def cursor_of(row: OpenOrder) -> str:
    return f"{row.created_at.isoformat()}|{row.order_id}"


def page(rows: Iterable[OpenOrder], after: str | None, limit: int) -> list[OpenOrder]:
    """The first ``limit`` rows after the cursor, oldest first (keyset paging, merge-safe)."""
    ordered = sorted(rows, key=lambda r: (r.created_at, r.order_id))
    if after is not None:
        when, _, order_id = after.partition("|")
        mark = (datetime.fromisoformat(when), order_id)
        ordered = [r for r in ordered if (r.created_at, r.order_id) > mark]
    return ordered[:limit]
