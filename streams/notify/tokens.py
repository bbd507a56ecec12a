"""Signed, expiring ack/claim links: pure, so forging and replaying are unit-testable.

A token is ``base64url(json claims) "." base64url(HMAC-SHA256(secret, claims))``; the claims
are the notification id, the person (or ``@channel`` for a group robot), the action and the
expiry. Verification compares in constant time. One-time use is not the token's business:
the service records each used token id (``token_id``) and refuses a second use.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

import orjson

Action = Literal["ack", "claim"]
ACTIONS: tuple[Action, ...] = ("ack", "claim")


class BadToken(ValueError):
    """Forged, malformed or expired; ``reason`` is shown to the person."""

    def __init__(self, reason: Literal["malformed", "forged", "expired"]) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Claims:
    notification_id: str
    person: str
    action: Action
    expires: int

    @property
    def token_id(self) -> str:
        """What one-time use is keyed by: one use per notification, person and action."""
        return f"{self.notification_id}\x1f{self.person}\x1f{self.action}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, claims: Claims) -> str:
    body = orjson.dumps(
        {"n": claims.notification_id, "p": claims.person, "a": claims.action, "e": claims.expires}
    )
    mac = hmac.new(secret, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def verify(secret: bytes, token: str, now: float) -> Claims:
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        raise BadToken("malformed") from None
    if not hmac.compare_digest(mac, hmac.new(secret, body, hashlib.sha256).digest()):
        raise BadToken("forged")
    try:
        raw = orjson.loads(body)
        claims = Claims(str(raw["n"]), str(raw["p"]), raw["a"], int(raw["e"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadToken("malformed") from None
    if claims.action not in ACTIONS:
        raise BadToken("malformed")
    if now >= claims.expires:
        raise BadToken("expired")
    return claims
