"""The report's customer care section counts each move once and each task by its latest record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.events import FollowupTask, Rfm, SegmentChanged
from streams.report.care import count_care
from streams.report.figures import Figures, Period
from streams.report.render import csv_rows

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=1)
H = timedelta(hours=1)


def move(n: int, to: str, at: datetime) -> SegmentChanged:
    return SegmentChanged(
        event_id=f"m{n}",
        customer_id="C",
        from_segment="regular",
        to_segment=to,
        reason="r",
        rfm=Rfm(recency_days=1, frequency=1, monetary={}),
        occurred_at=at,
        rules_version="v",
    )


def task(tid: str, status: str, opened: datetime, done: datetime | None = None) -> FollowupTask:
    return FollowupTask(
        task_id=tid,
        customer_id="C",
        strategy_id="win-back-offer",
        segment="at_risk",
        owner_role="retention_team",
        status=status,
        opened_at=opened,
        due_at=opened + 2 * H,
        trigger="entered:at_risk:1",
        done_at=done,
        done_by="u" if done else None,
        updated_at=done or opened,
    )


def test_moves_once_tasks_by_latest_record_and_completion() -> None:
    moves = [
        move(1, "at_risk", START + H),
        move(1, "at_risk", START + H),
        move(2, "dormant", START - H),
    ]
    tasks = [
        task("a", "open", START + H),
        task("a", "done", START + H, START + 5 * H),
        task("b", "open", START + 2 * H),
        task("c", "open", START - 30 * H),
    ]
    care = count_care(START, END, moves, tasks)
    assert care.moves == {("regular", "at_risk"): 1}
    s = "win-back-offer"
    assert (care.opened[s], care.done[s], care.done_late[s]) == (2, 1, 1)
    assert (care.still_open[s], care.overdue[s], care.completion(s)) == (2, 2, 0.5)
    figures = Figures(period=Period.ending("day", END, "UTC"), care=care)
    rows = [r for r in csv_rows(figures) if r["section"] == "care"]
    assert {(r["value"], r["measure"], r["figure"]) for r in rows} >= {
        ("regular->at_risk", "customers", "1"),
        (s, "done", "1"),
    }
