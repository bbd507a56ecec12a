"""Classify an order: from a created event plus customer history, or after a status change."""

from __future__ import annotations

from datetime import datetime

from schemas.events import ClassifiedOrder, OrderCreated, Status, StatusChanged
from streams.classify import dimensions
from streams.classify.config import ClassificationConfig
from streams.classify.customers import CustomerSnapshot
from streams.classify.lifecycle import check_transition, status_category


def classify_created(
    event: OrderCreated,
    customer: CustomerSnapshot,
    config: ClassificationConfig,
    *,
    now: datetime,
) -> ClassifiedOrder:
    order = event.order
    types, primary, primary_reason = dimensions.product_types(order.items)
    tier, tier_reason = dimensions.value_tier(order.total_amount, order.currency, config)
    prio, prio_reason = dimensions.priority(tier, customer.segment)
    tag_list, tag_reason = dimensions.tags(tier, customer.segment, types, order.items, config)
    return ClassifiedOrder(
        order_id=order.order_id,
        event_id=event.event_id,
        cause="order-created",
        occurred_at=event.occurred_at,
        classified_at=now,
        customer_id=order.customer.customer_id,
        customer_type=order.customer.type,
        customer_segment=customer.segment,
        product_types=types,
        primary_product_type=primary,
        value_tier=tier,
        total_amount=order.total_amount,
        currency=order.currency,
        item_count=len(order.items),
        channel=order.channel,
        region=order.region,
        status=Status.NEW,
        status_category=status_category(Status.NEW),
        tags=tag_list,
        priority=prio,
        rules_version=config.version,
        reasons={
            "product_type": primary_reason,
            "customer_type": f"customer.type is {order.customer.type.value}",
            "customer_segment": customer.segment_reason,
            "value_tier": tier_reason,
            "status": "new orders start in status new",
            "tags": tag_reason,
            "priority": prio_reason,
        },
    )


def classify_status_change(
    current: ClassifiedOrder, event: StatusChanged, *, now: datetime
) -> ClassifiedOrder:
    """Apply a status change; raises ``InvalidTransition`` when the state machine refuses it.

    Value, segment, tags and priority were decided when the order was created and stay.
    """
    check_transition(current.status, event.from_status, event.to_status)
    category = status_category(event.to_status)
    reasons = {
        **current.reasons,
        "status": f"{event.from_status.value} -> {event.to_status.value}"
        f" by {event.changed_by or 'unknown'} at {event.occurred_at.isoformat()}",
    }
    return current.model_copy(
        update={
            "event_id": event.event_id,
            "cause": "status-changed",
            "occurred_at": event.occurred_at,
            "classified_at": now,
            "status": event.to_status,
            "status_category": category,
            "reasons": reasons,
        }
    )
