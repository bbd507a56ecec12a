"""Builders of upstream events for integration tests (JSON bytes, as producers send them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson


def _t0() -> datetime:
    """A few minutes ago, within today (UTC): recent enough that no SLA (the shortest is 2 h
    for a P1 confirmation) has passed while the tests run, and inside "today" for /stats.
    A fixed date made the tests fail once the wall clock passed it by 2 h (reminders fired)."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    midnight = now.replace(hour=0, minute=0)
    return max(now - timedelta(minutes=10), midnight)


T0 = _t0()


def created(
    order_id: str,
    customer_id: str,
    amount: str,
    *,
    vip: bool = False,
    ctype: str = "enterprise",
    items: list[dict[str, Any]] | None = None,
    event_id: str | None = None,
    currency: str = "CNY",
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "schema_version": 1,
        "occurred_at": T0.isoformat(),
        "order": {
            "order_id": order_id,
            "currency": currency,
            "total_amount": amount,
            "channel": "online",
            "region": "east",
            "customer": {
                "customer_id": customer_id,
                "type": ctype,
                "vip": vip,
                "name": "Wei Zhang",
                "email": "wei.zhang@example.com",
                "phone": "+86-10-5555-0101",
            },
            "items": items
            or [
                {"sku": "TV-55", "product_type": "electronics", "quantity": 1, "unit_price": amount}
            ],
        },
    }


def status(
    order_id: str,
    from_status: str,
    to_status: str,
    *,
    minutes: int = 5,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "schema_version": 1,
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "order_id": order_id,
        "from_status": from_status,
        "to_status": to_status,
        "changed_by": "u-7",
    }


def dumps(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)


def loads(raw: bytes | None) -> Any:
    return orjson.loads(raw or b"null")


def feedback(
    feedback_id: str,
    text: str,
    *,
    customer_id: str = "C-1",
    order_id: str | None = None,
    channel: str = "app",
    rating: int | None = None,
    event_id: str | None = None,
    minutes: int = 0,
) -> dict[str, Any]:
    """A ``feedback.received`` event."""
    event: dict[str, Any] = {
        "event_id": event_id or f"{feedback_id}-received",
        "schema_version": 1,
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "feedback_id": feedback_id,
        "channel": channel,
        "customer_id": customer_id,
        "text": text,
    }
    if order_id is not None:
        event["order_id"] = order_id
    if rating is not None:
        event["rating"] = rating
    return event


def feedback_status(
    feedback_id: str, status: str, *, by: str = "u-1", minutes: int = 5, event_id: str | None = None
) -> dict[str, Any]:
    """A ``feedback.status-changed`` event."""
    return {
        "event_id": event_id or f"{feedback_id}-{status}-{minutes}",
        "schema_version": 1,
        "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
        "feedback_id": feedback_id,
        "status": status,
        "changed_by": by,
    }
