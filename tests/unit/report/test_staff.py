"""The report's staff section: per team, this period against the previous one, each fact once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from streams.records import StaffEvent
from streams.report.figures import Figures, Period
from streams.report.render import csv_rows, write_html
from streams.report.staff import count_staff

END = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
PERIOD = Period.ending("day", END, "UTC")


def fact(n: int, kind: str, hours_ago: float, team: str | None = "north", **more: object):
    return StaffEvent.model_validate(
        {
            "event_id": f"e-{n}:{kind}:u-{n % 3}",
            "person": f"u-{n % 3}",
            "team": team,
            "kind": kind,
            "subject": f"SO-{n}",
            "occurred_at": END - timedelta(hours=hours_ago),
        }
        | more
    )


FACTS = [
    fact(1, "status_change", 1),
    fact(2, "status_change", 2),
    fact(2, "status_change", 2),  # re-sent: the same id counts once
    fact(3, "held", 3, status="new", seconds=600),
    fact(4, "held", 4, status="new", seconds=1200),
    fact(5, "held", 5, status="new", seconds=3000),
    fact(6, "sla_breach", 6),
    fact(7, "feedback_resolved", 7, seconds=7200),
    fact(8, "feedback_reopened", 8),
    fact(9, "correction_received", 9, team=None, dimension="priority"),
    # The day before: the previous period.
    fact(10, "status_change", 30),
    fact(11, "sla_breach", 31),
    fact(12, "sla_breach", 32),
    fact(13, "feedback_resolved", 33, seconds=60),
    # Two days before: in neither.
    fact(14, "status_change", 49),
]


def test_each_team_this_period_against_the_previous() -> None:
    st = count_staff(PERIOD.start, PERIOD.end, FACTS)
    assert st.teams == ["north", "unassigned"]
    north, before = st.this["north"], st.previous["north"]
    assert (north.status_changes, before.status_changes) == (2, 1)
    assert (north.sla_breaches, before.sla_breaches) == (1, 2)
    assert north.hold.n == 3 and north.reopen_rate == 1.0 and before.reopen_rate == 0.0
    rows = {(team, key): (now, prev) for team, key, _, now, prev in st.rows()}
    assert rows["north", "orders_handled"] == (2, 1)
    median, _ = rows["north", "hold_median_seconds"]
    assert median is not None and 900 < median <= 1800  # 1200 s: in the bucket (900, 1800]
    assert rows["unassigned", "corrections_received"] == (1, 0)
    assert rows["north", "resolution_median_seconds"] == (7200.0, 60.0)


def test_the_section_is_in_the_csv_and_the_page(tmp_path: Path) -> None:
    figures = Figures(period=PERIOD, staff=count_staff(PERIOD.start, PERIOD.end, FACTS))
    staff_rows = [r for r in csv_rows(figures) if r["section"] == "staff"]
    by = {(r["value"], r["measure"]): r["figure"] for r in staff_rows}
    assert by["north", "orders_handled"] == "2" and by["north", "orders_handled_previous"] == "1"
    assert by["unassigned", "reopen_rate"] == ""  # nothing resolved: no rate, not 0
    page = tmp_path / "r.html"
    write_html(figures, page, "now")
    html = page.read_text()
    assert "Staff KPIs per team" in html and "<td>north</td>" in html
    assert "<td>2 (1)</td>" in html  # orders handled, this (previous)
    empty = tmp_path / "e.html"
    write_html(Figures(period=PERIOD), empty, "now")
    assert "Nobody's actions were counted" in empty.read_text()
