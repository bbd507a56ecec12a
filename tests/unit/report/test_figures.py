"""Report figures from plain ClassifiedOrder objects: period bounds, buckets, duplicates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from schemas.events import ClassifiedOrder
from streams.report.figures import Period, compute
from streams.report.render import csv_rows

END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def record(order_id: str, at: datetime, **changes: object) -> ClassifiedOrder:
    base = {
        "order_id": order_id,
        "event_id": f"e-{order_id}",
        "cause": "order-created",
        "occurred_at": at,
        "classified_at": at,
        "customer_id": "C",
        "customer_type": "enterprise",
        "customer_segment": "new",
        "product_types": ["tv"],
        "primary_product_type": "tv",
        "value_tier": "high",
        "total_amount": Decimal("100"),
        "currency": "CNY",
        "item_count": 1,
        "channel": "online",
        "region": "east",
        "status": "new",
        "status_category": "new",
        "tags": [],
        "priority": "P2",
        "rules_version": "v",
        "reasons": {},
    }
    return ClassifiedOrder.model_validate(base | changes)


def test_counts_orders_created_in_the_period_once() -> None:
    period = Period.ending("day", END, "UTC")
    records = [
        record("A", END - timedelta(hours=1)),
        record("A", END - timedelta(hours=1)),  # re-sent after a crash: same order
        record("B", END - timedelta(hours=2), value_tier="low", priority="P4"),
        record("C", END - timedelta(days=1, seconds=1)),  # before the period
        record("D", END),  # the end is exclusive
        record(
            "A",
            END - timedelta(minutes=5),
            cause="status-changed",
            status="cancelled",
            status_category="closed",
        ),
        record(
            "B",
            END + timedelta(hours=1),
            cause="status-changed",
            status="confirmed",
            status_category="in_progress",
        ),  # after the end: not "now" yet
    ]
    figures = compute(records, period)
    assert figures.orders == 2
    assert figures.amounts == {"CNY": Decimal(200)}
    assert {v: c.orders for v, c in figures.by["value_tier"].items()} == {"high": 1, "low": 1}
    assert list(figures.by["priority"]) == ["P2", "P4"]  # natural order
    assert figures.status_now == {"closed": 1, "new": 1}
    assert sum(c.orders for c in figures.trend.values()) == 2
    rows = csv_rows(figures)
    assert {
        "section": "total",
        "dimension": "",
        "value": "",
        "currency": "",
        "measure": "orders",
        "figure": "2",
    } in rows


def test_hour_buckets_across_a_dst_change() -> None:
    # Europe/Berlin leaves summer time on 2026-10-25: that local day has 25 hours.
    end = datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
    buckets = Period.ending("day", end, "Europe/Berlin").buckets()
    assert len(buckets) == 24  # a trailing 24 h, whatever the wall clock does
    assert len({b.astimezone(UTC) for b in buckets}) == 24


def test_week_has_day_buckets_in_local_time() -> None:
    buckets = Period.ending("week", END, "Asia/Shanghai").buckets()
    assert len(buckets) == 8  # a trailing 7 days touches 8 local dates
    assert all(b.hour == 0 for b in buckets)


def test_sla_breaches_and_escalations_in_the_period_once_each() -> None:
    from schemas.events import Notification
    from streams.report.figures import count_sla

    def note(nid: str, kind: str, role: str, at: datetime, sla: str = "confirm-p1") -> Notification:
        return Notification(
            notification_id=nid,
            kind=kind,
            recipient_role=role,
            severity="warning",
            order_id="A",
            message="m",
            cause_event_id="c",
            priority="P1",
            rules_version="v",
            created_at=at,
            rule_id=sla,
        )

    period = Period.ending("day", END, "UTC")
    inside = END - timedelta(hours=1)
    notes = [
        note("1", "sla_reminder", "sales_rep", inside),
        note("1", "sla_reminder", "sales_rep", inside),  # re-sent: counted once
        note("2", "sla_escalation", "sales_manager", inside),
        note("3", "sla_reminder", "sales_rep", inside, sla="ship-in-3-days"),
        note("4", "sla_reminder", "sales_rep", END),  # after the period
        note("5", "high_value_order", "sales_manager", inside),  # not an SLA step
    ]
    figures = count_sla(compute([], period), notes)
    assert figures.sla_breaches == {"confirm-p1": 1, "ship-in-3-days": 1}
    assert figures.escalations == {"sales_manager": 1}


def test_feedback_received_in_the_period_counts_once_with_its_latest_state() -> None:
    from schemas.events import FeedbackClassified, Notification
    from streams.report.figures import count_feedback

    period = Period.ending("day", END, "UTC")
    t = END - timedelta(hours=3)

    def record(fid: str, status: str, at: datetime, **kw: object) -> FeedbackClassified:
        return FeedbackClassified.model_validate(
            {
                "feedback_id": fid,
                "event_id": f"e-{fid}",
                "occurred_at": kw.get("occurred_at", t),
                "classified_at": at,
                "customer_id": "C-1",
                "channel": kw.get("channel", "app"),
                "category": kw.get("category", "delivery_issue"),
                "confidence": 0.9,
                "needs_review": kw.get("review", False),
                "language": "zh",
                "scores": {},
                "model_version": "fb-1",
                "rules_version": "r",
                "reasons": [],
                "priority": "P3",
                "team": None if kw.get("review") else "logistics",
                "assignee": None,
                "status": status,
            }
        )

    records = [
        record("A", "open", t),
        record("A", "acknowledged", t + timedelta(minutes=30)),
        record("A", "resolved", t + timedelta(hours=2)),
        record("B", "open", t, review=True, category="praise", channel="review"),
        record("C", "open", END, occurred_at=END),  # received after the period
    ]
    breach = Notification(
        notification_id="n1",
        kind="feedback_sla_reminder",
        recipient_role="logistics_team",
        severity="warning",
        order_id=None,
        feedback_id="A",
        message="m",
        cause_event_id="c",
        priority="P3",
        rules_version="r",
        created_at=t,
        rule_id="feedback-normal:first_response",
    )
    fb = count_feedback(compute([], period), records, [breach, breach]).feedback
    assert (fb.received, fb.review, fb.resolved) == (2, 1, 1)
    assert fb.by_category == {"delivery_issue": 1, "praise": 1}
    assert fb.by_team == {"logistics": 1, "review": 1}
    assert fb.median_first_response_minutes == 30.0
    assert fb.breaches == {"feedback-normal:first_response": 1}
    rows = [r for r in csv_rows(compute([], period)) if r["section"] == "feedback"]
    assert rows[0]["measure"] == "received" and rows[0]["figure"] == "0"


def test_corrections_in_the_period_count_once_as_accuracy() -> None:
    period = Period.ending("day", END, "UTC")
    at = END - timedelta(hours=2)
    fix = {
        "event_id": "C-1",
        "dimension": "value_tier",
        "value": "medium",
        "decided": "high",
        "decided_by": "value_tiers",
        "decided_version": "v",
        "corrected_by": "u-7",
    }
    corrected = record(
        "SO-1", at, cause="corrected", event_id="C-1", value_tier="medium", correction=fix
    )
    old = record("SO-2", END - timedelta(days=2), cause="corrected", event_id="C-0", correction=fix)
    records = [record("SO-1", at), record("SO-2", at), corrected, corrected, old]
    figures = compute(records, period)
    tier = figures.accuracy["dimensions"]["value_tier"]
    assert (tier["corrected"], tier["share_corrected"]) == (1, 0.5)
    assert tier["confusion"] == {"high -> medium": 1}
    rows = [r for r in csv_rows(figures) if r["section"] == "accuracy"]
    assert {"dimension": "value_tier", "measure": "corrected", "figure": "1"}.items() <= rows[
        0
    ].items()
