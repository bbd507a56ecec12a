"""The report's staff KPI section: per team, this period against the previous one (pure).

Computed from the staff facts themselves (``<app>-staff-events``), each event id once, with the
staff core's own tally (``streams.classify.staff``), so the report and ``GET /staff`` define
every KPI the same way. A fact counts in the period its ``occurred_at`` falls in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from streams.classify import staff
from streams.records import StaffEvent

#: The KPIs of the section, in order: (headline key, label).
MEASURES: tuple[tuple[str, str], ...] = (
    ("orders_handled", "orders handled"),
    ("hold_median_seconds", "median hold (s)"),
    ("sla_breaches", "SLA breaches"),
    ("corrections_received", "corrections received"),
    ("first_response_median_seconds", "median first response (s)"),
    ("resolution_median_seconds", "median resolution (s)"),
    ("reopen_rate", "reopen rate"),
)


@dataclass
class StaffFigures:
    #: Team -> tally of the report's period, and of the period of the same length before it.
    this: dict[str, staff.Tally] = field(default_factory=dict)
    previous: dict[str, staff.Tally] = field(default_factory=dict)

    @property
    def teams(self) -> list[str]:
        return sorted(self.this.keys() | self.previous.keys())

    def rows(self) -> list[tuple[str, str, str, float | int | None, float | int | None]]:
        """(team, measure, label, this period, previous period) for every team and KPI."""
        out = []
        for team in self.teams:
            now = staff.headline(self.this.get(team, staff.Tally()))
            before = staff.headline(self.previous.get(team, staff.Tally()))
            out.extend((team, key, label, now[key], before[key]) for key, label in MEASURES)
        return out


def count_staff(start: datetime, end: datetime, events: Iterable[StaffEvent]) -> StaffFigures:
    """Facts of ``[start, end)`` and of the period as long before it, per team, each id once."""
    figures, seen = StaffFigures(), set()
    before = start - (end - start)
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        at = event.occurred_at
        tallies = (
            figures.this
            if start <= at < end
            else figures.previous
            if before <= at < start
            else None
        )
        if tallies is not None:
            team = staff.team_of(event)
            tallies[team] = tallies.get(team, staff.Tally()).add(event)
    return figures
