"""HTTP views on the worker's web server: health, readiness, metrics and order lookups."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, cast

from aiohttp.web import Response
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import Worker
from streams.classify.engine import classify
from streams.runtime.continuity import client_positions
from streams.runtime.progress import Progress
from streams.web.common import error, gather

log = logging.getLogger("ordertriage.progress")


def register(w: Worker) -> None:
    app, tables, settings, topics = w.app, w.tables, w.settings, w.topics
    # Topics the agents consume; changelogs (read only during recovery) are not progress.
    # The insight agent's topics count too: a stuck insight agent holds the inputs.
    stream_topics = topics.input_names | topics.internal_names | topics.tick_names
    progress = Progress()

    @app.timer(interval=1.0)
    async def watch_progress() -> None:
        """Sample committed offsets and high-water marks: the stall metric and liveness."""
        now = time.monotonic()
        if app.rebalancing or app.in_recovery:
            progress.reset(now)
        consumer = app.consumer
        # Faust's own bookkeeping of what it committed (no public accessor; read-only here).
        committed = consumer._committed_offset
        progress.observe(
            now,
            {
                tp: (committed.get(tp), consumer.highwater(tp))
                for tp in consumer.assignment()
                if tp.topic in stream_topics
            },
            held=w.backpressure.held,
        )
        w.metrics.consumer_lag_records.set(progress.lag)
        stalled_for = progress.stalled_seconds(now)
        w.metrics.stalled_seconds.set(stalled_for)
        if stalled_for >= settings.stall_seconds / 2 and not reported:
            reported.append(now)
            log.warning("stream stalled for %.0f s: %s", stalled_for, why_stuck(now))
        elif stalled_for < settings.stall_seconds / 2:
            reported.clear()

    reported: list[float] = []

    def why_stuck(now: float) -> str:
        """What an operator (or a bug report) needs about each stuck partition."""
        consumer, cont = app.consumer, w.continuity
        positions = client_positions(consumer)
        parts = []
        for tp in progress.stuck(now, settings.stall_seconds / 2):
            acked = consumer._acked.get(tp) or []
            unacked = sorted(m.offset for m in consumer._unacked_messages if m.tp == tp)
            parts.append(
                f"{tp.topic}[{tp.partition}] committed={consumer._committed_offset.get(tp)}"
                f" highwater={consumer.highwater(tp)} position={positions.get(tp)}"
                f" expected={cont.expected.get(tp)}"
                f" commit_base={cont.commit_base.get(tp)} refetching={cont.refetching.get(tp)}"
                f" acked={min(acked) if acked else None}..{max(acked) if acked else None}"
                f"({len(acked)}) paused={tp in consumer._paused_partitions}"
                f" held={tp in w.backpressure.held} unacked={unacked[:5]}({len(unacked)})"
            )
        return "; ".join(parts) or "no partition"

    def stalled() -> bool:
        return progress.stalled_seconds(time.monotonic()) >= settings.stall_seconds

    @app.page("/metrics")
    async def metrics_page(self: web.View, request: web.Request) -> web.Response:
        """Business metrics and Faust's sensors, in Prometheus text format."""
        response = Response(
            body=generate_latest(w.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )
        return cast(web.Response, response)

    @app.page("/healthz")
    async def healthz(self: web.View, request: web.Request) -> web.Response:
        """Alive: the event loop answers and the stream is not stuck with records waiting.

        A stalled stream fails liveness so a supervisor restarts the worker: the group then
        rebalances and the replacement resumes from the committed offsets.
        """
        if stalled():
            stuck = round(progress.stalled_seconds(time.monotonic()), 1)
            return self.json({"status": "stalled", "stalled_seconds": stuck}, status=503)
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: web.View, request: web.Request) -> web.Response:
        """Ready: rules topic read, partitions assigned, tables recovered, not rebalancing, not
        stalled."""
        checks = {
            "rules_loaded": w.rulebook.ready.is_set(),
            "assigned": bool(app.consumer.assignment()),
            "recovered": app.tables.recovery.completed.is_set() and not app.in_recovery,
            "not_rebalancing": not app.rebalancing,
            "not_stalled": not stalled(),
        }
        refused = w.kafka_refusals.current()
        checks["kafka_authorized"] = not refused
        ready = all(checks.values())
        body: dict[str, Any] = {"ready": ready, "checks": checks}
        if refused:  # an ACL removed at runtime: which topics, for how long, the fix
            body["kafka_refused"] = {
                "principal": w.kafka_refusals.principal,
                "seconds_by_resource": refused,
                "fix": "restore the principal's ACLs (make acls); the worker resumes where it was",
            }
        if w.routing.seen:  # producers that do not key by order id with murmur2 (no data)
            body["misrouted_inputs"] = w.routing.summary()
        return self.json(body, status=200 if ready else 503)

    @app.page("/orders/overdue")
    async def overdue_orders(self: web.View, request: web.Request) -> web.Response:
        """Open orders past an SLA deadline, most overdue first, from every worker.

        Registered before ``/orders/{order_id}`` so it wins the match (an order id "overdue"
        cannot be looked up by path).
        """
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            return error(self, 400, "limit must be an integer")
        if not 1 <= limit <= 1000:
            return error(self, 400, "limit must be 1..1000")
        if not app.tables.recovery.completed.is_set() or app.rebalancing:
            return error(self, 503, "rebalancing or recovering; retry shortly")
        enriched = topics.enriched.get_topic_name()
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == enriched}
        now = datetime.now(UTC)
        items = []
        for order_id, state in list(tables.orders.items()):
            if state.partition not in owned or state.finished_at is not None:
                continue
            for clock in state.clocks:
                if clock.overdue(now):
                    c = state.classification
                    items.append(
                        {
                            "order_id": order_id,
                            "status": c.status.value,
                            "status_since": state.status_since.isoformat()
                            if state.status_since
                            else None,
                            "priority": c.priority.value,
                            "value_tier": c.value_tier.value,
                            "team": c.team,
                            "sla_id": clock.sla_id,
                            "due_at": clock.due_at.isoformat(),
                            "overdue_seconds": round((now - clock.due_at).total_seconds(), 1),
                            "escalation_level": clock.fired,
                            "notified_roles": clock.ladder[: clock.fired],
                        }
                    )
        local = {"partitions": sorted(owned), "items": items}
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        everyone = [i for share in shares for i in share["items"]]
        everyone.sort(key=lambda i: (-i["overdue_seconds"], i["order_id"]))
        return self.json({"items": everyone[:limit], "total": len(everyone)})

    @app.page("/orders/{order_id}")
    @app.table_route(table=tables.orders, match_info="order_id")
    async def get_order(self: web.View, request: web.Request, order_id: str) -> web.Response:
        """The order's current classification, from whichever worker owns its partition."""
        state = tables.orders.get(order_id)
        if state is None:
            return self.json({"error": "not found", "order_id": order_id}, status=404)
        body: dict[str, Any] = state.classification.model_dump(mode="json")
        return self.json(body)

    @app.page("/orders/{order_id}/explain")
    @app.table_route(table=tables.orders, match_info="order_id")
    async def explain_order(self: web.View, request: web.Request, order_id: str) -> web.Response:
        """Each dimension of the order's classification, what decided it, and the input values."""
        state = tables.orders.get(order_id)
        if state is None:
            return self.json({"error": "not found", "order_id": order_id}, status=404)
        stored = state.classification
        rules = w.rulebook.current
        body: dict[str, Any] = {"order_id": order_id, "rules_version": stored.rules_version}
        if state.facts is None:  # stored before facts were kept: the recorded reasons only
            body |= {
                "current": False,
                "inputs": {},
                "dimensions": [
                    {"dimension": k, "value": "", "decided_by": "", "reason": v}
                    for k, v in stored.reasons.items()
                ],
            }
            return self.json(body)
        # Re-run the core on the stored facts; with the same rule set it yields the same values.
        outcome = classify(
            state.facts,
            stored.status,
            rules,
            cause=stored.cause,
            event_id=stored.event_id,
            occurred_at=stored.occurred_at,
            now=stored.classified_at,
            status_reason=stored.reasons.get("status", ""),
            # Time-based facts as they were decided: at the event, or at the sweep.
            as_of=stored.classified_at if stored.cause == "reclassified" else stored.occurred_at,
            explain=True,
        )
        current = rules.version == stored.rules_version
        body |= {
            "current": current,
            "live_rules_version": rules.version,
            "inputs": outcome.inputs,
            "dimensions": [asdict(d) for d in outcome.trace]
            if current
            else [
                {"dimension": k, "value": "", "decided_by": stored.rules_version, "reason": v}
                for k, v in stored.reasons.items()
            ],
        }
        return self.json(body)
