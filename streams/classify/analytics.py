"""Tumbling-window aggregates of classified orders: counts and amounts per dimension value.

A created order counts once in every dimension; a status change counts in ``status_category``
only (orders entering that category). Windows are keyed by the record's Kafka timestamp, so a
replayed record lands in the window it landed in the first time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

import streams.classify.breakdowns as breakdowns
from schemas.events import AnalyticsWindow, ClassifiedOrder, DimensionCount


class Cell(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = 0
    amounts: dict[str, Decimal] = Field(default_factory=dict)


class WindowState(BaseModel):
    """One window of one partition, as the analytics table keeps it."""

    model_config = ConfigDict(extra="forbid")

    window_seconds: int
    start: int
    partition: int
    revision: int = 0  # bumped by every contribution
    #: Highest offset of ``orders.classified`` counted: a replay at or below it is already in.
    last_offset: int = -1
    published_revision: int = 0
    events: int = 0
    cells: dict[str, Cell] = Field(default_factory=dict)  # "dimension=value" -> cell

    @property
    def end(self) -> int:
        return self.start + self.window_seconds

    @property
    def key(self) -> str:
        return window_key(self.window_seconds, self.start, self.partition)


def window_key(window_seconds: int, start: int, partition: int) -> str:
    return f"{window_seconds}:{start}:{partition}"


def window_partition(key: str) -> int:
    """The partition a :func:`window_key` names, so a sweep need not decode other windows."""
    return int(key.rpartition(":")[2])


def window_start(timestamp: float, window_seconds: int) -> int:
    return int(timestamp // window_seconds) * window_seconds


def contributions(record: ClassifiedOrder) -> list[tuple[str, str]]:
    """(dimension, value) pairs one record counts in (``breakdowns.WINDOWS``)."""
    dims = (
        breakdowns.WINDOWS_ON_STATUS_CHANGE
        if record.cause == "status-changed"
        else breakdowns.WINDOWS
    )
    return [(d, breakdowns.value(record, d)) for d in dims]


def add(state: WindowState, record: ClassifiedOrder, offset: int = -1) -> WindowState:
    """Count ``record`` (read at ``offset``) into ``state`` (mutates and returns it)."""
    for dimension, value in contributions(record):
        cell = state.cells.setdefault(f"{dimension}={value}", Cell())
        cell.count += 1
        cell.amounts[record.currency] = (
            cell.amounts.get(record.currency, Decimal(0)) + record.total_amount
        )
    state.events += 1
    state.revision += 1
    state.last_offset = max(state.last_offset, offset)
    return state


def is_due(state: WindowState, now: float, lateness: float) -> bool:
    """Closed (end + allowed lateness has passed) and holding counts not yet published."""
    return state.end + lateness <= now and state.revision > state.published_revision


def is_expired(state: WindowState, now: float, retention: float) -> bool:
    return is_expired_start(state.start, state.window_seconds, now, retention)


def is_expired_start(start: int, window_seconds: int, now: float, retention: float) -> bool:
    """Past retention the window is gone; counting into it again would republish a stub."""
    return start + window_seconds + retention <= now


def to_event(state: WindowState, now: datetime) -> AnalyticsWindow:
    counts = []
    for key in sorted(state.cells):
        dimension, _, value = key.partition("=")
        cell = state.cells[key]
        counts.append(
            DimensionCount(
                dimension=dimension, value=value, count=cell.count, amounts=dict(cell.amounts)
            )
        )
    return AnalyticsWindow(
        window_id=state.key,
        window_seconds=state.window_seconds,
        window_start=datetime.fromtimestamp(state.start, UTC),
        window_end=datetime.fromtimestamp(state.end, UTC),
        partition=state.partition,
        revision=state.revision,
        events=state.events,
        counts=counts,
        published_at=now,
    )
