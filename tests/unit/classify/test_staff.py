"""The staff KPI core: counted once per fact, hold-time math, days, teams, feedback credits."""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from schemas.events import FeedbackStatus
from streams.classify import feedback_desk as desk
from streams.classify import staff
from streams.classify.ledger import Seen
from streams.records import StaffEvent

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=timezone(timedelta(hours=8)))


def fact(n: int, kind: str = "status_change", **fields: object) -> StaffEvent:
    values: dict[str, object] = {
        "event_id": f"e-{n}:{kind}:u-7",
        "person": "u-7",
        "team": "fulfilment",
        "kind": kind,
        "subject": f"SO-{n}",
        "occurred_at": T0,
    }
    return StaffEvent.model_validate(values | fields)


def run(
    facts: list[tuple[StaffEvent, int]],
    person: staff.PersonKpis | None = None,
    team: staff.TeamKpis | None = None,
) -> tuple[staff.PersonKpis | None, staff.TeamKpis | None, list[Seen]]:
    """Feed (fact, offset) pairs as the agent does: each step's writes replace the state."""
    seen = []
    for f, offset in facts:
        done = staff.step(person, team, name=f.person, partition=0, fact=f, offset=offset)
        person = done.person or person
        team = done.team or team
        seen.append(done.seen)
    return person, team, seen


def test_each_kind_counts_into_its_kpi() -> None:
    facts = [
        fact(1),
        fact(2),
        fact(3, "held", status="processing", seconds=600),
        fact(4, "held", status="processing", seconds=1800),
        fact(5, "held", status="shipped", seconds=7200),
        fact(6, "sla_breach", status="processing"),
        fact(7, "correction_made", dimension="priority"),
        fact(8, "correction_received", dimension="priority"),
        fact(9, "correction_received", dimension="value_tier"),
        fact(10, "feedback_first_response", seconds=120),
        fact(11, "feedback_resolved", seconds=3600),
        fact(12, "feedback_resolved", seconds=5400),
        fact(13, "feedback_reopened"),
    ]
    person, team, _ = run([(f, i) for i, f in enumerate(facts)])
    assert person is not None and team is not None
    t = person.total
    assert t.status_changes == 2 and t.sla_breaches == 1 and t.reopened == 1
    assert t.held["processing"].n == 2 and t.held["processing"].total == 2400
    assert t.held["shipped"].n == 1 and t.hold.n == 3
    assert t.corrections_made == {"priority": 1}
    assert t.corrections_received == {"priority": 1, "value_tier": 1}
    assert t.reopen_rate == 0.5  # 1 reopened of 2 resolved
    head = staff.headline(t)
    assert head["orders_handled"] == 2 and head["corrections_received"] == 2
    assert head["first_response_median_seconds"] == 120.0
    assert team.total == t  # one person, one team: the same figures
    assert person.days == {"2026-12-01": t} and person.team == "fulfilment"


def test_a_replay_is_a_no_op_and_a_resend_at_another_offset_counts_once() -> None:
    first = [(fact(1), 10), (fact(2, "held", status="new", seconds=60), 11)]
    person, team, seen = run(first)
    again, team_again, seen_again = run(
        [(fact(1), 10), (fact(2, "held", status="new", seconds=60), 11), (fact(1), 12)],
        person,
        team,
    )
    assert seen == [Seen.FIRST, Seen.FIRST]
    assert seen_again == [Seen.REPLAY, Seen.REPLAY, Seen.DUPLICATE]
    assert again == person and team_again == team
    assert again is not None and again.total.status_changes == 1


def test_a_replay_repairs_a_team_write_a_crash_lost_but_never_counts_a_resend() -> None:
    f = fact(1, "held", status="new", seconds=60)
    person, team, _ = run([(f, 10)])
    assert team is not None and team.total.hold.n == 1
    # The crash kept the person's record, not the team's: the replay counts the team only.
    done = staff.step(person, None, name="u-7", partition=0, fact=f, offset=10)
    assert done.seen is Seen.REPLAY and done.person is None
    assert done.team is not None and done.team.total == team.total
    # The other way round: the team kept, the person lost; the person counts, the team not.
    done = staff.step(None, team, name="u-7", partition=0, fact=f, offset=10)
    assert done.person is not None and done.person.total.hold.n == 1 and done.team is None
    # A re-send (same id, later offset) never reaches the team, even one that lost a write.
    done = staff.step(person, None, name="u-7", partition=0, fact=f, offset=11)
    assert done.seen is Seen.DUPLICATE and done.person is None and done.team is None


def test_memory_per_person_is_bounded_and_forgotten_ids_still_replay_by_offset() -> None:
    n = staff.KEEP_EVENTS + 50
    person, _, _ = run([(fact(i), i) for i in range(n)])
    assert person is not None and len(person.applied) == staff.KEEP_EVENTS
    assert "e-0:status_change:u-7" not in person.applied
    _, _, seen = run([(fact(0), 0)], person)  # its id is forgotten; its offset is not
    assert seen == [Seen.REPLAY]
    assert person.total.status_changes == n


def test_days_are_utc_and_only_the_last_four_weeks_are_kept() -> None:
    late = T0.replace(hour=7)  # 07:00 +08:00 is 23:00 UTC the day before
    assert staff.day_of(late) == "2026-11-30"
    facts = [(fact(i, occurred_at=T0 + timedelta(days=i)), i) for i in range(40)]
    person, _, _ = run(facts)
    assert person is not None and len(person.days) == staff.KEEP_DAYS
    assert min(person.days) == (T0 + timedelta(days=40 - staff.KEEP_DAYS)).date().isoformat()
    assert person.total.status_changes == 40  # the total keeps everything
    # A fact older than every kept day counts in the total only.
    old, _, _ = run([(fact(99, occurred_at=T0 - timedelta(days=90)), 99)], person)
    assert old is not None and old.days == person.days and old.total.status_changes == 41


def test_trend_compares_a_period_with_the_one_before() -> None:
    facts = [(fact(i, occurred_at=T0 - timedelta(days=i % 14)), i) for i in range(28)]
    facts += [(fact(100, occurred_at=T0), 100)]
    person, _, _ = run(facts)
    assert person is not None
    this, before = staff.trend(person.days, T0.date(), 7)
    assert (this.status_changes, before.status_changes) == (15, 14)


def test_teams_are_kept_per_partition_and_a_fact_without_a_team_is_unassigned() -> None:
    f = fact(1, team=None)
    done = staff.step(None, None, name="u-7", partition=3, fact=f, offset=0)
    assert done.team is not None and done.team.team == staff.UNASSIGNED
    assert done.team.partition == 3 and staff.team_key(3, staff.team_of(f)) == "3/unassigned"
    assert done.person is not None and done.person.team is None
    moved = staff.step(done.person, None, name="u-7", partition=3, fact=fact(2), offset=1)
    assert moved.person is not None and moved.person.team == "fulfilment"


def test_hold_time_math_of_the_sketch() -> None:
    one = staff.Sketch().add(5400)
    assert one.quantile(0.5) == 5400 and one.quantile(0.9) == 5400  # within the extremes
    many = staff.Sketch()
    for s in (100, 200, 300, 4000, 90000):
        many = many.add(s)
    assert many.n == 5 and many.total == 94600 and many.mean == 18920
    # The 3rd smallest (300) lies in (120, 300]: the estimate lies in the same bucket.
    median = many.quantile(0.5)
    assert median is not None and 120 < median <= 300
    assert many.quantile(1.0) == 90000 and many.quantile(0.0) == 100
    assert staff.Sketch().quantile(0.5) is None
    assert staff.Sketch().add(-3).low == 0  # a clock skew never makes a negative hold


@given(
    st.lists(st.floats(min_value=0, max_value=40 * 86400), min_size=1, max_size=60),
    st.sampled_from([0.5, 0.9]),
)
def test_a_quantile_lies_in_the_bucket_of_the_true_one(values: list[float], q: float) -> None:
    sketch = staff.Sketch()
    for v in values:
        sketch = sketch.add(v)
    ordered = sorted(values)
    true = ordered[min(len(values), max(1, math.ceil(q * len(values)))) - 1]
    estimate = sketch.quantile(q)
    assert estimate is not None and ordered[0] <= estimate <= ordered[-1]
    assert bisect_left(staff.BOUNDS, estimate) == bisect_left(staff.BOUNDS, true)
    if q == 0.5:  # and the median is never further off than its bucket's width
        width = staff.BOUNDS[min(bisect_left(staff.BOUNDS, true), len(staff.BOUNDS) - 1)]
        assert abs(estimate - statistics.median_low(values)) <= width


@given(st.lists(st.floats(min_value=0, max_value=1e6), max_size=20), st.integers(0, 20))
def test_merging_two_sketches_is_adding_every_value_to_one(values: list[float], cut: int) -> None:
    a, b, whole = staff.Sketch(), staff.Sketch(), staff.Sketch()
    for i, v in enumerate(values):
        whole = whole.add(v)
        a, b = (a.add(v), b) if i < cut else (a, b.add(v))
    merged = a.merged(b)
    assert (merged.n, merged.counts, merged.low, merged.high) == (
        whole.n,
        whole.counts,
        whole.low,
        whole.high,
    )


def test_the_desk_credits_the_responder_the_resolver_and_reopens_against_the_resolver() -> None:
    at, received = T0 + timedelta(minutes=30), T0

    def credits(status: FeedbackStatus, first: bool = False, resolver: str | None = None):
        return desk.credits(
            status, by="li.wei", at=at, received_at=received, first_response=first,
            resolver=resolver,
        )  # fmt: skip

    assert credits(FeedbackStatus.ACKNOWLEDGED, first=True) == [
        desk.Credit("feedback_first_response", "li.wei", 1800.0)
    ]
    assert credits(FeedbackStatus.RESPONDED) == []  # not the first response: nothing
    assert credits(FeedbackStatus.RESOLVED) == [desk.Credit("feedback_resolved", "li.wei", 1800)]
    assert credits(FeedbackStatus.REOPENED, resolver="wang.lei") == [
        desk.Credit("feedback_reopened", "wang.lei")
    ]
    assert credits(FeedbackStatus.REOPENED) == []  # the resolver is not known: no guess
    credit = desk.Credit("feedback_resolved", "li.wei", 1.0)
    assert (
        desk.staff_event_id("FB-1-resolved-9", credit) == "FB-1-resolved-9:feedback_resolved:li.wei"
    )


def test_a_time_without_a_zone_counts_as_utc() -> None:
    assert staff.day_of(datetime(2026, 12, 1, 23, 30)) == "2026-12-01"
    assert staff.day_of(datetime(2026, 12, 1, 23, 30, tzinfo=UTC)) == "2026-12-01"
