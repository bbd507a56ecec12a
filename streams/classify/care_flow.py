"""One customer's care, step by step: a fact applied, time advanced, a follow-up done.

Pure, like ``bytewax``'s stateful logic split into ``on_item`` (``apply``, ``done``) and
``on_notify`` (``advance``, with ``next_due`` telling the agent when to call it). ``by`` is the
position of the record being processed (``topic/partition/offset``): every move and task
change is stored with it, so a replay of that record re-sends exactly its outputs
(``replayed``) and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import FollowupTask, Notification, SegmentChanged
from streams.classify import followups
from streams.classify.care import (
    DELIVERED,
    CareFact,
    CareState,
    Outcome,
    Trigger,
    absorb,
    at_risk_after,
    decide,
    dormant_after,
    move,
)
from streams.classify.segment_rules import SegmentRules

#: More moves than any one instant can hold (None -> new -> ... ); a guard against a loop.
MAX_STEPS = 8
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Rejected(ValueError):
    """A follow-up done that cannot apply: ``code`` and ``reason`` go to the dead letter."""

    def __init__(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason
        super().__init__(reason)


def _settle(
    state: CareState,
    rules: SegmentRules,
    at: datetime,
    trigger: Trigger,
    by: str,
    version: str,
) -> Outcome:
    moves: list[SegmentChanged] = []
    tasks: list[FollowupTask] = []
    for _ in range(MAX_STEPS):
        to = decide(state, rules, at, trigger)
        trigger = "time"
        if to is None:
            break
        left = state.segment
        state, changed = move(state, rules, at, to, by, version)
        state, closed = followups.close_superseded(state, left, at, by)
        state, opened = followups.on_entered(state, rules, at, by)
        moves.append(changed)
        tasks += closed + opened
    state, opened = followups.on_silence(state, rules, at, by)
    state, stepped, notes = followups.fire_steps(state, at, by, version)
    return Outcome(state=state, moves=moves, tasks=tasks + opened + stepped, notes=notes)


def _merged(*outcomes: Outcome) -> Outcome:
    return Outcome(
        state=outcomes[-1].state,
        moves=[m for o in outcomes for m in o.moves],
        tasks=_latest([t for o in outcomes for t in o.tasks]),
        notes=[n for o in outcomes for n in o.notes],
    )


def _latest(tasks: list[FollowupTask]) -> list[FollowupTask]:
    """Each task once, as it stands last (a task opened and reminded in one call)."""
    last = {t.task_id: t for t in tasks}
    return list(last.values())


def apply(
    state: CareState,
    fact: CareFact,
    rules: SegmentRules,
    by: str,
    version: str,
    *,
    source: str | None = None,
) -> Outcome:
    """An order, a final status or a complaint, not seen before (the caller checks ``seen``).

    ``source``: the position of the upstream record the fact came from (insight's or the
    intake's input), recorded in ``seen`` so that a copy they re-send is recognised as such;
    ``by`` when not given.

    Time is first advanced to the fact (a silence that ended in at_risk before this order
    arrived is recorded as such, then the order wins the customer back).
    """
    caught_up = advance(state, rules, fact.occurred_at, by, version)
    state = absorb(caught_up.state, fact, source or by)
    at = max(fact.occurred_at, state.since or _EPOCH)
    evaluated = max(state.evaluated_at or _EPOCH, at)
    state = state.model_copy(update={"evaluated_at": evaluated})
    trigger: Trigger = (
        "order" if fact.kind == "order" else "complaint" if fact.kind == "complaint" else "time"
    )
    settled = _settle(state, rules, at, trigger, by, version)
    outcomes = [caught_up, settled]
    if fact.kind == "status" and fact.status in DELIVERED:
        state, opened = followups.on_delivery(settled.state, rules, fact.occurred_at, by)
        outcomes.append(Outcome(state=state, tasks=opened))
    return _merged(*outcomes)


def done(state: CareState, fact: CareFact, by: str, *, source: str | None = None) -> Outcome:
    """A person did a task; raises :class:`Rejected` for an unknown or finished one.
    ``source`` as for :func:`apply`: where the user's record was read."""
    event = fact.done
    assert event is not None
    t = state.tasks.get(event.task_id)
    if t is None:
        raise Rejected(
            "unknown_task", f"no follow-up task {event.task_id} for customer {state.customer_id}"
        )
    if t.task.status == "done":
        raise Rejected(
            "task_done",
            f"task {event.task_id} was done by {t.task.done_by} at {t.task.done_at}",
        )
    state = absorb(state, fact, source or by)
    state, task = followups.mark_done(
        state, event.task_id, event.occurred_at, event.done_by, event.outcome, by
    )
    return Outcome(state=state, tasks=[task])


def next_due(state: CareState, rules: SegmentRules) -> datetime | None:
    """The next instant something may change without a new fact (None: nothing pending)."""
    after = state.evaluated_at or _EPOCH
    times: list[datetime] = []
    last = state.last_order_at
    if last is not None and state.order_count:
        times += [last + at_risk_after(state, rules), last + dormant_after(state, rules)]
        times += [d for s in rules.strategies if (d := followups.silence_due(state, s))]
    window = rules.at_risk.complaints.window
    times += [c + window for c in state.complaints]
    times += [o.at + rules.window for o in state.orders if not o.void]
    if state.since is not None:
        if state.segment == "won_back":
            times.append(state.since + rules.won_back_dwell)
        if state.segment == "vip":
            times.append(state.since + rules.vip.min_dwell)
    for t in state.tasks.values():
        times += followups.steps_due(t)
    pending = [t for t in times if t > after]
    return min(pending) if pending else None


def advance(state: CareState, rules: SegmentRules, now: datetime, by: str, version: str) -> Outcome:
    """Everything due by ``now``, each at the instant it fell due, in order."""
    outcomes = [Outcome(state=state)]
    for _ in range(10 * MAX_STEPS):
        due = next_due(state, rules)
        if due is None or due > now:
            break
        state = state.model_copy(update={"evaluated_at": due})
        settled = _settle(state, rules, due, "time", by, version)
        state = settled.state
        outcomes.append(settled)
    return _merged(*outcomes)


def replayed(state: CareState, by: str) -> Outcome:
    """What the record at ``by`` sent when it was applied (to send again on its replay)."""
    moves = [m.event for m in state.history if m.by == by]
    entries = [t for t in state.tasks.values() if t.by == by]
    notes: list[Notification] = [n for t in entries for n in t.notes]
    return Outcome(state=state, moves=moves, tasks=[t.task for t in entries], notes=notes)
