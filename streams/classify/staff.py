"""Staff KPIs: what each person (and each team) did and held, per UTC day and in total.

Pure: the staff agent (``streams.agents.staff``) keeps these in the staff tables and calls
them once per staff fact (``streams.records.StaffEvent``, read here through ``Fact`` so the
core imports no record). Exact under replay, like every ledger (``streams.classify.ledger``):

- a person is fed by one partition of ``<app>-staff-events`` (keyed by person), so an offset at
  or below the person's ``last_offset`` was counted (our replay: a no-op), and an event id
  recorded at another offset is an upstream re-send (counted once). ``applied`` keeps the last
  ``KEEP_EVENTS`` ids only: memory stays bounded, a re-send older than that would count again.
- a team is kept per source partition (key ``<partition>/<team>``, one writer per key, as the
  feedback desk's team load) with its own ``last_offset``, so a crash that kept the person's
  write but lost the team's is repaired by the replay, and the other way round.

Durations (time in a person's hands per status, time to first response and to resolution) go
into a ``Sketch``: a fixed histogram, so a median or p90 costs the same memory after a million
facts as after one.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from streams.classify.ledger import Seen, by_identity, by_watermark

#: The team of a fact that names none.
UNASSIGNED = "unassigned"
#: UTC days kept per person and team: four weeks, so a week compares with the week before.
KEEP_DAYS = 28
#: Event ids a person remembers (re-sends come within seconds; replays are told by offset).
KEEP_EVENTS = 256
#: Upper bounds (seconds) of the sketch's buckets, 1 min .. 30 days; a last bucket is open.
BOUNDS: tuple[float, ...] = (
    60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 12 * 3600,
    86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400,
)  # fmt: skip


class Fact(Protocol):
    """What the core reads of a staff event (``streams.records.StaffEvent``)."""

    @property
    def event_id(self) -> str: ...
    @property
    def team(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def status(self) -> str | None: ...
    @property
    def seconds(self) -> float | None: ...
    @property
    def dimension(self) -> str | None: ...


class Sketch(BaseModel):
    """Durations in fixed buckets (``BOUNDS``): count, total, extremes and quantiles."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    n: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None
    #: Bucket index -> durations in it (index ``i``: ``BOUNDS[i-1] < s <= BOUNDS[i]``).
    counts: dict[int, int] = Field(default_factory=dict)

    def add(self, seconds: float) -> Sketch:
        s = max(0.0, seconds)
        i = bisect_left(BOUNDS, s)
        return Sketch(
            n=self.n + 1,
            total=self.total + s,
            low=s if self.low is None else min(self.low, s),
            high=s if self.high is None else max(self.high, s),
            counts={**self.counts, i: self.counts.get(i, 0) + 1},
        )

    def merged(self, other: Sketch) -> Sketch:
        if not other.n:
            return self
        if not self.n:
            return other
        counts = dict(self.counts)
        for i, c in other.counts.items():
            counts[i] = counts.get(i, 0) + c
        assert self.low is not None and self.high is not None
        assert other.low is not None and other.high is not None
        return Sketch(
            n=self.n + other.n,
            total=self.total + other.total,
            low=min(self.low, other.low),
            high=max(self.high, other.high),
            counts=counts,
        )

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    def quantile(self, q: float) -> float | None:
        """The ``ceil(q n)``-th smallest duration, estimated inside the bucket that holds it
        (so never further off than that bucket's width), within the extremes seen."""
        if not self.n or self.low is None or self.high is None:
            return None
        rank = min(self.n, max(1, math.ceil(q * self.n)))
        before = 0
        for i in sorted(self.counts):
            count = self.counts[i]
            if before + count >= rank:
                lo = BOUNDS[i - 1] if i > 0 else 0.0
                hi = BOUNDS[i] if i < len(BOUNDS) else self.high
                estimate = lo + (hi - lo) * (rank - before - 0.5) / count
                return min(self.high, max(self.low, estimate))
            before += count
        return self.high  # unreachable while counts sum to n


class Tally(BaseModel):
    """The KPIs of one person or team over some time (a day, or everything kept)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Status changes made: the orders handled.
    status_changes: int = 0
    #: Status -> time orders spent in their hands in it (sent when the order left it).
    held: dict[str, Sketch] = Field(default_factory=dict)
    #: SLA steps that fired while an order was in their hands.
    sla_breaches: int = 0
    #: Dimension -> corrections this person made; and made to a value this person had set.
    corrections_made: dict[str, int] = Field(default_factory=dict)
    corrections_received: dict[str, int] = Field(default_factory=dict)
    #: Feedback: seconds from arrival to their first response, and to each resolution.
    first_response: Sketch = Field(default_factory=Sketch)
    resolution: Sketch = Field(default_factory=Sketch)
    #: Feedback they had resolved that was reopened.
    reopened: int = 0

    def add(self, fact: Fact) -> Tally:
        kind, seconds = fact.kind, fact.seconds
        if kind == "status_change":
            return self.model_copy(update={"status_changes": self.status_changes + 1})
        if kind == "held" and seconds is not None:
            status = fact.status or "unknown"
            held = self.held.get(status, Sketch()).add(seconds)
            return self.model_copy(update={"held": {**self.held, status: held}})
        if kind == "sla_breach":
            return self.model_copy(update={"sla_breaches": self.sla_breaches + 1})
        if kind in ("correction_made", "correction_received"):
            field = f"corrections_{kind.removeprefix('correction_')}"
            counts: dict[str, int] = getattr(self, field)
            dim = fact.dimension or "unknown"
            return self.model_copy(update={field: {**counts, dim: counts.get(dim, 0) + 1}})
        if kind == "feedback_first_response" and seconds is not None:
            return self.model_copy(update={"first_response": self.first_response.add(seconds)})
        if kind == "feedback_resolved" and seconds is not None:
            return self.model_copy(update={"resolution": self.resolution.add(seconds)})
        if kind == "feedback_reopened":
            return self.model_copy(update={"reopened": self.reopened + 1})
        return self  # a kind this version does not count (or a duration missing): nothing

    def merged(self, other: Tally) -> Tally:
        held = dict(self.held)
        for status, sketch in other.held.items():
            held[status] = held.get(status, Sketch()).merged(sketch)
        return Tally(
            status_changes=self.status_changes + other.status_changes,
            held=held,
            sla_breaches=self.sla_breaches + other.sla_breaches,
            corrections_made=_added(self.corrections_made, other.corrections_made),
            corrections_received=_added(self.corrections_received, other.corrections_received),
            first_response=self.first_response.merged(other.first_response),
            resolution=self.resolution.merged(other.resolution),
            reopened=self.reopened + other.reopened,
        )

    @property
    def hold(self) -> Sketch:
        """Time in their hands, every status together."""
        out = Sketch()
        for sketch in self.held.values():
            out = out.merged(sketch)
        return out

    @property
    def reopen_rate(self) -> float | None:
        """Reopened / resolved (None before anything was resolved)."""
        return self.reopened / self.resolution.n if self.resolution.n else None


def _added(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(a.keys() | b.keys())}


class PersonKpis(BaseModel):
    """The staff table's value, keyed by person id."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    person: str
    #: The partition of ``<app>-staff-events`` the person is read from (views filter by it).
    partition: int
    #: The team named by the person's latest fact that names one.
    team: str | None = None
    total: Tally = Field(default_factory=Tally)
    #: UTC day ("2026-12-01") -> that day's tally, the last ``KEEP_DAYS`` days.
    days: dict[str, Tally] = Field(default_factory=dict)
    #: Event id -> offset that counted it (the last ``KEEP_EVENTS``).
    applied: dict[str, int] = Field(default_factory=dict)
    last_offset: int = -1
    last_at: datetime | None = None


class TeamKpis(BaseModel):
    """The staff-teams table's value: one team's facts read from one partition."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    team: str
    partition: int
    total: Tally = Field(default_factory=Tally)
    days: dict[str, Tally] = Field(default_factory=dict)
    last_offset: int = -1


def team_of(fact: Fact) -> str:
    return fact.team or UNASSIGNED


def team_key(partition: int, team: str) -> str:
    return f"{partition}/{team}"


def day_of(at: datetime) -> str:
    """The UTC day a fact counts in (a time without a zone is taken as UTC)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def verdict(person: PersonKpis | None, event_id: str, offset: int) -> Seen:
    """FIRST: count it; REPLAY: this very record was read before; DUPLICATE: a re-send."""
    if person is None:
        return Seen.FIRST
    recorded = person.applied.get(event_id)
    if recorded is not None:
        return by_identity(recorded, offset)
    # Not among the recent ids: an offset at or below the watermark was read (its id forgotten).
    return by_watermark(person.last_offset, offset)


@dataclass(frozen=True)
class Step:
    """What one staff fact does: the verdict, and the records to write (None: unchanged)."""

    seen: Seen
    person: PersonKpis | None = None
    team: TeamKpis | None = None


def step(
    person: PersonKpis | None,
    team: TeamKpis | None,
    *,
    name: str,
    partition: int,
    fact: Fact,
    offset: int,
) -> Step:
    """Count ``fact`` (read at ``offset``) into its person and its team, once.

    A replay of a record the person counted repairs the team if a crash lost that write; a
    replay whose id is forgotten, or a re-send, changes nothing (it may have been a re-send).
    """
    seen = verdict(person, fact.event_id, offset)
    if seen is Seen.FIRST:
        return Step(
            seen,
            count_person(person, name, partition, fact, offset),
            count_team(team, partition, fact, offset),
        )
    if seen is Seen.REPLAY and person is not None and person.applied.get(fact.event_id) == offset:
        return Step(seen, None, count_team(team, partition, fact, offset))
    return Step(seen)


def _days(days: dict[str, Tally], fact: Fact) -> dict[str, Tally]:
    """``days`` with the fact counted in its day, and days older than ``KEEP_DAYS`` dropped
    (a fact older than every kept day counts in the total only)."""
    day = day_of(fact.occurred_at)
    newest = max([day, *days])
    oldest = (date.fromisoformat(newest) - timedelta(days=KEEP_DAYS - 1)).isoformat()
    kept = {d: t for d, t in days.items() if d >= oldest}
    if day >= oldest:
        kept[day] = kept.get(day, Tally()).add(fact)
    return dict(sorted(kept.items()))


def count_person(
    person: PersonKpis | None, name: str, partition: int, fact: Fact, offset: int
) -> PersonKpis:
    """The person after a fact ``verdict`` said is FIRST."""
    before = person or PersonKpis(person=name, partition=partition)
    recent = list(before.applied.items())[-(KEEP_EVENTS - 1) :]
    last_at = before.last_at
    return PersonKpis(
        person=name,
        partition=partition,
        team=fact.team or before.team,
        total=before.total.add(fact),
        days=_days(before.days, fact),
        applied={**dict(recent), fact.event_id: offset},
        last_offset=max(before.last_offset, offset),
        last_at=fact.occurred_at if last_at is None else max(last_at, fact.occurred_at),
    )


def count_team(team: TeamKpis | None, partition: int, fact: Fact, offset: int) -> TeamKpis | None:
    """The team after a fact its person counted; None if the team counted it already."""
    before = team or TeamKpis(team=team_of(fact), partition=partition)
    if by_watermark(before.last_offset, offset) is Seen.REPLAY:
        return None
    return before.model_copy(
        update={
            "total": before.total.add(fact),
            "days": _days(before.days, fact),
            "last_offset": offset,
        }
    )


def between(days: dict[str, Tally], first: date, last: date) -> Tally:
    """The tally of the days ``first`` .. ``last`` (UTC, both included)."""
    out = Tally()
    for day, tally in days.items():
        if first.isoformat() <= day <= last.isoformat():
            out = out.merged(tally)
    return out


def trend(days: dict[str, Tally], today: date, length: int) -> tuple[Tally, Tally]:
    """The last ``length`` days up to ``today`` and the ``length`` days before them."""
    start = today - timedelta(days=length - 1)
    before = start - timedelta(days=length)
    return between(days, start, today), between(days, before, start - timedelta(days=1))


def combined(tallies: Iterable[Tally]) -> Tally:
    out = Tally()
    for t in tallies:
        out = out.merged(t)
    return out


def headline(t: Tally) -> dict[str, float | int | None]:
    """The KPIs a list or a report shows, one number each (durations in seconds)."""
    hold = t.hold
    return {
        "orders_handled": t.status_changes,
        "hold_count": hold.n,
        "hold_median_seconds": rounded(hold.quantile(0.5)),
        "hold_p90_seconds": rounded(hold.quantile(0.9)),
        "sla_breaches": t.sla_breaches,
        "corrections_made": sum(t.corrections_made.values()),
        "corrections_received": sum(t.corrections_received.values()),
        "first_responses": t.first_response.n,
        "first_response_median_seconds": rounded(t.first_response.quantile(0.5)),
        "resolved": t.resolution.n,
        "resolution_median_seconds": rounded(t.resolution.quantile(0.5)),
        "reopened": t.reopened,
        "reopen_rate": None if t.reopen_rate is None else round(t.reopen_rate, 4),
    }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
