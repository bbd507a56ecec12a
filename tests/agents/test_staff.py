"""The staff agent (facts -> KPIs per person and team), and the feedback desk's facts end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from streams.records import StaffEvent
from tests.agents.builders import wire
from tests.agents.conftest import Outputs, deliver, ot
from tests.agents.test_feedback import BROKEN, DESK, INTAKE, STATUS, UPDATES, intake, to_desk
from tests.integration.events import dumps, feedback, feedback_status

STAFF = ot.app.agents["staff"]
STAFF_EVENTS = ot.topics.staff_events.get_topic_name()
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))


def fact(event_id: str, kind: str, *, team: str = "fulfilment", **fields: object) -> StaffEvent:
    return StaffEvent.model_validate(
        {
            "event_id": event_id,
            "person": "u-7",
            "team": team,
            "kind": kind,
            "subject": "SO-1",
            "occurred_at": T0,
        }
        | fields
    )


async def to_staff(*facts: tuple[StaffEvent, int]) -> None:
    async with STAFF.test_context() as agent:
        for f, offset in facts:
            await deliver(
                agent,
                wire(f, "staff_event"),
                topic=STAFF_EVENTS,
                key=f.person.encode(),
                offset=offset,
            )


def sample(name: str, **labels: str) -> float:
    return ot.registry.get_sample_value(name, labels) or 0.0


async def test_facts_count_once_per_person_and_team_and_metrics_name_only_the_team() -> None:
    team = "staff-test-a"  # a team of its own: the registry lives as long as the test session
    changed = fact("st-1:status_change:u-7", "status_change", team=team, status="processing")
    held = fact("st-2:held:u-7", "held", team=team, status="processing", seconds=5400.0)
    fixed = fact("c-1:correction_received:u-7", "correction_received", team=team, dimension="tags")
    await to_staff((changed, 10), (held, 11), (fixed, 12))
    await to_staff((changed, 10), (held, 11))  # our replay after a crash: same offsets
    await to_staff((held, 13))  # the order book sent it again: another offset, the same id
    person = ot.tables.staff["u-7"]
    t = person.total
    assert (t.status_changes, t.hold.n, t.held["processing"].total) == (1, 1, 5400.0)
    assert t.corrections_received == {"tags": 1} and person.team == team
    assert ot.tables.staff_teams[f"0/{team}"].total == t
    assert sample("ordertriage_staff_status_changes_total", team=team) == 1
    assert sample("ordertriage_staff_hold_seconds_count", team=team, status="processing") == 1
    assert sample("ordertriage_staff_corrections_received_total", team=team, dimension="tags") == 1
    labels = {
        label
        for metric in ot.registry.collect()
        if metric.name.startswith("ordertriage_staff_")
        for s in metric.samples
        for label in s.labels.values()
    }
    assert team in labels and "u-7" not in labels  # never a person's id as a label


async def test_one_person_in_two_teams_counts_into_each_team_once() -> None:
    await to_staff(
        (fact("a:status_change:u-7", "status_change", team="north"), 0),
        (fact("b:status_change:u-7", "status_change", team="south"), 1),
        (fact("c:sla_breach:u-7", "sla_breach", team="south"), 2),
    )
    assert ot.tables.staff["u-7"].total.status_changes == 2
    assert ot.tables.staff["u-7"].team == "south"  # the latest fact's
    north, south = ot.tables.staff_teams["0/north"], ot.tables.staff_teams["0/south"]
    assert (north.total.status_changes, north.total.sla_breaches) == (1, 0)
    assert (south.total.status_changes, south.total.sla_breaches) == (1, 1)


async def change(outputs: Outputs, fid: str, status: str, by: str, minutes: int) -> None:
    """A status change through the intake and the desk (and the desk's replay of it)."""
    outputs.feedback_updates.reset_mock()
    async with INTAKE.test_context() as agent:
        raw = dumps(feedback_status(fid, status, by=by, minutes=minutes))
        await deliver(agent, raw, topic=STATUS, key=fid.encode())
    (update,) = outputs.values("feedback_updates")
    async with DESK.test_context() as agent:
        message = await deliver(
            agent, wire(update, "feedback_update"), topic=UPDATES, key=fid.encode()
        )
        # Our replay of the same record: the same staff facts again, with the same ids.
        await deliver(
            agent,
            wire(update, "feedback_update"),
            topic=UPDATES,
            key=fid.encode(),
            offset=message.offset,
        )


async def test_the_feedback_desk_tells_first_response_resolution_and_reopen(
    outputs: Outputs,
) -> None:
    case = await intake(outputs, feedback("FB-K", BROKEN, rating=1))
    await to_desk(case)
    state = ot.tables.feedback["FB-K"]
    assert state.assignment.team == "quality"
    await change(outputs, "FB-K", "acknowledged", "li.wei", 30)
    await change(outputs, "FB-K", "responded", "li.wei", 45)  # not the first: nothing
    await change(outputs, "FB-K", "resolved", "li.wei", 120)
    await change(outputs, "FB-K", "reopened", "customer-care", 200)
    await change(outputs, "FB-K", "resolved", "sara.cole", 300)
    sent = outputs.values("staff_events")
    assert all(isinstance(e, StaffEvent) for e in sent)
    assert [(e.kind, e.person) for e in sent] == [
        (kind, person)
        for kind, person in [
            ("feedback_first_response", "li.wei"),
            ("feedback_resolved", "li.wei"),
            ("feedback_reopened", "li.wei"),  # against whoever had resolved it
            ("feedback_resolved", "sara.cole"),
        ]
        for _ in range(2)  # each sent again, the same, by the replay
    ]
    assert [e.event_id for e in sent[::2]] == [e.event_id for e in sent[1::2]]
    assert sent[0].event_id == "FB-K-acknowledged-30:feedback_first_response:li.wei"
    keys = [kwargs["key"] for kwargs in outputs.kwargs("staff_events")]
    assert keys[0] == b"li.wei" and keys[-1] == b"sara.cole"  # keyed by person

    await to_staff(*((e, n) for n, e in enumerate(sent)))
    li, sara = ot.tables.staff["li.wei"], ot.tables.staff["sara.cole"]
    assert li.team == "quality" and li.total.first_response.total == 30 * 60
    assert li.total.resolution.n == 1 and li.total.resolution.total == 120 * 60
    assert li.total.reopened == 1 and li.total.reopen_rate == 1.0
    assert sara.total.resolution.total == 300 * 60 and sara.total.reopen_rate == 0.0
    team = ot.tables.staff_teams["0/quality"].total
    assert (team.resolution.n, team.reopened, team.reopen_rate) == (2, 1, 0.5)
