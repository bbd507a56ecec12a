"""Customer care on Faust's test context: segments move with events, follow-ups are opened,
reminded and done, and nothing is counted twice whatever is replayed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest.mock import AsyncMock, patch

import pytest

from schemas.events import (
    ClassifiedOrder,
    FeedbackClassified,
    FollowupDone,
    FollowupTask,
    SegmentChanged,
)
from streams.classify.care import CareFact
from streams.records import CareInput, Source
from tests.agents.builders import tick, wire
from tests.agents.conftest import AGENTS, Outputs, deliver, ot
from tests.unit.report.test_figures import record

pytestmark = pytest.mark.timeout(30)

CARE = ot.app.agents["customer-care"]
INTAKE = ot.app.agents["care-intake"]
INSIGHT = ot.app.agents["insight"]
CARE_TOPIC = ot.topics.customer_care.get_topic_name()
CARE_TICKS = ot.topics.care_ticks.get_topic_name()
DONE = ot.topics.followup_done.get_topic_name()
FEEDBACK = ot.topics.feedback_classified.get_topic_name()
CLASSIFIED = ot.topics.classified.get_topic_name()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def care_input(fact: CareFact, upstream: int) -> bytes:
    """A fact as insight or the intake sends it, read upstream at offset ``upstream``."""
    src = Source(topic="upstream", partition=0, offset=upstream, timestamp=1.0, key="C-1")
    return wire(CareInput(fact=fact, source=src), "care_input")


def order(order_id: str, at: datetime, amount: str = "100") -> CareFact:
    return CareFact(
        kind="order",
        customer_id="C-1",
        occurred_at=at,
        order_id=order_id,
        amount=Decimal(amount),
        currency="CNY",
    )


def status(order_id: str, at: datetime, to: str) -> CareFact:
    return CareFact(kind="status", customer_id="C-1", occurred_at=at, order_id=order_id, status=to)


def done(task_id: str, event_id: str = "fd-1", by: str = "li.wei") -> FollowupDone:
    return FollowupDone(
        event_id=event_id,
        occurred_at=T0 + 71 * DAY,
        task_id=task_id,
        customer_id="C-1",
        done_by=by,
        outcome="called; happy",
    )


def moves(outputs: Outputs) -> list[SegmentChanged]:
    return outputs.values("segments")


def tasks(outputs: Outputs) -> list[FollowupTask]:
    return outputs.values("followups")


#: new -> regular -> at_risk -> won_back, as (record, offset on its topic).
JOURNEY = [
    (CARE_TOPIC, care_input(order("A", T0), 10), 0),
    (CARE_TOPIC, care_input(status("A", T0 + DAY, "delivered"), 11), 1),
    (CARE_TOPIC, care_input(order("B", T0 + 10 * DAY), 12), 2),
    (CARE_TICKS, tick((T0 + 60 * DAY).timestamp()), 0),
    (CARE_TOPIC, care_input(order("C", T0 + 70 * DAY), 13), 3),
]


async def journey() -> None:
    async with CARE.test_context() as agent:
        for topic, value, offset in JOURNEY:
            await deliver(agent, value, topic=topic, key=b"C-1", offset=offset)


async def test_a_customer_moves_new_regular_at_risk_won_back_with_its_tasks(
    outputs: Outputs,
) -> None:
    await journey()
    assert [(m.from_segment, m.to_segment) for m in moves(outputs)] == [
        (None, "new"),
        ("new", "regular"),
        ("regular", "at_risk"),
        ("at_risk", "won_back"),
    ]
    at_risk = moves(outputs)[2]
    assert at_risk.occurred_at == T0 + 55 * DAY  # 45 days (the floor) after order B
    assert at_risk.rfm.frequency == 2 and at_risk.rfm.monetary == {"CNY": Decimal(200)}
    latest = {t.task_id: t for t in tasks(outputs)}
    by_strategy = {t.strategy_id: t for t in latest.values()}
    assert set(by_strategy) == {"welcome-call", "win-back-offer"}
    welcome = by_strategy["welcome-call"]
    assert welcome.due_at == T0 + 4 * DAY and welcome.status == "escalated"
    assert welcome.owner_role == "sales_rep"
    win_back = by_strategy["win-back-offer"]
    assert win_back.status == "done" and win_back.done_by == "ordertriage"
    notes = outputs.values("notifications")
    assert [(n.kind, n.recipient_role, n.task_id) for n in notes] == [
        ("followup_reminder", "sales_rep", welcome.task_id),
        ("followup_escalation", "sales_manager", welcome.task_id),
        ("followup_reminder", "retention_team", win_back.task_id),
        ("followup_escalation", "sales_manager", win_back.task_id),
    ]
    state = ot.tables.customer_care["C-1"]
    assert state.segment == "won_back" and state.order_count == 3
    assert [m.event.to_segment for m in state.history] == ["new", "regular", "at_risk", "won_back"]


async def test_replaying_every_record_changes_nothing_and_resends_the_same_ids(
    outputs: Outputs,
) -> None:
    await journey()
    first_moves = [m.event_id for m in moves(outputs)]
    first_tasks = {(t.task_id, t.status) for t in tasks(outputs)}
    first_notes = {n.notification_id for n in outputs.values("notifications")}
    state = ot.tables.customer_care["C-1"]
    outputs.segments.reset_mock()
    outputs.followups.reset_mock()
    outputs.notifications.reset_mock()

    AGENTS.care.reset()  # a crash: the heaps and the replay index are rebuilt from the table
    await journey()  # every record again, at its offset: our replay
    async with CARE.test_context() as agent:  # insight re-sent facts (new offsets, same source)
        await deliver(agent, JOURNEY[0][1], topic=CARE_TOPIC, key=b"C-1", offset=20)
        await deliver(agent, JOURNEY[2][1], topic=CARE_TOPIC, key=b"C-1", offset=21)
        await deliver(agent, tick((T0 + 60 * DAY).timestamp()), topic=CARE_TICKS, offset=1)

    assert ot.tables.customer_care["C-1"].model_copy(update={"last_tick_offset": 0}) == state
    assert {m.event_id for m in moves(outputs)} <= set(first_moves)
    assert len(set(first_moves)) == 4  # no doubled segment event
    assert {(t.task_id, t.status) for t in tasks(outputs)} <= first_tasks
    assert len({t for t, _ in first_tasks}) == 2  # no doubled task
    assert {n.notification_id for n in outputs.values("notifications")} <= first_notes
    # The replayed tick re-sent what it had sent (the at_risk move), with the same id.
    assert first_moves[2] in {m.event_id for m in moves(outputs)}


async def test_a_followup_done_closes_its_task_and_bad_ones_are_dead_lettered(
    outputs: Outputs,
) -> None:
    await journey()
    welcome = next(t for t in tasks(outputs) if t.strategy_id == "welcome-call")
    outputs.followups.reset_mock()

    async with INTAKE.test_context() as agent:
        good = done(welcome.task_id).model_dump_json().encode()
        await deliver(agent, good, topic=DONE, key=b"C-1", offset=0)
        await deliver(agent, b'{"event_id": "fd-x", "task_id": 7}', topic=DONE, offset=1)
        unknown = done("no-such-task", event_id="fd-2").model_dump_json().encode()
        await deliver(agent, unknown, topic=DONE, key=b"C-1", offset=2)
        again = done(welcome.task_id, event_id="fd-3").model_dump_json().encode()
        await deliver(agent, again, topic=DONE, key=b"C-1", offset=3)
        await deliver(agent, good, topic=DONE, key=b"C-1", offset=4)  # a producer's re-send
    rekeyed = outputs.kwargs("customer_care")
    assert len(rekeyed) == 4 and all(k["key"] == b"C-1" for k in rekeyed)
    (malformed,) = outputs.dead_letters()
    assert malformed.headers["source_topic"] == DONE

    async with CARE.test_context() as agent:
        for n, sent in enumerate(rekeyed):
            raw = wire(sent["value"], "care_input")
            await deliver(agent, raw, topic=CARE_TOPIC, key=b"C-1", offset=10 + n)
    (closed,) = tasks(outputs)
    assert closed.task_id == welcome.task_id and closed.status == "done"
    assert (closed.done_by, closed.outcome) == ("li.wei", "called; happy")
    codes = [d.code for d in outputs.dead_letters()][1:]
    assert codes == ["unknown_task", "task_done", "duplicate_event"]
    unknown_letter = outputs.dead_letters()[1]
    assert json.loads(unknown_letter.value)["task_id"] == "no-such-task"
    assert unknown_letter.headers["source_offset"] == "2"  # points at the user's record


async def test_a_done_the_intake_re_sends_after_a_crash_is_skipped_not_dead_lettered(
    outputs: Outputs,
) -> None:
    """The intake read the user's done again (its offset was not committed before a kill -9)
    and re-keyed a second copy: same source record, another care-topic offset. That copy is
    ours, not the producer's: skipped, no ``duplicate_event`` (found on the broker)."""
    await journey()
    welcome = next(t for t in tasks(outputs) if t.strategy_id == "welcome-call")
    outputs.followups.reset_mock()
    async with INTAKE.test_context() as agent:
        good = done(welcome.task_id).model_dump_json().encode()
        for _ in range(2):  # the same record read again: the intake's replay
            await deliver(agent, good, topic=DONE, key=b"C-1", offset=0, timestamp=1.0)
    first, again = outputs.kwargs("customer_care")
    assert first["value"].source == again["value"].source

    async with CARE.test_context() as agent:
        for n, sent in enumerate((first, again)):
            raw = wire(sent["value"], "care_input")
            await deliver(agent, raw, topic=CARE_TOPIC, key=b"C-1", offset=10 + n)
    (closed,) = tasks(outputs)
    assert closed.task_id == welcome.task_id and closed.status == "done"
    assert outputs.dead_letters() == []


def classified_feedback(feedback_id: str, category: str, at: datetime) -> bytes:
    record = FeedbackClassified(
        feedback_id=feedback_id,
        event_id=f"e-{feedback_id}",
        occurred_at=at,
        classified_at=at,
        customer_id="C-1",
        channel="app",
        category=category,
        confidence=0.9,
        needs_review=False,
        language="en",
        scores={category: 0.9},
        model_version="m",
        rules_version="v",
        reasons=[],
        priority="P3",
    )
    return record.model_dump_json().encode()


async def test_complaints_from_the_desk_count_once_and_three_make_a_customer_at_risk(
    outputs: Outputs,
) -> None:
    async with INTAKE.test_context() as agent:
        for n, (fid, category) in enumerate(
            [
                ("F1", "product_issue"),
                ("F1", "product_issue"),
                ("F2", "praise"),
                ("F3", "delivery_issue"),
                ("F4", "service_issue"),
            ]
        ):
            at = T0 + (n + 1) * DAY
            value = classified_feedback(fid, category, at)
            await deliver(agent, value, topic=FEEDBACK, key=fid.encode(), offset=n)
    facts = outputs.values("customer_care")
    assert [f.fact.feedback_id for f in facts] == ["F1", "F1", "F3", "F4"]  # praise is none

    async with CARE.test_context() as agent:
        await deliver(agent, care_input(order("A", T0), 1), topic=CARE_TOPIC, offset=0)
        for n, item in enumerate(facts):
            await deliver(agent, wire(item, "care_input"), topic=CARE_TOPIC, offset=1 + n)
    state = ot.tables.customer_care["C-1"]
    assert len(state.complaints) == 3  # F1 re-published by the desk counts once
    assert [m.to_segment for m in moves(outputs)] == ["new", "at_risk"]
    assert moves(outputs)[1].reason.startswith("3 complaints")
    assert any(t.strategy_id == "win-back-offer" for t in tasks(outputs))


async def test_insight_sends_created_orders_and_final_statuses_to_care(outputs: Outputs) -> None:
    created = record("A", T0, customer_id="C-1")
    final = {"cause": "status-changed", "customer_id": "C-1"}
    processing = record(
        "A", T0, **final, event_id="s1", status="processing", status_category="in_progress"
    )
    delivered = record(
        "A", T0, **final, event_id="s2", status="delivered", status_category="completed"
    )
    seen = AsyncMock(name="insight-customers.send")
    with patch.object(ot.topics.insight_customers, "send", new=seen):
        await through_insight([created, processing, delivered])
    assert seen.await_count == 1
    sent = outputs.kwargs("customer_care")
    assert [(k["key"], k["value"].fact.kind) for k in sent] == [
        (b"C-1", "order"),
        (b"C-1", "status"),
    ]
    assert sent[1]["value"].fact.status == "delivered"
    assert sent[0]["value"].source.topic == CLASSIFIED


async def through_insight(records: list[ClassifiedOrder]) -> None:
    async with INSIGHT.test_context() as agent:
        for n, r in enumerate(records):
            value = r.model_dump_json().encode()
            await deliver(agent, value, topic=CLASSIFIED, key=r.order_id.encode(), offset=n)
