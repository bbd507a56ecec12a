"""The feedback desk: who gets a classified feedback, its priority, and its response clocks.

Pure: the agent (``streams.agents.feedback_desk``) keeps the state in tables and calls these.

Assignment is decided once per feedback and stored with it, so a replay or a rebalance finds
the feedback assigned and never picks again. Team load (open items per member, the round-robin
turn) is kept per source partition: every partition balances its own share, which needs no
coordination between workers and stays exact under replay (open items are sets of feedback
ids; the turn remembers the feedback that last took it).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import FeedbackStatus, Notification, Priority
from streams.classify.feedback_rules import FeedbackRules, FeedbackSla, Member, Team
from streams.classify.sla import SlaClock

_NAMESPACE = uuid.UUID("5c1f2a9e-7d3b-4f08-9e6a-66656564626b")
_STEP_UP = {Priority.P4: Priority.P3, Priority.P3: Priority.P2, Priority.P2: Priority.P1}


class LinkedOrder(BaseModel):
    """What the order book knew of the feedback's order when it linked them."""

    model_config = ConfigDict(frozen=True)

    known: bool
    value_tier: str | None = None
    segment: str | None = None
    vip: bool = False
    team: str | None = None


class TeamLoad(BaseModel):
    """One team's load on one partition."""

    model_config = ConfigDict(frozen=True)

    open: dict[str, list[str]] = Field(default_factory=dict, description="member -> open ids")
    turn: int = 0
    last: str | None = Field(default=None, description="the feedback that took the last turn")

    def count(self, member: str) -> int:
        return len(self.open.get(member, []))

    def opened(self, member: str, feedback_id: str) -> TeamLoad:
        ids = self.open.get(member, [])
        if feedback_id in ids:
            return self
        return self.model_copy(update={"open": {**self.open, member: [*ids, feedback_id]}})

    def closed(self, member: str, feedback_id: str) -> TeamLoad:
        ids = [i for i in self.open.get(member, []) if i != feedback_id]
        return self.model_copy(update={"open": {**self.open, member: ids}})


class Assignment(BaseModel):
    model_config = ConfigDict(frozen=True)

    team: str | None
    assignee: str | None
    role: str = Field(description="recipient_role of the notification")
    reason: str


def priority(rules: FeedbackRules, category: str, order: LinkedOrder | None) -> Priority:
    """The category's priority, one step higher for a complaint on a high-value or VIP order."""
    base = rules.priority_of(category)
    important = order is not None and (order.vip or order.value_tier == "high")
    if important and rules.is_complaint(category):
        return _STEP_UP.get(base, base)
    return base


def route(
    rules: FeedbackRules,
    feedback_id: str,
    category: str,
    needs_review: bool,
    language: str,
    customer_id: str,
    load: TeamLoad,
) -> tuple[Assignment, TeamLoad]:
    """Who handles it, and the team's load after (unchanged when no team member took it)."""
    routing = rules.routing
    if needs_review:
        return Assignment(team=None, assignee=None, role=routing.review_role, reason="review"), load
    team_name = routing.categories.get(category)
    team = routing.teams.get(team_name) if team_name else None
    manager = routing.account_managers.get(customer_id)
    if manager is not None:
        role = team.role if team else routing.review_role
        why = f"account manager of {customer_id}"
        return Assignment(team=team_name, assignee=manager, role=role, reason=why), load
    if team is None or team_name is None:
        why = f"no team for category {category}"
        return Assignment(team=None, assignee=None, role=routing.review_role, reason=why), load
    member, load = _choose(team, feedback_id, language, load)
    why = f"{team.strategy} in {team_name}"
    return Assignment(team=team_name, assignee=member, role=team.role, reason=why), load


def _choose(team: Team, feedback_id: str, language: str, load: TeamLoad) -> tuple[str, TeamLoad]:
    members: list[Member] = team.members
    if team.strategy == "round_robin":
        turn = load.turn - 1 if load.last == feedback_id else load.turn  # a replay: same turn
        member = members[turn % len(members)].id
        load = load.model_copy(update={"turn": turn + 1, "last": feedback_id})
        return member, load.opened(member, feedback_id)
    if team.strategy == "by_language":
        wanted = {"zh", "en"} if language in ("mixed", "other") else {language}
        readers = [m for m in members if wanted & set(m.languages)]
        members = readers or members
    for m in members:  # a replay: whoever holds it keeps it
        if feedback_id in load.open.get(m.id, []):
            return m.id, load
    member = min(members, key=lambda m: (load.count(m.id), members.index(m))).id
    return member, load.opened(member, feedback_id)


def sla_for(rules: FeedbackRules, level: Priority) -> FeedbackSla | None:
    return next((s for s in rules.slas if level in s.priorities), None)


def clock(sla: FeedbackSla, kind: str, started_at: datetime, reason: str) -> SlaClock:
    within = sla.first_response if kind == "first_response" else sla.resolution
    step = sla.escalate_after or within
    return SlaClock(
        sla_id=f"{sla.id}:{kind}",
        started_at=started_at,
        started_by=f"{reason}@{started_at.isoformat()}",
        due_at=started_at + within,
        step_every_s=step.total_seconds(),
        ladder=list(sla.ladder),
    )


def opening_clocks(rules: FeedbackRules, level: Priority, received_at: datetime) -> list[SlaClock]:
    sla = sla_for(rules, level)
    if sla is None:
        return []
    return [
        clock(sla, "first_response", received_at, "received"),
        clock(sla, "resolution", received_at, "received"),
    ]


def on_status(
    rules: FeedbackRules,
    level: Priority,
    status: FeedbackStatus,
    at: datetime,
    clocks: list[SlaClock],
) -> list[SlaClock]:
    """The clocks after a status change: a response stops the first one, a resolution the
    second; reopening starts resolution again (first response is not owed twice)."""
    if status in (FeedbackStatus.ACKNOWLEDGED, FeedbackStatus.RESPONDED):
        return [c for c in clocks if not c.sla_id.endswith(":first_response")]
    if status is FeedbackStatus.RESOLVED:
        return []
    sla = sla_for(rules, level)
    if sla is None:
        return clocks
    kept = [c for c in clocks if not c.sla_id.endswith(":resolution")]
    return [*kept, clock(sla, "resolution", at, "reopened")]


def fire_due(
    clocks: list[SlaClock],
    *,
    feedback_id: str,
    order_id: str | None,
    level: Priority,
    team: Team | None,
    assignee: str | None,
    review_role: str,
    rules_version: str,
    now: datetime,
) -> tuple[list[SlaClock], list[Notification]]:
    """Reminders and escalations now due; each step fires once (its id derives from the clock)."""
    out: list[SlaClock] = []
    sent: list[Notification] = []
    for c in clocks:
        fired = c.fired
        while fired < len(c.ladder) and now >= c.step_due_at(fired):
            sent.append(
                _notification(
                    c,
                    fired,
                    feedback_id,
                    order_id,
                    level,
                    team,
                    assignee,
                    review_role,
                    rules_version,
                    now,
                )
            )
            fired += 1
        out.append(c if fired == c.fired else c.model_copy(update={"fired": fired}))
    return out, sent


def _notification(
    c: SlaClock,
    step: int,
    feedback_id: str,
    order_id: str | None,
    level: Priority,
    team: Team | None,
    assignee: str | None,
    review_role: str,
    rules_version: str,
    now: datetime,
) -> Notification:
    role = c.ladder[step]
    if role == "team":
        role = team.role if team else review_role
    elif role == "lead":
        role = (team.lead or team.role) if team else review_role
    what = "first response" if c.sla_id.endswith(":first_response") else "resolution"
    late = now - c.due_at
    return Notification(
        notification_id=feedback_notification_id(feedback_id, f"{c.sla_id}:{c.started_by}:{step}"),
        kind="feedback_sla_reminder" if step == 0 else "feedback_sla_escalation",
        recipient_role=role,
        severity="warning" if step == 0 else ("high" if step == 1 else "critical"),
        order_id=order_id,
        feedback_id=feedback_id,
        assignee=assignee,
        message=(
            f"feedback {feedback_id}: {what} is due"
            + (f" ({_minutes(late)} late)" if late > timedelta(0) else "")
            + (f", assigned to {assignee}" if assignee else "")
        ),
        cause_event_id=f"sla:{c.sla_id}:{c.started_by}:{step}",
        priority=level,
        rules_version=rules_version,
        created_at=now,
        rule_id=c.sla_id,
        team=team.role if team else None,
    )


def feedback_notification_id(feedback_id: str, cause: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"feedback:{feedback_id}:{cause}"))


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def assigned_notification(
    *,
    feedback_id: str,
    event_id: str,
    order_id: str | None,
    category: str,
    confidence: float,
    level: Priority,
    assignment: Assignment,
    rules_version: str,
    now: datetime,
) -> Notification:
    """Tell the team (or the review queue) that a feedback is theirs."""
    review = assignment.team is None and assignment.assignee is None
    who = f" for {assignment.assignee}" if assignment.assignee else ""
    about = f" about order {order_id}" if order_id else ""
    return Notification(
        notification_id=feedback_notification_id(feedback_id, f"assigned:{event_id}"),
        kind="feedback_review" if review else "feedback_assigned",
        recipient_role=assignment.role,
        severity="high" if level in (Priority.P1, Priority.P2) else "info",
        order_id=order_id,
        feedback_id=feedback_id,
        assignee=assignment.assignee,
        message=(
            f"feedback {feedback_id}{about} needs a category (best guess {category},"
            f" {confidence:.0%} sure)"
            if review
            else f"new {category} feedback {feedback_id}{about}{who} ({level.value})"
        ),
        cause_event_id=event_id,
        priority=level,
        rules_version=rules_version,
        created_at=now,
        team=assignment.team,
    )


class Credit(NamedTuple):
    """A staff KPI fact a status change makes (sent as a ``StaffEvent`` by the desk)."""

    kind: Literal["feedback_first_response", "feedback_resolved", "feedback_reopened"]
    person: str
    seconds: float | None = None


def credits(
    status: FeedbackStatus,
    *,
    by: str,
    at: datetime,
    received_at: datetime,
    first_response: bool,
    resolver: str | None,
) -> list[Credit]:
    """What one applied status change tells the staff KPIs.

    The first response and each resolution credit the person who made them, with the seconds
    since the feedback arrived (a feedback resolved twice counts two resolutions); a reopen
    counts against whoever had resolved it (``resolver``; None: not known, nothing sent).
    """
    since = max(0.0, (at - received_at).total_seconds())
    if status is FeedbackStatus.REOPENED:
        return [Credit("feedback_reopened", resolver)] if resolver else []
    if status is FeedbackStatus.RESOLVED:
        return [Credit("feedback_resolved", by, since)]
    if first_response:
        return [Credit("feedback_first_response", by, since)]
    return []


def staff_event_id(input_event_id: str, credit: Credit) -> str:
    """Deterministic: a replay or a re-send of the input yields the same id (counted once)."""
    return f"{input_event_id}:{credit.kind}:{credit.person}"
