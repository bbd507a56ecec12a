"""HTTP views of customer care: a customer's care summary, and open follow-ups across workers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faust import web

from streams.app import Worker
from streams.classify import care, followups
from streams.classify.rules import RuleSet
from streams.web.common import error, gather, money, ready


def summary(state: care.CareState | None, rules: RuleSet, now: datetime) -> dict[str, Any]:
    """What ``GET /customers/{id}`` adds: care segment, RFM, moves (bounded), open tasks."""
    if state is None:
        return {"care": None}
    rfm = care.rfm(state, rules.segments, now)
    return {
        "care": {
            "segment": state.segment,
            "since": state.since.isoformat() if state.since else None,
            "rfm": {**rfm.model_dump(mode="json"), "monetary": money(rfm.monetary)},
            "history": [m.event.model_dump(mode="json") for m in state.history],
            "open_followups": [task(t.task, now) for t in open_tasks(state)],
        }
    }


def open_tasks(state: care.CareState) -> list[care.Task]:
    return [t for t in state.tasks.values() if t.task.status != "done"]


def task(t: Any, now: datetime) -> dict[str, Any]:
    return {**t.model_dump(mode="json"), "overdue": followups.overdue(t, now)}


def register(w: Worker) -> None:
    app, tables = w.app, w.tables

    @app.page("/followups")
    async def open_followups(self: web.View, request: web.Request) -> web.Response:
        """Open follow-up tasks from every worker, earliest due first: ``?owner=`` a role's,
        ``?overdue=true`` only those past due."""
        owner = request.query.get("owner")
        overdue = request.query.get("overdue", "").lower() in ("1", "true", "yes")
        if not ready(w):
            return error(self, 503, "rebalancing or recovering; retry shortly")
        name = w.topics.customer_care.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == name}
        now = datetime.now(UTC)
        items = [
            task(t.task, now)
            for state in list(tables.customer_care.values())
            if state.partition in owned
            for t in open_tasks(state)
            if (owner is None or t.task.owner_role == owner)
            and (not overdue or followups.overdue(t.task, now))
        ]
        local = {"partitions": sorted(owned), "items": items}
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        everyone = [i for share in shares for i in share["items"]]
        everyone.sort(key=lambda i: (i["due_at"], i["task_id"]))
        return self.json({"items": everyone, "total": len(everyone)})
