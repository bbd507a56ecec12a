"""HTTP queries over the insight tables, answered by the workers that own the data.

Counts and open orders are spread over every partition, so the worker that receives the
request asks each worker for its own partitions' share (``scope=local``) and merges them; if
the shares do not cover every partition (a rebalance), it answers 503 rather than a partial
figure. A customer lives on one partition: ``table_route`` forwards to its owner.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast, get_args

import yaml
from faust import web

from schemas.events import ClassifiedOrder, FollowupTask, SegmentChanged
from streams.app import Worker
from streams.classify import accuracy
from streams.classify import insight as state
from streams.web.care import summary as care_summary
from streams.web.common import error, gather, money, owned, ready


def load_spec() -> dict[str, Any]:
    """openapi.yaml plus the schemas of the event models it names, generated from them."""
    spec: dict[str, Any] = yaml.safe_load(
        resources.files("streams.web").joinpath("openapi.yaml").read_text()
    )
    components = spec["components"]["schemas"]
    for model in (ClassifiedOrder, SegmentChanged, FollowupTask):
        generated = model.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        components.update(generated.pop("$defs", {}))
        components[model.__name__] = generated
    return spec


SPEC = load_spec()
MAX_LIMIT = 500


def register(w: Worker) -> None:
    app, tables, settings = w.app, w.tables, w.settings

    def in_window(
        view: web.View, request: web.Request, default: str
    ) -> tuple[str, datetime, datetime, set[int], list[state.Bucket]] | web.Response:
        """The ``?window=`` asked for, and this worker's buckets; or the error to answer."""
        window = request.query.get("window", default)
        if window not in get_args(state.Window):
            return error(view, 400, f"window must be one of {list(get_args(state.Window))}")
        if not ready(w):
            return error(view, 503, "rebalancing or recovering; retry shortly")
        since, until = state.window_bounds(
            cast(state.Window, window), datetime.now(UTC), settings.timezone
        )
        owned_now = owned(w)
        buckets = [b for b in tables.insight_buckets.values() if b.partition in owned_now]
        return window, since, until, owned_now, buckets

    @app.page("/stats/{dimension}")
    async def stats(self: web.View, request: web.Request, dimension: str) -> web.Response:
        """Orders (created) and status changes per value of ``dimension`` in a window."""
        if dimension not in state.DIMENSIONS:
            return error(
                self, 404, f"unknown dimension {dimension!r}; one of {list(state.DIMENSIONS)}"
            )
        scope = in_window(self, request, "today")
        if not isinstance(scope, tuple):  # the error to answer
            return scope
        window, since, until, owned_now, buckets = scope
        mine = state.totals(buckets, dimension, since, until)
        local = {
            "partitions": sorted(owned_now),
            "values": {v: {"count": c.count, "amounts": money(c.amounts)} for v, c in mine.items()},
        }
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        merged = state.merge(
            {v: state.Cell.model_validate(c) for v, c in share["values"].items()}
            for share in shares
        )
        return self.json(
            {
                "dimension": dimension,
                "window": window,
                "from": since.isoformat(),
                "to": until.isoformat(),
                "timezone": settings.timezone,
                "total": sum(c.count for c in merged.values()),
                "values": [
                    {"value": v, "count": c.count, "amounts": money(c.amounts)}
                    for v, c in merged.items()
                ],
            }
        )

    @app.page("/accuracy")
    async def accuracy_view(self: web.View, request: web.Request) -> web.Response:
        """Share of the rules' decisions people corrected, per dimension, rule and version."""
        scope = in_window(self, request, "last_7_days")
        if not isinstance(scope, tuple):  # the error to answer
            return scope
        window, since, until, owned_now, buckets = scope
        counts = {
            name: {v: c.count for v, c in state.totals(buckets, name, since, until).items()}
            for name in accuracy.CELLS
        }
        local = {"partitions": sorted(owned_now), "counts": counts}
        if request.query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        merged: dict[str, dict[str, int]] = {name: {} for name in accuracy.CELLS}
        for share in shares:
            for name, values in share["counts"].items():
                for v, n in values.items():
                    merged[name][v] = merged[name].get(v, 0) + n
        return self.json(
            {
                "window": window,
                "from": since.isoformat(),
                "to": until.isoformat(),
                **accuracy.summary(merged),
            }
        )

    @app.page("/open-orders")
    async def open_orders(self: web.View, request: web.Request) -> web.Response:
        """Open orders (status category new or in progress), optionally of one category, paged."""
        query = request.query
        dimension, value = query.get("dimension"), query.get("value")
        if (dimension is None) != (value is None):
            return error(self, 400, "give both dimension and value, or neither")
        if dimension is not None and dimension not in state.OpenOrder.model_fields:
            return error(self, 400, f"unknown dimension {dimension!r}")
        try:
            limit = int(query.get("limit", "50"))
            after = query.get("after")
            if after is not None:
                datetime.fromisoformat(after.partition("|")[0])
        except ValueError:
            return error(self, 400, "limit must be an integer; after a cursor from `next`")
        if not 1 <= limit <= MAX_LIMIT:
            return error(self, 400, f"limit must be 1..{MAX_LIMIT}")
        if not ready(w):
            return error(self, 503, "rebalancing or recovering; retry shortly")
        owned_now = owned(w)
        rows = [
            entry.open
            for entry in tables.insight_orders.values()
            if entry.open is not None
            and entry.partition in owned_now
            and (dimension is None or str(getattr(entry.open, dimension)) == value)
        ]
        # One more than asked: the merged page needs to know whether another page follows.
        mine = [r.model_dump(mode="json") for r in state.page(rows, after, limit + 1)]
        local = {"partitions": sorted(owned_now), "items": mine}
        if query.get("scope") == "local":
            return self.json(local)
        shares = await gather(w, request, local)
        if shares is None:
            return error(self, 503, "not every partition answered; retry shortly")
        everyone = [state.OpenOrder.model_validate(i) for share in shares for i in share["items"]]
        chosen = state.page(everyone, after, limit + 1)
        more = len(chosen) > limit
        items = chosen[:limit]
        return self.json(
            {
                "items": [r.model_dump(mode="json") for r in items],
                "next": state.cursor_of(items[-1]) if more else None,
            }
        )

    @app.page("/customers/{customer_id}")
    @app.table_route(table=tables.customers, match_info="customer_id")
    async def customer(self: web.View, request: web.Request, customer_id: str) -> web.Response:
        """Order count and lifetime spend (customers table), segment of the latest order.

        Both tables are keyed by customer id on the same partitions, so the owner has both.
        No contact data is kept anywhere.
        """
        stats = tables.customers.get(customer_id)
        if stats is None:
            return error(self, 404, f"no customer {customer_id!r}")
        seen = tables.insight_customers.get(customer_id)
        return self.json(
            {
                "customer_id": customer_id,
                "segment": seen.segment if seen is not None else None,
                "order_count": stats.order_count,
                "lifetime_spend": money(stats.lifetime_spend),
                # Customer care (same key, same partition): segment, RFM, moves, follow-ups.
                **care_summary(
                    tables.customer_care.get(customer_id), w.rulebook.current, datetime.now(UTC)
                ),
            }
        )

    @app.page("/openapi.json")
    async def openapi(self: web.View, request: web.Request) -> web.Response:
        """The OpenAPI description of every endpoint (streams/web/openapi.yaml)."""
        return self.json(json.loads(json.dumps(SPEC, default=str)))
