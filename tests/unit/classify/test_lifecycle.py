"""Status lifecycle, status changes of a classified order, and the notifications they cause."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from schemas.events import ClassifiedOrder, Notification, Status, StatusCategory
from streams.classify.lifecycle import (
    CATEGORIES,
    TRANSITIONS,
    InvalidTransition,
    check_transition,
    status_category,
)
from streams.classify.notify import notification_id
from tests.unit.conftest import (
    CONTACT_EMAIL,
    CONTACT_NAME,
    CONTACT_PHONE,
    NOW,
    change_status,
    classify,
    make_customer,
    make_order,
    make_status_change,
    notifications_for,
)

LATER = NOW + timedelta(hours=1)
PAIRS = list(itertools.product(Status, Status))


def walk(record: ClassifiedOrder, *statuses: str) -> ClassifiedOrder:
    for to in statuses:
        change = make_status_change(record.status, to, order_id=record.order_id)
        record = change_status(record, change, now=LATER)
    return record


@pytest.mark.parametrize(("current", "to"), PAIRS)
def test_transition_allowed_iff_listed(current: Status, to: Status) -> None:
    if to in TRANSITIONS[current]:
        check_transition(current, current, to)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition(current, current, to)
        assert info.value.code == "invalid_transition"


def test_completed_to_processing_is_refused() -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(Status.COMPLETED, Status.COMPLETED, Status.PROCESSING)
    assert info.value.code == "invalid_transition"
    assert "allowed: returned" in info.value.reason


def test_from_status_mismatch() -> None:
    with pytest.raises(InvalidTransition) as info:
        check_transition(Status.SHIPPED, Status.NEW, Status.CONFIRMED)
    assert info.value.code == "status_mismatch"


def test_every_status_has_a_category_and_finals_are_closed() -> None:
    assert set(CATEGORIES) == set(Status) == set(TRANSITIONS)
    for status in Status:
        assert isinstance(status_category(status), StatusCategory)
    assert status_category(Status.NEW) is StatusCategory.NEW
    assert status_category(Status.COMPLETED) is StatusCategory.COMPLETED
    for final in (Status.CANCELLED, Status.RETURNED):
        assert TRANSITIONS[final] == frozenset()
        assert status_category(final) is StatusCategory.CLOSED


def test_status_change_keeps_classification() -> None:
    created = classify(make_order(total="20000", customer=make_customer(vip=True)))
    change = make_status_change("new", "confirmed", event_id="E-9")
    after = change_status(created, change, now=LATER)
    updated = {"event_id", "cause", "occurred_at", "classified_at", "status", "status_category"}
    assert after.model_dump(exclude={*updated, "reasons"}) == created.model_dump(
        exclude={*updated, "reasons"}
    )
    assert (after.value_tier, after.customer_segment) == (created.value_tier, "vip")
    assert (after.tags, after.priority) == (created.tags, created.priority)
    assert after.status is Status.CONFIRMED
    assert after.status_category is StatusCategory.IN_PROGRESS
    assert (after.event_id, after.cause, after.classified_at) == ("E-9", "status-changed", LATER)
    assert {k: v for k, v in after.reasons.items() if k != "status"} == {
        k: v for k, v in created.reasons.items() if k != "status"
    }
    assert after.reasons["status"].startswith("new -> confirmed by u-1")


def test_status_change_refused_by_the_state_machine() -> None:
    completed = walk(classify(), "confirmed", "processing", "shipped", "delivered", "completed")
    with pytest.raises(InvalidTransition) as info:
        walk(completed, "processing")
    assert info.value.code == "invalid_transition"


def kinds(notes: list[Notification]) -> list[tuple[str, str]]:
    return [(n.kind, n.recipient_role) for n in notes]


def test_created_high_value_notifies_sales_manager() -> None:
    record = classify(make_order(total="12800.00"))
    notes = notifications_for(None, record, now=NOW)
    assert kinds(notes) == [("high_value_order", "sales_manager")]
    note = notes[0]
    assert (note.order_id, note.cause_event_id) == (record.order_id, record.event_id)
    assert (note.priority, note.rules_version) == (record.priority, record.rules_version)
    assert note.severity == "high"


def test_created_vip_notifies_account_manager() -> None:
    record = classify(make_order(total="50", customer=make_customer(vip=True)))
    notes = notifications_for(None, record, now=NOW)
    assert kinds(notes) == [("vip_order", "account_manager")]
    assert notes[0].severity == "warning"


def test_created_high_value_vip_notifies_both() -> None:
    record = classify(make_order(total="12800", customer=make_customer(vip=True)))
    notes = notifications_for(None, record, now=NOW)
    assert kinds(notes) == [("high_value_order", "sales_manager"), ("vip_order", "account_manager")]
    assert {n.severity for n in notes} == {"high"}


def test_ordinary_order_notifies_nobody() -> None:
    assert notifications_for(None, classify(), now=NOW) == []


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        (["cancelled"], "order_cancelled"),
        (["confirmed", "processing", "cancelled"], "order_cancelled"),
        (["confirmed", "processing", "shipped", "returned"], "order_returned"),
        (
            ["confirmed", "processing", "shipped", "delivered", "completed", "returned"],
            "order_returned",
        ),
    ],
)
def test_cancel_and_return_notify_customer_service(path: list[str], kind: str) -> None:
    created = classify(make_order(total="12800", customer=make_customer(vip=True)))
    before = walk(created, *path[:-1])
    after = walk(before, path[-1])
    notes = notifications_for(before, after, now=LATER)
    assert kinds(notes) == [(kind, "customer_service")]
    assert f"after {before.status.value}" in notes[0].message


@pytest.mark.parametrize("to", ["confirmed", "processing", "shipped", "delivered", "completed"])
def test_other_status_changes_notify_nobody(to: str) -> None:
    created = classify(make_order(total="12800", customer=make_customer(vip=True)))
    path = ["confirmed", "processing", "shipped", "delivered", "completed"]
    before = walk(created, *path[: path.index(to)])
    assert notifications_for(before, walk(before, to), now=LATER) == []


def test_notification_ids_are_deterministic() -> None:
    record = classify(make_order(total="12800"))
    first = notifications_for(None, record, now=NOW)
    again = notifications_for(None, record, now=LATER)
    assert [n.notification_id for n in first] == [n.notification_id for n in again]
    assert first[0].notification_id == notification_id("high_value_order", "SO-1")
    assert notification_id("high_value_order", "SO-2") != first[0].notification_id
    assert notification_id("vip_order", "SO-1") != first[0].notification_id


def test_notifications_carry_no_contact_data() -> None:
    created = classify(make_order(total="12800", customer=make_customer(vip=True)))
    notes = notifications_for(None, created, now=NOW)
    for path in (["cancelled"], ["confirmed", "processing", "shipped", "returned"]):
        before = walk(created, *path[:-1])
        notes += notifications_for(before, walk(before, path[-1]), now=LATER)
    assert len(notes) == 4
    for note in notes:
        text = note.model_dump_json()
        for secret in (CONTACT_NAME, CONTACT_EMAIL, CONTACT_PHONE):
            assert secret not in text
