"""Follow-up tasks: opened by a segment's strategy, reminded and escalated when overdue, done.

Pure. A task's id is derived from the customer, the strategy and what triggered it (the
segment move's sequence number, the first delivery, the last order before a silence), so the
same trigger can never open two tasks, whatever is replayed. Each reminder or escalation step
fires once: the step is the task's status, and the notification id derives from task and step.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from schemas.events import FollowupTask, Notification, Priority
from streams.classify.care import CareState, Task
from streams.classify.segment_rules import SegmentRules, Strategy

_NAMESPACE = uuid.UUID("9d3e1f70-4b2a-4e55-8c11-666f6c6c6f77")
#: Done tasks kept per customer (for GET /customers/{id} and to recognise a late duplicate).
KEEP_DONE = 20
SYSTEM = "ordertriage"


def task_id(customer_id: str, strategy_id: str, trigger: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"task:{customer_id}:{strategy_id}:{trigger}"))


def notification_id(task: str, step: int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"followup:{task}:{step}"))


def open_task(
    state: CareState, strategy: Strategy, trigger: str, at: datetime, by: str
) -> tuple[CareState, FollowupTask | None]:
    """Open ``strategy``'s task for ``trigger`` unless that trigger opened one before."""
    tid = task_id(state.customer_id, strategy.id, trigger)
    if tid in state.tasks:
        return state, None
    task = FollowupTask(
        task_id=tid,
        customer_id=state.customer_id,
        strategy_id=strategy.id,
        segment=strategy.segment,
        owner_role=strategy.owner,
        status="open",
        opened_at=at,
        due_at=at + strategy.after,
        trigger=trigger,
        updated_at=at,
    )
    entry = Task(
        task=task,
        by=by,
        escalate_to=strategy.escalate_to,
        escalate_after_s=strategy.escalate_after.total_seconds(),
    )
    return state.model_copy(update={"tasks": {**state.tasks, tid: entry}}), task


def on_entered(
    state: CareState, rules: SegmentRules, at: datetime, by: str
) -> tuple[CareState, list[FollowupTask]]:
    """Tasks of the strategies for the segment just entered (``entered``)."""
    opened = []
    for s in rules.strategies:
        if s.segment == state.segment and s.trigger == "entered":
            state, task = open_task(state, s, f"entered:{s.segment}:{state.moves}", at, by)
            opened += [task] if task else []
    return state, opened


def on_delivery(
    state: CareState, rules: SegmentRules, at: datetime, by: str
) -> tuple[CareState, list[FollowupTask]]:
    """The customer's first delivery: ``first_delivery`` strategies of their segment."""
    if state.first_delivery_at is not None:
        return state, []
    state = state.model_copy(update={"first_delivery_at": at})
    opened = []
    for s in rules.strategies:
        if s.segment == state.segment and s.trigger == "first_delivery":
            state, task = open_task(state, s, "first_delivery", at, by)
            opened += [task] if task else []
    return state, opened


def silence_due(state: CareState, strategy: Strategy) -> datetime | None:
    if strategy.silence is None or state.last_order_at is None:
        return None
    return state.last_order_at + strategy.silence


def on_silence(
    state: CareState, rules: SegmentRules, at: datetime, by: str
) -> tuple[CareState, list[FollowupTask]]:
    """``no_order`` strategies whose silence has passed by ``at`` (once per last order)."""
    opened = []
    for s in rules.strategies:
        due = silence_due(state, s)
        if s.segment == state.segment and due is not None and due <= at:
            assert state.last_order_at is not None
            trigger = f"no_order:{state.last_order_at.isoformat()}"
            state, task = open_task(state, s, trigger, due, by)
            opened += [task] if task else []
    return state, opened


def close_superseded(
    state: CareState, left: str | None, at: datetime, by: str
) -> tuple[CareState, list[FollowupTask]]:
    """On leaving a segment, its open ``entered`` and ``no_order`` tasks are done by the move
    (a win-back offer is moot once the customer ordered); a welcome call stays owed."""
    closed = []
    tasks = dict(state.tasks)
    for tid, t in state.tasks.items():
        task = t.task
        moot = task.segment == left and not task.trigger.startswith("first_delivery")
        if moot and task.status != "done":
            done = task.model_copy(
                update={
                    "status": "done",
                    "done_at": at,
                    "done_by": SYSTEM,
                    "outcome": f"customer moved from {left} to {state.segment}",
                    "updated_at": at,
                }
            )
            tasks[tid] = t.model_copy(update={"task": done, "by": by, "notes": []})
            closed.append(done)
    return _pruned(state.model_copy(update={"tasks": tasks})), closed


def steps_due(t: Task) -> list[datetime]:
    """When the task's remaining steps fall due: the reminder, then the escalation."""
    task = t.task
    escalation = task.due_at + timedelta(seconds=t.escalate_after_s)
    if task.status == "open":
        return [task.due_at, *([escalation] if t.escalate_to else [])]
    if task.status == "reminded" and t.escalate_to:
        return [escalation]
    return []


def fire_steps(
    state: CareState, at: datetime, by: str, rules_version: str
) -> tuple[CareState, list[FollowupTask], list[Notification]]:
    """Reminders and escalations due by ``at``; each step once (its status says it fired)."""
    changed, notes = [], []
    tasks = dict(state.tasks)
    for tid, t in state.tasks.items():
        sent: list[Notification] = []
        task = t.task
        for when in steps_due(t):
            if when > at:
                break
            step = 0 if task.status == "open" else 1
            task = task.model_copy(
                update={"status": "reminded" if step == 0 else "escalated", "updated_at": when}
            )
            sent.append(_note(t, task, step, when, rules_version))
        if sent:
            tasks[tid] = t.model_copy(update={"task": task, "by": by, "notes": sent})
            changed.append(task)
            notes += sent
    return state.model_copy(update={"tasks": tasks}), changed, notes


def _note(t: Task, task: FollowupTask, step: int, at: datetime, rules_version: str) -> Notification:
    role = task.owner_role if step == 0 else (t.escalate_to or task.owner_role)
    late = "" if step == 0 else f", {int((at - task.due_at).total_seconds() // 3600)} h late"
    return Notification(
        notification_id=notification_id(task.task_id, step),
        kind="followup_reminder" if step == 0 else "followup_escalation",
        recipient_role=role,
        severity="warning" if step == 0 else "high",
        order_id=None,
        message=(
            f"follow-up {task.strategy_id} for customer {task.customer_id} was due"
            f" {task.due_at.isoformat(timespec='minutes')}{late}"
        ),
        cause_event_id=f"followup:{task.task_id}:{step}",
        priority=Priority.P3 if step == 0 else Priority.P2,
        rules_version=rules_version,
        created_at=at,
        rule_id=task.strategy_id,
        customer_id=task.customer_id,
        task_id=task.task_id,
    )


def mark_done(
    state: CareState, tid: str, at: datetime, done_by: str, outcome: str, by: str
) -> tuple[CareState, FollowupTask]:
    t = state.tasks[tid]
    task = t.task.model_copy(
        update={
            "status": "done",
            "done_at": at,
            "done_by": done_by,
            "outcome": outcome,
            "updated_at": at,
        }
    )
    tasks = {**state.tasks, tid: t.model_copy(update={"task": task, "by": by, "notes": []})}
    return _pruned(state.model_copy(update={"tasks": tasks})), task


def _pruned(state: CareState) -> CareState:
    done = [tid for tid, t in state.tasks.items() if t.task.status == "done"]
    drop = set(done[:-KEEP_DONE]) if len(done) > KEEP_DONE else set()
    if not drop:
        return state
    return state.model_copy(
        update={"tasks": {k: v for k, v in state.tasks.items() if k not in drop}}
    )


def overdue(task: FollowupTask, now: datetime) -> bool:
    return task.status != "done" and now >= task.due_at
