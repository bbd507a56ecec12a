"""HTTP views of the staff KPIs: one person (on the worker that owns them), and a team's people.

A person lives on one partition (``<app>-staff-events`` is keyed by person): ``table_route``
forwards to its owner. A team's people and totals are spread over every partition (the team
table is kept per partition), so the list is gathered like the other cross-worker queries and
answers 503 rather than a partial figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from faust import web

from streams.app import Worker
from streams.classify import staff
from streams.web.common import error, gather, ready

#: The trend's period: the last 7 UTC days against the 7 before.
TREND_DAYS = 7


def as_of(request: web.Request) -> date | None:
    """``?day=YYYY-MM-DD``: the last day of the trend (default: today, UTC)."""
    raw = request.query.get("day")
    if raw is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def figures(days: dict[str, staff.Tally], total: staff.Tally, today: date) -> dict[str, Any]:
    this, before = staff.trend(days, today, TREND_DAYS)
    return {
        "total": staff.headline(total),
        "this_period": staff.headline(this),
        "previous_period": staff.headline(before),
    }


def person_view(person: staff.PersonKpis, today: date) -> dict[str, Any]:
    t = person.total
    held = {
        status: {
            "count": s.n,
            "total_seconds": round(s.total, 1),
            "median_seconds": staff.rounded(s.quantile(0.5)),
            "p90_seconds": staff.rounded(s.quantile(0.9)),
        }
        for status, s in sorted(t.held.items())
    }
    return {
        "person": person.person,
        "team": person.team,
        "last_at": person.last_at.isoformat() if person.last_at else None,
        "period": {"days": TREND_DAYS, "until": today.isoformat(), "timezone": "UTC"},
        **figures(person.days, t, today),
        "held": held,
        "corrections_made": t.corrections_made,
        "corrections_received": t.corrections_received,
        "days": [{"day": d, **staff.headline(tally)} for d, tally in sorted(person.days.items())],
    }


def merge_teams(
    parts: Iterable[dict[str, Any]],
) -> dict[str, tuple[staff.Tally, dict[str, staff.Tally]]]:
    """Team -> (total, days), summed over the partitions' shares (each kept by one writer)."""
    merged: dict[str, tuple[staff.Tally, dict[str, staff.Tally]]] = {}
    for raw in parts:
        part = staff.TeamKpis.model_validate({**raw, "partition": -1})
        total, days = merged.get(part.team, (staff.Tally(), {}))
        for d, tally in part.days.items():
            days[d] = days.get(d, staff.Tally()).merged(tally)
        merged[part.team] = (total.merged(part.total), days)
    return merged


def register(w: Worker) -> None:
    app, tables = w.app, w.tables

    @app.page("/staff")
    async def team_people(self: web.View, request: web.Request) -> web.Response:
        """People (``?team=`` one team's, ``unassigned`` for facts without one) with their
        headline KPIs, and the team totals, from every worker."""
        team, today = request.query.get("team"), as_of(request)
        if today is None:
            return error(self, 400, "day must be YYYY-MM-DD")
        if not ready(w):
            return error(self, 503, "rebalancing or recovering; retry shortly")
        name = w.topics.staff_events.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == name}
        people = [
            {"person": p.person, "team": p.team, **figures(p.days, p.total, today)}
            for p in list(tables.staff.values())
            if p.partition in owned and (team is None or (p.team or staff.UNASSIGNED) == team)
        ]
        teams = [
            t.model_dump(mode="json", include={"team", "total", "days"})
            for t in list(tables.staff_teams.values())
            if t.partition in owned and (team is None or t.team == team)
        ]
        local = {"partitions": sorted(owned), "people": people, "teams": teams}
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        everyone = sorted((p for s in shares for p in s["people"]), key=lambda p: p["person"])
        merged = merge_teams(raw for share in shares for raw in share["teams"])
        return self.json(
            {
                "team": team,
                "period": {"days": TREND_DAYS, "until": today.isoformat(), "timezone": "UTC"},
                "teams": {
                    name: figures(days, total, today)
                    for name, (total, days) in sorted(merged.items())
                },
                "people": everyone,
            }
        )

    @app.page("/staff/{person_id}")
    @app.table_route(table=tables.staff, match_info="person_id")
    async def person(self: web.View, request: web.Request, person_id: str) -> web.Response:
        """One person's KPIs: in total, this period against the previous one, per status and
        dimension, and per UTC day kept."""
        today = as_of(request)
        if today is None:
            return error(self, 400, "day must be YYYY-MM-DD")
        kept = tables.staff.get(person_id)
        if kept is None:
            return self.json({"error": "not found", "person_id": person_id}, status=404)
        return self.json(person_view(kept, today))
