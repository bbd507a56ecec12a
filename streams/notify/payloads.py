"""Each platform's documented request and answer, as pure functions (no I/O).

Signing follows the platforms' own documentation byte for byte:

* DingTalk robot: ``sign = urlencode(base64(HMAC-SHA256(key=secret, msg="{ts_ms}\\n{secret}")))``
  sent as ``timestamp`` and ``sign`` query parameters (timestamp in milliseconds).
* Feishu custom bot: ``sign = base64(HMAC-SHA256(key="{ts_s}\\n{secret}", msg=b""))``, sent
  with ``timestamp`` (seconds, a string) in the JSON body.
* The generic webhook: ``X-Ordertriage-Signature: sha256=hex(HMAC-SHA256(secret, "{ts}.{body}"))``
  with ``X-Ordertriage-Timestamp`` and an ``Idempotency-Key`` the receiver can de-duplicate on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

import orjson

from streams.notify.messages import Message

_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")


@dataclass(frozen=True)
class Answer:
    """What a channel said: delivered, or not and whether trying again can help."""

    ok: bool
    retryable: bool
    detail: str
    retry_after: float | None = None


# --- signing ---------------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    if secret is None:
        return url
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}timestamp={timestamp_ms}&sign={dingtalk_sign(secret, timestamp_ms)}"


# --- payloads --------------------------------------------------------------------------------


def _plain(line: str) -> str:
    return _BOLD.sub(r"\1", _LINK.sub(r"\1: \2", line))


def dingtalk(message: Message) -> dict[str, Any]:
    text = "\n\n".join(message.lines)
    if not message.buttons:
        return {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}
    return {
        "msgtype": "actionCard",
        "actionCard": {
            "title": message.title,
            "text": text,
            "btnOrientation": "0",
            "btns": [{"title": b.label, "actionURL": b.url} for b in message.buttons],
        },
    }


_FEISHU_COLOUR = {"critical": "red", "high": "orange", "warning": "yellow", "info": "blue"}


def feishu(message: Message, secret: str | None, timestamp_s: int) -> dict[str, Any]:
    elements: list[dict[str, Any]] = [
        {"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(message.lines[1:])}}
    ]
    if message.buttons:
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": b.label},
                        "url": b.url,
                        "type": "primary" if i == 0 else "default",
                    }
                    for i, b in enumerate(message.buttons)
                ],
            }
        )
    body: dict[str, Any] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": _FEISHU_COLOUR.get(message.severity, "blue"),
            },
            "elements": elements,
        },
    }
    if secret is not None:
        body = {"timestamp": str(timestamp_s), "sign": feishu_sign(secret, timestamp_s), **body}
    return body


def wecom(message: Message) -> dict[str, Any]:
    # WeCom markdown: at most 4096 bytes; links and bold are supported, buttons are not.
    content = "\n".join(message.lines).encode()[:4096].decode("utf-8", "ignore")
    return {"msgtype": "markdown", "markdown": {"content": content}}


def slack(message: Message) -> dict[str, Any]:
    def mrkdwn(line: str) -> str:
        return _BOLD.sub(r"*\1*", _LINK.sub(r"<\2|\1>", line))

    text = "\n".join(map(mrkdwn, message.lines))
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if message.buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": b.label},
                        "url": b.url,
                        **({"style": "primary"} if i == 0 else {}),
                    }
                    for i, b in enumerate(message.buttons)
                ],
            }
        )
    return {"text": message.title, "blocks": blocks}


def webhook(message: Message, delivery_id: str) -> bytes:
    return orjson.dumps(
        {
            "delivery_id": delivery_id,
            "notification_ids": list(message.notification_ids),
            "title": message.title,
            "severity": message.severity,
            "text": "\n".join(_plain(line) for line in message.lines),
            "links": [{"label": b.label, "url": b.url} for b in message.buttons],
        }
    )


def email(message: Message, sender: str, to: str, delivery_id: str) -> EmailMessage:
    """Message-ID is derived from the delivery, so a re-sent mail is the same mail."""
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = sender
    mail["To"] = to
    mail["Message-ID"] = f"<{delivery_id}@ordertriage.notify>"
    mail.set_content("\n\n".join(_plain(line) for line in message.lines))
    return mail


# --- answers ---------------------------------------------------------------------------------

#: Platform codes that mean "too many messages": retry later, do not give up.
_RATE_CODES = {"dingtalk": {130101}, "wecom": {45009}, "feishu": {11232}}


def answer(platform: str, status: int, body: bytes, retry_after: str | None) -> Answer:
    """Read a channel's HTTP answer. The robots answer 200 with an error code in the body."""
    detail = f"HTTP {status}: {body[:500].decode('utf-8', 'replace')}"
    wait = _seconds(retry_after)
    if status == 429 or status >= 500:
        return Answer(False, True, detail, wait)
    if status >= 400:
        return Answer(False, False, detail)
    if platform in ("slack", "webhook"):
        return Answer(True, False, detail)
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return Answer(False, True, detail)
    code = parsed.get("errcode", parsed.get("code", parsed.get("StatusCode", 0)))
    if code == 0:
        return Answer(True, False, detail)
    return Answer(False, code in _RATE_CODES.get(platform, set()), detail, wait)


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
