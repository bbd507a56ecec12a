"""The insight state without Faust: bucket counts, replays, open-order index, windows, paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streams.classify import insight as state
from tests.unit.report.test_figures import record

NOW = datetime(2026, 11, 30, 12, 7, tzinfo=UTC)


def test_created_counts_everywhere_status_changes_only_in_status() -> None:
    bucket = state.Bucket(start=state.bucket_start(NOW), partition=0)
    state.count(bucket, record("A", NOW), offset=0)
    changed = record(
        "A", NOW, cause="status-changed", status="confirmed", status_category="in_progress"
    )
    state.count(bucket, changed, offset=1)
    assert bucket.cells["value_tier"]["high"].count == 1
    assert (
        bucket.cells["status"]["new"].count == 1 and bucket.cells["status"]["confirmed"].count == 1
    )
    assert bucket.cells["status_category"]["in_progress"].amounts == {"CNY": Decimal(100)}
    assert bucket.last_offset == 1
    totals = state.totals([bucket], "status", NOW - timedelta(hours=1), NOW)
    assert {v: c.count for v, c in totals.items()} == {"new": 1, "confirmed": 1}


def test_index_keeps_open_orders_and_forgets_closed_ones() -> None:
    first = state.index(None, record("A", NOW), partition=2, offset=0)
    assert first.open is not None and first.open.created_at == NOW and first.seen == {"e-A": 0}
    later = record(
        "A",
        NOW + timedelta(hours=1),
        cause="status-changed",
        event_id="e2",
        status="confirmed",
        status_category="in_progress",
    )
    second = state.index(first, later, partition=2, offset=1)
    assert second.open is not None and second.open.created_at == NOW  # creation time kept
    closed = record("A", NOW, event_id="e3", status="cancelled", status_category="closed")
    assert state.index(second, closed, partition=2, offset=2).open is None


def test_window_bounds_cover_whole_buckets_in_the_time_zone() -> None:
    since, until = state.window_bounds("last_hour", NOW, "UTC")
    assert since == datetime(2026, 11, 30, 11, 0, tzinfo=UTC) and until == NOW
    since, _ = state.window_bounds("today", NOW, "Asia/Kolkata")  # UTC+5:30
    assert since.isoformat() == "2026-11-30T00:00:00+05:30"
    assert state.bucket_start(since) == since.timestamp()  # local midnight is a bucket boundary


def test_pages_merge_across_workers_without_gaps() -> None:
    rows = [
        state.index(None, record(f"O{i}", NOW + timedelta(minutes=i % 4)), 0, i).open
        for i in range(10)
    ]
    rows = [r for r in rows if r is not None]
    seen, after = [], None
    while True:
        # Two "workers", each returning its first limit + 1 rows after the cursor.
        shares = [state.page(rows[:5], after, 4), state.page(rows[5:], after, 4)]
        chosen = state.page([r for s in shares for r in s], after, 4)
        seen += [r.order_id for r in chosen[:3]]
        if len(chosen) <= 3:
            break
        after = state.cursor_of(chosen[2])
    assert sorted(seen) == sorted(r.order_id for r in rows) and len(seen) == len(set(seen))
