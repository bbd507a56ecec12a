"""streams.classify.sla and the configurable state machine."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.events import Status, StatusCategory
from streams.classify import sla
from streams.classify.lifecycle import CATEGORIES, TRANSITIONS, InvalidTransition, Lifecycle
from streams.classify.rules import RuleSet, RuleSetError
from tests.unit.conftest import NOW, classify, make_customer, make_order

RULES = RuleSet.default()
P1_FACTS = {"priority": "P1"}


def clocks_for(status: Status, facts: dict[str, object], running: list[sla.SlaClock] = []):  # noqa: B006
    return sla.start(RULES.slas, status, NOW, facts, running)  # type: ignore[arg-type]


def test_p1_order_gets_the_confirm_clock_others_do_not() -> None:
    (clock,) = clocks_for(Status.NEW, P1_FACTS)
    assert clock.sla_id == "confirm-p1"
    assert clock.due_at == NOW + timedelta(hours=2)
    assert clock.ladder == ["sales_rep", "sales_manager", "regional_director"]
    assert clocks_for(Status.NEW, {"priority": "P2"}) == []


def test_ladder_fires_each_step_once_at_its_time() -> None:
    record = classify(make_order(total="20000", customer=make_customer(vip=True)))
    clocks = clocks_for(Status.NEW, P1_FACTS)
    steps = []
    for minutes in (119, 120, 121, 179, 180, 240, 600, 6000):
        clocks, due = sla.fire_due(clocks, record, NOW + timedelta(minutes=minutes))
        steps += [(minutes, step, n.recipient_role, n.kind) for step, n in due]
    assert steps == [
        (120, 0, "sales_rep", "sla_reminder"),
        (180, 1, "sales_manager", "sla_escalation"),
        (240, 2, "regional_director", "sla_escalation"),
    ]
    assert sla.next_wakeup(clocks) is None


def test_a_late_tick_sends_every_missed_step_with_stable_ids() -> None:
    record = classify(make_order(total="20000", customer=make_customer(vip=True)))
    clocks = clocks_for(Status.NEW, P1_FACTS)
    _, first = sla.fire_due(clocks, record, NOW + timedelta(hours=5))
    _, again = sla.fire_due(
        clocks, record, NOW + timedelta(hours=6)
    )  # a replay from the same state
    assert [s for s, _ in first] == [0, 1, 2]
    assert [n.notification_id for _, n in first] == [n.notification_id for _, n in again]
    assert len({n.notification_id for _, n in first}) == 3


def test_clock_spans_statuses_and_stops_when_they_are_left() -> None:
    (ship,) = clocks_for(Status.CONFIRMED, {"priority": "P3"})
    later = sla.start(
        RULES.slas, Status.PROCESSING, NOW + timedelta(days=1), {"priority": "P3"}, [ship]
    )
    assert later == [ship]  # same clock, same deadline: 3 days from confirmation
    shipped = sla.start(
        RULES.slas, Status.SHIPPED, NOW + timedelta(days=2), {"priority": "P3"}, [ship]
    )
    assert shipped == []  # met


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("slas: [{id: s, statuses: [new], within: 2 hours, ladder: [a]}]", "is not a duration"),
        ("slas: [{id: s, statuses: [neww], within: 2h, ladder: [a]}]", "sla 's', field statuses.0"),
        ("slas: [{id: s, statuses: [new], within: 2h, ladder: []}]", "sla 's', field ladder"),
        ("slas: [{id: s, statuses: [new], within: 0s, ladder: [a]}]", "must be longer than 0"),
        (
            "slas: [{id: s, statuses: [new], within: 1h, ladder: [a], when: {prio: P1}}]",
            "unknown fact 'prio'; did you mean 'priority'?",
        ),
        (
            "lifecycle: {transitions: {new: [new]}}",
            "transitions must list every status",
        ),
    ],
)
def test_invalid_slas_and_lifecycles_are_refused(text: str, expected: str) -> None:
    with pytest.raises(RuleSetError) as caught:
        RuleSet.from_text(text, "t.yaml")
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_the_shipped_state_machine_is_the_documented_one() -> None:
    machine = RULES.lifecycle
    assert {s: frozenset(t) for s, t in machine.transitions.items()} == TRANSITIONS
    assert machine.categories == CATEGORIES


def test_a_custom_machine_changes_what_is_allowed() -> None:
    transitions = {s: sorted(t) for s, t in TRANSITIONS.items()}
    transitions[Status.SHIPPED] = [Status.DELIVERED, Status.RETURNED, Status.CANCELLED]
    machine = Lifecycle(transitions=transitions)
    machine.check(Status.SHIPPED, Status.SHIPPED, Status.CANCELLED)
    with pytest.raises(InvalidTransition):
        Lifecycle().check(Status.SHIPPED, Status.SHIPPED, Status.CANCELLED)
    with pytest.raises(ValueError, match="may not reopen"):
        Lifecycle(transitions={**transitions, Status.CANCELLED: [Status.NEW]})
    assert machine.category(Status.RETURNED) is StatusCategory.CLOSED
