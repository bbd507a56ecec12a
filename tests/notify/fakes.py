"""Local stand-ins for the chat platforms and a mail server, each keeping its documented contract.

Each fake checks the payload shape and verifies the signature the way its platform documents
it, answers errors the way the platform does (robots: HTTP 200 with an error code; Slack: a
status and a plain-text word) and enforces the platform's rate limit, so a notifier that
breaks a contract fails here as it would in production. Received messages are kept for the
tests to count (per notification id, via the signed links the messages carry).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import socket
import ssl
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, ClassVar

import orjson
import trustme
from aiohttp import web
from aiosmtpd.controller import Controller

TOKEN = re.compile(r"token=([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+)")


def notification_ids(text: str) -> list[str]:
    """The notification ids of the ack links in a message (one; several in a digest)."""
    out: dict[str, None] = {}  # a message may carry its link twice (text and button)
    for token in TOKEN.findall(text):
        body = token.split(".")[0]
        out[orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))["n"]] = None
    return list(out)


@dataclass
class Received:
    platform: str
    body: dict[str, Any] | str
    text: str
    at: float
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ids(self) -> list[str]:
        return notification_ids(self.text)


class Platforms:
    """One aiohttp server with every platform's robot endpoint on its documented path."""

    #: The platforms' documented limits: (messages, seconds) windows.
    LIMITS: ClassVar[dict[str, tuple[tuple[int, float], ...]]] = {
        "dingtalk": ((20, 60.0),),
        "wecom": ((20, 60.0),),
        "feishu": ((100, 60.0), (5, 1.0)),
    }

    def __init__(self, secrets: dict[str, str], *, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s  # each answer takes this long, like a platform across the net
        self.secrets = secrets  # dingtalk, feishu, webhook signing keys; tokens/keys for URLs
        self.received: list[Received] = []
        self.rejected: list[tuple[str, str]] = []
        #: Answers to give before normal service, per platform: 429, 500, "timeout", "code".
        self.script: dict[str, deque[int | str]] = {}
        self.calls: dict[str, int] = {}
        self._times: dict[str, deque[float]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- life ---------------------------------------------------------------------------------

    async def start(self) -> Platforms:
        app = web.Application()
        app.router.add_post("/robot/send", self.dingtalk)
        app.router.add_post("/open-apis/bot/v2/hook/{token}", self.feishu)
        app.router.add_post("/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/services/{a}/{b}/{c}", self.slack)
        app.router.add_post("/hook", self.webhook)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, platform: str) -> str:
        base = f"http://127.0.0.1:{self.port}"
        return {
            "dingtalk": f"{base}/robot/send?access_token={self.secrets['dingtalk_token']}",
            "feishu": f"{base}/open-apis/bot/v2/hook/{self.secrets['feishu_token']}",
            "wecom": f"{base}/cgi-bin/webhook/send?key={self.secrets['wecom_key']}",
            "slack": f"{base}/services/T000/B000/{self.secrets['slack_token']}",
            "webhook": f"{base}/hook",
        }[platform]

    def of(self, platform: str) -> list[Received]:
        return [r for r in self.received if r.platform == platform]

    # --- shared ---------------------------------------------------------------------------------

    async def _scripted(self, platform: str) -> int | str | None:
        self.calls[platform] = self.calls.get(platform, 0) + 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        queue = self.script.get(platform)
        if not queue:
            return None
        step = queue.popleft()
        if step == "timeout":
            await asyncio.sleep(3600)  # the client's timeout ends this, not the server
        return step

    def _over(self, platform: str) -> bool:
        limits = self.LIMITS[platform]
        now = time.monotonic()
        times = self._times.setdefault(platform, deque())
        if any(sum(1 for t in times if t > now - s) >= n for n, s in limits):
            return True
        times.append(now)
        return False

    def _reject(self, platform: str, why: str) -> None:
        self.rejected.append((platform, why))

    # --- DingTalk: access_token, timestamp (ms) and sign in the query; errcode in the body -------

    async def dingtalk(self, request: web.Request) -> web.Response:
        step = await self._scripted("dingtalk")
        if isinstance(step, int):
            return web.Response(status=step, text="error")
        q = request.query
        if q.get("access_token") != self.secrets["dingtalk_token"]:
            return _errcode(300001, "token is not exist")
        try:
            ts = int(q["timestamp"])
        except (KeyError, ValueError):
            self._reject("dingtalk", "no timestamp")
            return _errcode(310000, "sign not match, more: [timestamp missing]")
        secret = self.secrets["dingtalk_secret"]
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        if abs(time.time() * 1000 - ts) > 3600_000 or not hmac.compare_digest(
            q.get("sign", ""), expected
        ):
            self._reject("dingtalk", "sign")
            return _errcode(310000, "sign not match")
        body = await request.json()
        kind = body.get("msgtype")
        part = body.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "markdown", "actionCard", "link", "feedCard") or not part:
            self._reject("dingtalk", f"msgtype {kind}")
            return _errcode(40035, "缺少参数 msgtype")
        if kind in ("markdown", "actionCard") and not (part.get("title") and part.get("text")):
            self._reject("dingtalk", "title/text")
            return _errcode(40035, "缺少参数 title/text")
        if kind == "actionCard" and not (part.get("btns") or part.get("singleURL")):
            self._reject("dingtalk", "btns")
            return _errcode(40035, "缺少参数 btns")
        if self._over("dingtalk"):
            return _errcode(130101, "send too fast, exceed 20 times per minute")
        self.received.append(Received("dingtalk", body, orjson.dumps(body).decode(), time.time()))
        return _errcode(0, "ok")

    # --- Feishu: timestamp (s) and sign in the body; code in the body ---------------------------

    async def feishu(self, request: web.Request) -> web.Response:
        step = await self._scripted("feishu")
        if isinstance(step, int):
            return web.Response(status=step, text="error")
        if request.match_info["token"] != self.secrets["feishu_token"]:
            return web.json_response({"code": 19001, "msg": "param invalid: incoming webhook"})
        body = await request.json()
        secret = self.secrets["feishu_secret"]
        ts = str(body.get("timestamp", ""))
        expected = base64.b64encode(
            hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()
        ).decode()
        if (
            not ts.isdigit()
            or abs(time.time() - int(ts)) > 3600
            or not hmac.compare_digest(str(body.get("sign", "")), expected)
        ):
            self._reject("feishu", "sign")
            return web.json_response(
                {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        kind = body.get("msg_type")
        if kind == "interactive":
            card = body.get("card") or {}
            ok = isinstance(card.get("elements"), list) and bool(card.get("header"))
        elif kind == "text":
            ok = bool((body.get("content") or {}).get("text"))
        else:
            ok = kind in ("post", "image", "share_chat")
        if not ok:
            self._reject("feishu", f"msg_type {kind}")
            return web.json_response({"code": 9499, "msg": "Bad Request"}, status=400)
        if self._over("feishu"):
            return web.json_response({"code": 11232, "msg": "frequency limited psm"})
        self.received.append(Received("feishu", body, orjson.dumps(body).decode(), time.time()))
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    # --- WeCom: key in the URL, plain JSON, errcode in the body ---------------------------------

    async def wecom(self, request: web.Request) -> web.Response:
        step = await self._scripted("wecom")
        if isinstance(step, int):
            return web.Response(status=step, text="error")
        if request.query.get("key") != self.secrets["wecom_key"]:
            return _errcode(93000, "invalid webhook url")
        body = await request.json()
        kind = body.get("msgtype")
        content = (body.get(kind) or {}).get("content", "") if isinstance(kind, str) else ""
        if kind not in ("text", "markdown") or not content:
            self._reject("wecom", f"msgtype {kind}")
            return _errcode(40008, "invalid message type")
        if len(content.encode()) > 4096:
            self._reject("wecom", "too long")
            return _errcode(40058, "markdown.content exceed max length 4096")
        if self._over("wecom"):
            return _errcode(45009, "api freq out of limit")
        self.received.append(Received("wecom", body, content, time.time()))
        return _errcode(0, "ok")

    # --- Slack: text and/or blocks; answers are words --------------------------------------------

    async def slack(self, request: web.Request) -> web.Response:
        step = await self._scripted("slack")
        if step == 429:
            return web.Response(status=429, text="rate_limited", headers={"Retry-After": "1"})
        if isinstance(step, int):
            return web.Response(status=step, text="internal_error")
        if request.match_info["c"] != self.secrets["slack_token"]:
            return web.Response(status=403, text="invalid_token")
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        blocks = body.get("blocks")
        if not body.get("text") and not blocks:
            self._reject("slack", "no text")
            return web.Response(status=400, text="no_text")
        if blocks is not None and not all(isinstance(b, dict) and "type" in b for b in blocks):
            self._reject("slack", "blocks")
            return web.Response(status=400, text="invalid_blocks")
        self.received.append(Received("slack", body, orjson.dumps(body).decode(), time.time()))
        return web.Response(text="ok")

    # --- the generic signed webhook ---------------------------------------------------------------

    async def webhook(self, request: web.Request) -> web.Response:
        step = await self._scripted("webhook")
        if isinstance(step, int):
            return web.Response(status=step, text="error")
        raw = await request.read()
        ts = request.headers.get("X-Ordertriage-Timestamp", "")
        mac = hmac.new(self.secrets["webhook_secret"].encode(), f"{ts}.".encode() + raw, "sha256")
        if not hmac.compare_digest(
            request.headers.get("X-Ordertriage-Signature", ""), "sha256=" + mac.hexdigest()
        ):
            self._reject("webhook", "signature")
            return web.Response(status=401, text="bad signature")
        key = request.headers.get("Idempotency-Key", "")
        if not key:
            return web.Response(status=400, text="Idempotency-Key required")
        body = orjson.loads(raw)
        headers = {"Idempotency-Key": key}
        self.received.append(
            Received("webhook", body, orjson.dumps(body).decode(), time.time(), headers)
        )
        return web.Response(status=202, text="accepted")

    def webhook_unique(self) -> dict[str, Received]:
        """What a receiver de-duplicating on Idempotency-Key keeps."""
        return {r.headers["Idempotency-Key"]: r for r in self.of("webhook")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _errcode(code: int, message: str) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": message})


class Mailbox:
    """A real SMTP server (aiosmtpd) that requires STARTTLS, with a throwaway CA from trustme."""

    def __init__(self, tmp: Path) -> None:
        self.ca = trustme.CA()
        self.ca_file = tmp / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.messages: list[dict[str, str]] = []
        self.plain_attempts = 0
        self.controller = Controller(
            self,
            hostname="127.0.0.1",
            port=free_port(),
            tls_context=context,
            require_starttls=True,
        )

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if session.ssl is None:
            self.plain_attempts += 1
            return "530 Must issue a STARTTLS command first"
        mail = message_from_bytes(envelope.content, policy=policy.default)
        body = mail.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        self.messages.append(
            {
                "message_id": str(mail["Message-ID"]),
                "to": ",".join(envelope.rcpt_tos),
                "subject": str(mail["Subject"]),
                "text": text,
            }
        )
        return "250 OK"

    def start(self) -> Mailbox:
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def stop(self) -> None:
        self.controller.stop()

    def unique(self) -> dict[str, dict[str, str]]:
        """What a mail store de-duplicating on Message-ID keeps."""
        return {m["message_id"]: m for m in self.messages}
