"""What the views share: errors, partition ownership, and gathering every worker's share."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
from faust import web
from yarl import URL

from streams.app import Worker

PEER_TIMEOUT = aiohttp.ClientTimeout(total=10)


def error(view: web.View, status: int, message: str) -> web.Response:
    return view.json({"error": message}, status=status)


def money(amounts: dict[str, Decimal]) -> dict[str, str]:
    return {c: str(a) for c, a in sorted(amounts.items())}


def owned(w: Worker) -> set[int]:
    """Partitions this worker processes now (standby copies in the store are not ours)."""
    name = w.topics.classified.get_topic_name()
    return {tp.partition for tp in w.app.consumer.assignment() if tp.topic == name}


def ready(w: Worker) -> bool:
    return w.app.tables.recovery.completed.is_set() and not w.app.rebalancing


async def gather(
    w: Worker, request: web.Request, local: dict[str, Any]
) -> list[dict[str, Any]] | None:
    """Every worker's local share, this one's included; None if they miss a partition."""
    app = w.app
    me = str(app.conf.canonical_url).rstrip("/")
    others = [
        h for h in app.router.table_metadata(w.tables.insight_buckets.name) if h.rstrip("/") != me
    ]

    async def ask(host: str) -> dict[str, Any] | None:
        target = URL(host)
        url = request.url.with_host(target.host or "127.0.0.1").with_port(target.port)
        try:
            async with app.http_client.get(
                url.update_query(scope="local"),
                # The caller's token passed the guard; peers share it (as table_route forwards).
                headers={"Authorization": request.headers.get("Authorization", "")},
                timeout=PEER_TIMEOUT,
            ) as response:
                return await response.json() if response.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    answers = await asyncio.gather(*(ask(h) for h in others))
    shares = [local, *(a for a in answers if a is not None)]
    covered = {p for share in shares for p in share["partitions"]}
    return shares if covered == set(range(w.settings.topic_partitions)) else None
