"""HTTP views of customer feedback: one feedback (with why), and the open queue of a team."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faust import web

from streams.app import Worker
from streams.records import FeedbackState
from streams.web.common import error, gather, ready

OPEN = {"open", "acknowledged", "responded", "reopened"}


def view(state: FeedbackState, now: datetime) -> dict[str, Any]:
    """What a person needs to pick a feedback up; no customer text (it stays in the input)."""
    case, d, a = state.case, state.case.decision, state.assignment
    due = [c for c in state.clocks if c.next_at is not None]
    return {
        "feedback_id": case.feedback_id,
        "customer_id": case.customer_id,
        "order_id": case.order_id,
        "channel": case.channel.value,
        "category": state.corrected.value if state.corrected else d.category,
        "confidence": 1.0 if state.corrected else d.confidence,
        "needs_review": d.needs_review and state.corrected is None,
        "corrected_by": state.corrected.corrected_by if state.corrected else None,
        "language": d.language,
        "priority": state.priority.value,
        "team": a.team,
        "assignee": a.assignee,
        "status": state.status,
        "changed_by": state.changed_by,
        "received_at": state.received_at.isoformat(),
        "first_response_at": (
            state.first_response_at.isoformat() if state.first_response_at else None
        ),
        "resolved_at": state.resolved_at.isoformat() if state.resolved_at else None,
        "clocks": [
            {
                "clock": c.sla_id,
                "due_at": c.due_at.isoformat(),
                "overdue": c.overdue(now),
                "escalation_level": c.fired,
            }
            for c in due
        ],
    }


def register(w: Worker) -> None:
    app, tables = w.app, w.tables

    @app.page("/feedback/queue")
    async def queue(self: web.View, request: web.Request) -> web.Response:
        """Open feedback, most urgent first, from every worker: ``?team=`` a team's, ``?team=
        review`` the triage queue, ``?assignee=`` one person's."""
        team, assignee = request.query.get("team"), request.query.get("assignee")
        if not ready(w):
            return error(self, 503, "rebalancing or recovering; retry shortly")
        name = w.topics.feedback_cases.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == name}
        now = datetime.now(UTC)
        items = []
        for state in list(tables.feedback.values()):
            if state.partition not in owned or state.status not in OPEN:
                continue
            in_review = state.assignment.team is None and state.assignment.assignee is None
            if team == "review" and not in_review:
                continue
            if team not in (None, "review") and state.assignment.team != team:
                continue
            if assignee is not None and state.assignment.assignee != assignee:
                continue
            items.append(view(state, now))
        local = {"partitions": sorted(owned), "items": items}
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        everyone = [i for share in shares for i in share["items"]]
        everyone.sort(key=lambda i: (i["priority"], i["received_at"], i["feedback_id"]))
        return self.json({"items": everyone, "total": len(everyone)})

    @app.page("/feedback/{feedback_id}")
    @app.table_route(table=tables.feedback, match_info="feedback_id")
    async def get_feedback(self: web.View, request: web.Request, feedback_id: str) -> web.Response:
        """One feedback with its explanation: the decision's reasons, scores and routing."""
        state = tables.feedback.get(feedback_id)
        if state is None:
            return self.json({"error": "not found", "feedback_id": feedback_id}, status=404)
        d = state.case.decision
        body = view(state, datetime.now(UTC))
        body["explain"] = {
            "reasons": d.reasons,
            "scores": d.scores,
            "model_version": d.model_version,
            "rules_version": d.rules_version,
            "routing": state.assignment.reason,
            "order": state.case.order.model_dump() if state.case.order else None,
        }
        return self.json(body)
