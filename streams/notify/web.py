"""The notifier's HTTP server: the ack/claim page, delivery state, metrics.

It is the notifier's own server, not the worker's: it holds the link secret and the delivery
ledger the page needs, and a person acking from a phone must not depend on (or be able to
reach) the worker's internals. It reads the order from the worker's API when one is set.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest

from schemas.events import FeedbackStatus, FeedbackStatusChanged, Notification, OrderAction
from streams.notify import metrics, page, tokens
from streams.notify.config import NotifyConfig
from streams.notify.ledger import Entry, Ledger, dump

_ACTION_NS = uuid.UUID("a5c7e0b2-91d4-4f3e-8b6a-616374696f6e")
#: The notifier's web state, typed, on the aiohttp application.
STATE: web.AppKey[Site] = web.AppKey("notify")


class Site:
    def __init__(
        self,
        config: NotifyConfig,
        secret: bytes,
        ledger: Ledger,
        producer: AIOKafkaProducer,
        actions_topic: str,
        worker_url: str,
        session: aiohttp.ClientSession,
        feedback_topic: str = "feedback.status-changed",
        api_token: str = "",
    ) -> None:
        self.config, self.secret, self.ledger, self.producer = config, secret, ledger, producer
        self.actions_topic, self.worker_url, self.session = actions_topic, worker_url, session
        self.feedback_topic = feedback_topic
        self.worker_headers = {"Authorization": f"Bearer {api_token}"} if api_token else {}
        self.lock = asyncio.Lock()  # one /act at a time: one-time use must not race

    def notification(self, notification_id: str) -> Notification | None:
        return next(
            (e.notification for e in self.ledger.of(notification_id) if e.notification), None
        )

    def language(self, request: web.Request, person: str) -> str:
        asked = request.query.get("lang")
        if asked in page.TEXT:
            return asked
        known = self.config.people.get(person)
        return (known.language if known and known.language else None) or self.config.language

    async def order(self, order_id: str) -> dict[str, Any] | None:
        """The worker's view of the order, if it is reachable: the page works without it."""
        if not self.worker_url:
            return None
        try:
            timeout = aiohttp.ClientTimeout(total=2)
            async with self.session.get(
                f"{self.worker_url}/orders/{order_id}", headers=self.worker_headers, timeout=timeout
            ) as r:
                if r.status != 200:
                    return None
                body: dict[str, Any] = await r.json()
                found: dict[str, Any] = body.get("classification", body)
                return found
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None


def _page(
    site: Site, request: web.Request, lang: str, status_code: int, **ctx: Any
) -> web.Response:
    query = dict(request.query)
    query["lang"] = "en" if lang == "zh" else "zh"
    other = request.url.with_query(query).path_qs
    html = page.render(lang, other_lang_url=other, **ctx)
    return web.Response(text=html, status=status_code, content_type="text/html", charset="utf-8")


def _used(site: Site, claims: tokens.Claims) -> Entry | None:
    for action in tokens.ACTIONS:
        other = tokens.Claims(claims.notification_id, claims.person, action, claims.expires)
        entry = site.ledger.get(f"used\x1f{other.token_id}")
        if entry is not None:
            return entry
    return None


async def act_page(request: web.Request) -> web.Response:
    site = request.app[STATE]
    return await _act(site, request, request.query.get("token", ""), submit=False)


async def act_submit(request: web.Request) -> web.Response:
    site = request.app[STATE]
    form = await request.post()
    return await _act(
        site, request, str(form.get("token", "")), submit=True, lang=str(form.get("lang", ""))
    )


async def _act(
    site: Site, request: web.Request, token: str, *, submit: bool, lang: str = ""
) -> web.Response:
    try:
        claims = tokens.verify(site.secret, token, time.time())
    except tokens.BadToken as bad:
        metrics.ACTIONS.labels(bad.reason).inc()
        lang = lang if lang in page.TEXT else site.language(request, "")
        code = 410 if bad.reason == "expired" else 403
        return _page(site, request, lang, code, status=page.TEXT[lang][bad.reason], ok=False)
    lang = lang if lang in page.TEXT else site.language(request, claims.person)
    t = page.TEXT[lang]
    n = site.notification(claims.notification_id)
    if n is None:
        return _page(site, request, lang, 404, status=t["unknown"], ok=False)
    order = await site.order(n.order_id) if n.order_id else None
    ctx: dict[str, Any] = {"n": n, "order": order, "person": claims.person}
    async with site.lock:
        used = _used(site, claims)
        if used is not None:
            metrics.ACTIONS.labels("used").inc()
            return _page(
                site,
                request,
                lang,
                409 if submit else 200,
                status=t["used"].format(action=t.get(used.detail, used.detail)),
                ok=False,
                **ctx,
            )
        if not submit:
            forms = [
                (
                    a,
                    tokens.sign(
                        site.secret,
                        tokens.Claims(claims.notification_id, claims.person, a, claims.expires),
                    ),
                )
                for a in tokens.ACTIONS
            ]
            return _page(site, request, lang, 200, forms=forms, **ctx)
        action_id = str(uuid.uuid5(_ACTION_NS, claims.token_id))
        if n.feedback_id is not None:
            # Feedback: acknowledging or claiming is the first response; the desk stops that
            # clock (a claim does not move the feedback to another person).
            change = FeedbackStatusChanged(
                event_id=action_id,
                occurred_at=datetime.now(UTC),
                feedback_id=n.feedback_id,
                status=FeedbackStatus.ACKNOWLEDGED,
                changed_by=claims.person,
                comment=f"{claims.action} from notification {n.notification_id}",
            )
            topic, key, value = site.feedback_topic, n.feedback_id, change.model_dump_json()
        else:
            topic, key, value = site.actions_topic, n.order_id or "", ""
        action = OrderAction(
            action_id=action_id,
            action=claims.action,
            order_id=n.order_id or "",
            notification_id=n.notification_id,
            kind=n.kind,
            rule_id=n.rule_id,
            cause_event_id=n.cause_event_id,
            by=claims.person,
            acted_at=datetime.now(UTC),
        )
        # The event first: if the used-mark is lost in a crash, a second click writes the
        # same action_id again, which the order book recognises as a replay.
        await (
            await site.producer.send(
                topic, key=key.encode(), value=(value or action.model_dump_json()).encode()
            )
        )
        used_entry = Entry(
            key=f"used\x1f{claims.token_id}",
            state="used",
            notification_id=n.notification_id,
            person=claims.person,
            detail=claims.action,
            at=time.time(),
        )
        await site.ledger.write([(used_entry, zlib.crc32(claims.notification_id.encode()))])
        metrics.ACTIONS.labels("written").inc()
    done = t["done_ack"] if claims.action == "ack" else t["done_claim"]
    return _page(site, request, lang, 200, status=done, ok=True, **ctx)


async def notification_state(request: web.Request) -> web.Response:
    site = request.app[STATE]
    nid = request.match_info["notification_id"]
    entries = [e for e in site.ledger.of(nid) if e.state != "used"]
    if not entries:
        return web.json_response(
            {"error": "unknown notification", "notification_id": nid}, status=404
        )
    actions = [dump(e) for e in site.ledger.of(nid) if e.state == "used"]
    return web.json_response(
        {"notification_id": nid, "deliveries": [dump(e) for e in entries], "actions": actions}
    )


async def metrics_view(request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(metrics.REGISTRY), content_type="text/plain", charset="utf-8"
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def application(site: Site) -> web.Application:
    app = web.Application()
    app[STATE] = site
    app.router.add_get("/act", act_page)
    app.router.add_post("/act", act_submit)
    app.router.add_get("/notifications/{notification_id}", notification_state)
    app.router.add_get("/metrics", metrics_view)
    app.router.add_get("/healthz", healthz)
    return app
