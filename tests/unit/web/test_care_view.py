"""The care part of GET /customers/{id}: RFM in money strings, bounded history, open tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streams.classify import care_flow as flow
from streams.classify.care import CareFact, CareState
from streams.classify.rules import RuleSet
from streams.web.care import summary

RULES = RuleSet.default()
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_summary_shows_segment_rfm_history_and_only_open_followups() -> None:
    state = CareState(customer_id="C", partition=0)
    facts = [
        CareFact(
            kind="order",
            customer_id="C",
            occurred_at=T0,
            order_id="A",
            amount=Decimal("12.50"),
            currency="USD",
        ),
        CareFact(
            kind="status",
            customer_id="C",
            occurred_at=T0 + timedelta(days=1),
            order_id="A",
            status="delivered",
        ),
    ]
    for n, f in enumerate(facts):
        state = flow.apply(state, f, RULES.segments, f"care/0/{n}", RULES.version).state
    body = summary(state, RULES, T0 + timedelta(days=5))["care"]
    assert body["segment"] == "new" and body["rfm"]["monetary"] == {"USD": "12.50"}
    assert [m["to"] for m in body["history"]] == ["new"]
    (task,) = body["open_followups"]
    assert task["strategy_id"] == "welcome-call" and task["overdue"] is True
    assert summary(None, RULES, T0) == {"care": None}
