"""The feedback agents: intake (classify, link), the order book's link, the desk (route, SLAs)."""

from __future__ import annotations

from datetime import timedelta

from schemas.events import (
    FeedbackClassified,
    FeedbackStatus,
    FeedbackStatusChanged,
    Notification,
)
from streams.records import FeedbackCase, FeedbackUpdate
from tests.agents.builders import ENRICHED, ORDER_BOOK, enriched, tick, wire
from tests.agents.conftest import AGENTS, Outputs, deliver, ot
from tests.integration.events import dumps, feedback, feedback_status

INTAKE = ot.app.agents["feedback-intake"]
DESK = ot.app.agents["feedback-desk"]
RECEIVED = ot.topics.feedback_received.get_topic_name()
STATUS = ot.topics.feedback_status.get_topic_name()
BY_ORDER = ot.topics.feedback_by_order.get_topic_name()
CASES = ot.topics.feedback_cases.get_topic_name()
UPDATES = ot.topics.feedback_updates.get_topic_name()
TICKS = ot.topics.feedback_ticks.get_topic_name()

LATE = "快递 three days late 还没到, 物流一直不更新"
BROKEN = "净水器滤芯卡口跟机器对不上,根本装不进去,第二次换货还是一样"


async def intake(outputs: Outputs, event: dict) -> FeedbackCase:
    """Run ``event`` through the intake; the case it sent on (to the order book or the desk)."""
    async with INTAKE.test_context() as agent:
        await deliver(agent, dumps(event), topic=RECEIVED, key=event["feedback_id"].encode())
    sent = outputs.values("feedback_by_order") + outputs.values("feedback_cases")
    outputs.feedback_by_order.reset_mock()
    outputs.feedback_cases.reset_mock()
    (case,) = sent
    return case


async def to_desk(case: FeedbackCase, *, offset: int | None = None) -> None:
    async with DESK.test_context() as agent:
        await deliver(
            agent,
            wire(case, "feedback_case"),
            topic=CASES,
            offset=offset,
            key=case.feedback_id.encode(),
        )


async def test_a_complaint_about_an_order_is_classified_tagged_on_the_order_and_routed(
    outputs: Outputs,
) -> None:
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1", "25000.00"), "enriched_order"), topic=ENRICHED)
    outputs.classified.reset_mock()
    outputs.notifications.reset_mock()

    case = await intake(outputs, feedback("FB-1", LATE, order_id="SO-1", channel="chat"))
    assert case.decision.category == "delivery_issue" and not case.decision.needs_review
    assert case.decision.language == "mixed" and case.order is None
    assert "text" not in case.model_dump()  # the words stay in the input topic

    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(case, "feedback_case"), topic=BY_ORDER, key=b"SO-1")
        await deliver(agent, wire(case, "feedback_case"), topic=BY_ORDER, key=b"SO-1")  # replay
    tagged = outputs.values("classified")
    assert "has-complaint" in tagged[0].tags and tagged[0].event_id == "feedback:FB-1"
    assert "has-complaint" in ot.tables.orders["SO-1"].classification.tags
    assert ot.tables.orders["SO-1"].facts.complaints == ["FB-1"]  # counted once
    linked = outputs.values("feedback_cases")
    assert len(linked) == 2 and linked[0].order.known and linked[0].order.value_tier == "high"

    outputs.notifications.reset_mock()  # the order's own (a rule may fire on the new tag)
    await to_desk(linked[0])
    (record,) = outputs.values("feedback_classified")
    assert isinstance(record, FeedbackClassified)
    assert (record.team, record.assignee) == ("logistics", "wang.lei")
    assert record.priority.value == "P2"  # P3 raised: a delivery complaint on a high-value order
    (note,) = outputs.values("notifications")
    assert isinstance(note, Notification)
    assert (note.kind, note.recipient_role, note.assignee) == (
        "feedback_assigned",
        "logistics_team",
        "wang.lei",
    )
    assert note.feedback_id == "FB-1" and note.order_id == "SO-1"


async def test_a_replay_never_assigns_again_and_turns_go_round(outputs: Outputs) -> None:
    cases = [
        await intake(outputs, feedback(f"FB-{i}", LATE, customer_id=f"C-{i}")) for i in range(3)
    ]
    await to_desk(cases[0], offset=10)
    await to_desk(cases[0], offset=10)  # our replay after a crash
    await to_desk(cases[1], offset=11)
    await to_desk(cases[2], offset=12)
    assignees = [r.assignee for r in outputs.values("feedback_classified")]
    assert assignees == ["wang.lei", "wang.lei", "sara.cole", "wang.lei"]
    notes = outputs.values("notifications")
    assert len({n.notification_id for n in notes}) == 3  # the replay re-sends the same id
    assert ot.tables.feedback["FB-0"].assignment.assignee == "wang.lei"


async def test_an_unsure_message_goes_to_the_review_queue_not_a_team(outputs: Outputs) -> None:
    case = await intake(outputs, feedback("FB-9", "嗯"))
    assert case.decision.needs_review
    await to_desk(case)
    (record,) = outputs.values("feedback_classified")
    assert record.needs_review and record.team is None and record.assignee is None
    (note,) = outputs.values("notifications")
    assert (note.kind, note.recipient_role) == ("feedback_review", "feedback_triage")


async def test_status_changes_stop_the_clocks_and_reminders_escalate(outputs: Outputs) -> None:
    case = await intake(outputs, feedback("FB-2", BROKEN, rating=1))
    assert case.decision.category == "product_issue"
    await to_desk(case)
    state = ot.tables.feedback["FB-2"]
    assert [c.sla_id for c in state.clocks] == [
        "feedback-normal:first_response",
        "feedback-normal:resolution",
    ]
    outputs.notifications.reset_mock()
    first_due = state.clocks[0].due_at
    async with DESK.test_context() as agent:
        at = (first_due + timedelta(seconds=1)).timestamp()
        await deliver(agent, tick(at), topic=TICKS)
        await deliver(agent, tick(at), topic=TICKS)  # a step fires once
    (reminder,) = outputs.values("notifications")
    assert reminder.kind == "feedback_sla_reminder" and reminder.recipient_role == "quality_team"
    async with INTAKE.test_context() as agent:
        change = dumps(feedback_status("FB-2", "acknowledged", by="li.wei", minutes=300))
        await deliver(agent, change, topic=STATUS, key=b"FB-2")
    (update,) = outputs.values("feedback_updates")
    async with DESK.test_context() as agent:
        await deliver(agent, wire(update, "feedback_update"), topic=UPDATES, key=b"FB-2")
        bad = FeedbackUpdate(
            change=update.change.model_copy(
                update={"event_id": "x", "status": FeedbackStatus.REOPENED}
            ),
            source=update.source,
        )
        await deliver(agent, wire(bad, "feedback_update"), topic=UPDATES, key=b"FB-2")
    state = ot.tables.feedback["FB-2"]
    assert state.status == "acknowledged" and state.changed_by == "li.wei"
    assert [c.sla_id for c in state.clocks] == ["feedback-normal:resolution"]
    assert [d.code for d in outputs.dead_letters()] == ["invalid_transition"]
    assert outputs.values("feedback_classified")[-1].status == "acknowledged"


async def test_bad_feedback_is_dead_lettered_with_the_reason(outputs: Outputs) -> None:
    async with INTAKE.test_context() as agent:
        await deliver(agent, dumps(feedback("FB-3", "   \x00 ")), topic=RECEIVED, key=b"FB-3")
        await deliver(agent, dumps(feedback("FB-4", "x", channel="fax")), topic=RECEIVED)
        await deliver(agent, b"\xff not json", topic=RECEIVED)
        await deliver(agent, dumps(feedback("FB-5", "好" * 20001)), topic=RECEIVED)
        await deliver(agent, dumps(feedback("FB-6", "\U0001f600 \u202e مرحبا")), topic=RECEIVED)
    codes = [d.code for d in outputs.dead_letters()]
    assert codes == ["schema_violation", "schema_violation", "not_utf8", "schema_violation"]
    (case,) = outputs.values("feedback_cases")  # any Unicode gets a decision
    assert case.feedback_id == "FB-6" and case.decision.needs_review
    async with DESK.test_context() as agent:
        update = FeedbackUpdate(change=feedback_update_event("FB-404"), source=case.source)
        await deliver(agent, wire(update, "feedback_update"), topic=UPDATES, key=b"FB-404")
    assert outputs.dead_letters()[-1].code == "unknown_feedback"


def feedback_update_event(feedback_id: str) -> FeedbackStatusChanged:
    return FeedbackStatusChanged.model_validate(feedback_status(feedback_id, "resolved"))


async def test_a_shadow_model_classifies_beside_the_live_one_and_decides_nothing(
    outputs: Outputs,
) -> None:
    import dataclasses

    book = AGENTS.feedback_intake.classifiers.book
    live = book.live
    book.shadow = dataclasses.replace(live, coef=-live.coef, meta={**live.meta, "n": 1})
    try:
        case = await intake(outputs, feedback("FB-S", BROKEN, rating=1))
    finally:
        book.shadow = None
    assert case.decision.model_version == live.version
    assert case.shadow is not None and case.shadow.model_version != live.version
    assert case.shadow.category != case.decision.category  # turned around: it disagrees
    await to_desk(case)
    (record,) = outputs.values("feedback_classified")
    assert record.category == case.decision.category and record.team == "quality"
    assert (record.shadow_model_version, record.shadow_category) == (
        case.shadow.model_version,
        case.shadow.category,
    )


async def test_a_persons_category_routes_a_feedback_out_of_review(outputs: Outputs) -> None:
    case = await intake(outputs, feedback("FB-R", "嗯"))
    await to_desk(case)
    outputs.notifications.reset_mock()
    outputs.feedback_classified.reset_mock()
    fix = {
        "event_id": "c-1",
        "schema_version": 1,
        "occurred_at": case.occurred_at.isoformat(),
        "feedback_id": "FB-R",
        "value": "billing_issue",
        "corrected_by": "u-7",
        "reason": "called back: double charge",
    }
    corrections = ot.topics.feedback_corrections.get_topic_name()
    async with INTAKE.test_context() as agent:
        await deliver(agent, dumps(fix), topic=corrections, key=b"FB-R")
        await deliver(
            agent, dumps({**fix, "event_id": "c-2", "value": "refunds"}), topic=corrections
        )
    updates = outputs.values("feedback_updates")
    async with DESK.test_context() as agent:
        for update in updates:
            await deliver(agent, wire(update, "feedback_update"), topic=UPDATES, key=b"FB-R")
    (record,) = outputs.values("feedback_classified")
    assert (record.category, record.model_category, record.corrected_by) == (
        "billing_issue",
        case.decision.category,
        "u-7",
    )
    assert (record.team, record.assignee, record.needs_review) == ("finance", "liu.yang", False)
    (note,) = outputs.values("notifications")
    assert note.kind == "feedback_assigned" and note.recipient_role == "finance_team"
    assert [d.code for d in outputs.dead_letters()] == ["invalid_correction"]
    (made,) = outputs.values("staff_events")  # the person's correction counts for them
    assert (made.kind, made.person, made.dimension) == ("correction_made", "u-7", "category")
