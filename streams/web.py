"""HTTP views on the worker's web server: health, readiness and order lookups."""

from __future__ import annotations

from typing import Any, cast

from aiohttp.web import Response
from faust import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app, registry, tables


@app.page("/metrics")
async def metrics(self: web.View, request: web.Request) -> web.Response:
    """Business metrics and Faust's sensors, in Prometheus text format."""
    response = Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )
    return cast(web.Response, response)


@app.page("/healthz")
async def healthz(self: web.View, request: web.Request) -> web.Response:
    """Alive: the event loop answers."""
    return self.json({"status": "ok"})


@app.page("/readyz")
async def readyz(self: web.View, request: web.Request) -> web.Response:
    """Ready: partitions assigned, tables recovered, not rebalancing."""
    checks = {
        "assigned": bool(app.consumer.assignment()),
        "recovered": app.tables.recovery.completed.is_set(),
        "not_rebalancing": not app.rebalancing,
    }
    ready = all(checks.values())
    return self.json({"ready": ready, "checks": checks}, status=200 if ready else 503)


@app.page("/orders/{order_id}")
@app.table_route(table=tables.orders, match_info="order_id")
async def get_order(self: web.View, request: web.Request, order_id: str) -> web.Response:
    """The order's current classification, from whichever worker owns its partition."""
    state = tables.orders.get(order_id)
    if state is None:
        return self.json({"error": "not found", "order_id": order_id}, status=404)
    body: dict[str, Any] = state.classification.model_dump(mode="json")
    return self.json(body)
