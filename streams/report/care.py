"""The report's customer care section: segment movements and follow-up completion in the period.

Read from the two output topics (``customers.segments``, ``customers.followups``): a move counts
once per ``event_id`` and a task by its latest record, so re-sent copies change nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from schemas.events import FollowupTask, SegmentChanged


@dataclass
class CareFigures:
    #: (from, to) -> customers moved in the period.
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: strategy -> tasks opened / done / done late (after the due time) in the period.
    opened: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    done_late: Counter[str] = field(default_factory=Counter)
    #: strategy -> tasks still open at the end of the period, and of those past due.
    still_open: Counter[str] = field(default_factory=Counter)
    overdue: Counter[str] = field(default_factory=Counter)
    #: strategy -> tasks opened in the period and done by its end (completion).
    done_of_opened: Counter[str] = field(default_factory=Counter)

    def completion(self, strategy: str) -> float | None:
        """Share of the tasks opened in the period that are done."""
        opened = self.opened[strategy]
        return None if not opened else self.done_of_opened[strategy] / opened

    @property
    def strategies(self) -> list[str]:
        return sorted({*self.opened, *self.done, *self.still_open})


def count_care(
    start: datetime,
    end: datetime,
    moves: Iterable[SegmentChanged],
    tasks: Iterable[FollowupTask],
) -> CareFigures:
    figures = CareFigures()
    seen: set[str] = set()
    for move in moves:
        if move.event_id in seen or not start <= move.occurred_at < end:
            continue
        seen.add(move.event_id)
        figures.moves[(move.from_segment or "none", move.to_segment)] += 1
    latest: dict[str, FollowupTask] = {}
    for task in tasks:
        if task.updated_at < end:
            latest[task.task_id] = task
    for task in latest.values():
        s = task.strategy_id
        opened_in = start <= task.opened_at < end
        figures.opened[s] += opened_in
        if task.status == "done" and task.done_at is not None:
            if start <= task.done_at < end:
                figures.done[s] += 1
                figures.done_late[s] += task.done_at > task.due_at
            figures.done_of_opened[s] += opened_in
        else:
            figures.still_open[s] += 1
            figures.overdue[s] += task.due_at < end
    return figures
