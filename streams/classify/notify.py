"""Who must hear about an order, decided from its classification before and after an event."""

from __future__ import annotations

import uuid
from datetime import datetime

from schemas.events import ClassifiedOrder, CustomerSegment, Notification, Status, ValueTier

_NAMESPACE = uuid.UUID("6f6b1f4e-2f1e-4c53-9d1c-6f7264657274")


def notification_id(kind: str, order_id: str) -> str:
    """The same cause gives the same id: a reprocessed event cannot page anyone twice."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}\x1f{order_id}"))


def notifications_for(
    before: ClassifiedOrder | None, after: ClassifiedOrder, *, now: datetime
) -> list[Notification]:
    """Notify only for what became true with this event (``before`` is None on creation)."""
    wanted: list[tuple[str, str, str, str]] = []  # kind, role, severity, message
    amount = f"{after.total_amount} {after.currency}"
    if before is None and after.value_tier is ValueTier.HIGH:
        wanted.append(
            (
                "high_value_order",
                "sales_manager",
                "high",
                f"New high-value order {after.order_id} ({amount}, {after.primary_product_type},"
                f" {after.region}) - priority {after.priority.value}",
            )
        )
    if before is None and after.customer_segment is CustomerSegment.VIP:
        wanted.append(
            (
                "vip_order",
                "account_manager",
                "high" if after.priority.value == "P1" else "warning",
                f"VIP customer {after.customer_id} placed order {after.order_id} ({amount})",
            )
        )
    if before is not None and before.status != after.status:
        if after.status is Status.CANCELLED:
            wanted.append(
                (
                    "order_cancelled",
                    "customer_service",
                    "warning",
                    f"Order {after.order_id} ({amount}) was cancelled after {before.status.value}",
                )
            )
        elif after.status is Status.RETURNED:
            wanted.append(
                (
                    "order_returned",
                    "customer_service",
                    "warning",
                    f"Order {after.order_id} ({amount}) was returned after {before.status.value}",
                )
            )
    return [
        Notification(
            notification_id=notification_id(kind, after.order_id),
            kind=kind,
            recipient_role=role,
            severity=severity,
            order_id=after.order_id,
            message=message,
            cause_event_id=after.event_id,
            priority=after.priority,
            rules_version=after.rules_version,
            created_at=now,
        )
        for kind, role, severity, message in wanted
    ]
