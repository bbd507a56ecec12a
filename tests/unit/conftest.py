"""Builders for test data: small, explicit events with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import settings

from schemas.events import (
    ClassifiedOrder,
    Customer,
    Item,
    Notification,
    Order,
    OrderCreated,
    Status,
    StatusChanged,
)
from streams.classify import engine
from streams.classify.customers import CustomerStats, apply_order
from streams.classify.facts import OrderFacts
from streams.classify.notify import newly_fired, notifications
from streams.classify.rules import RuleSet

settings.register_profile("unit", deadline=None, max_examples=100)
settings.load_profile("unit")

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEFAULT_RULES = RuleSet.default()
#: order_id -> facts of the last order classified by ``classify`` (for ``change_status``).
FACTS: dict[str, OrderFacts] = {}

# Contact data that must never appear in any output.
CONTACT_NAME = "Zhang Wei-Unique"
CONTACT_EMAIL = "zhang.wei.unique@example.com"
CONTACT_PHONE = "+86-10-55501234"


def make_item(
    product_type: str = "electronics",
    unit_price: str | Decimal = "100.00",
    quantity: int = 1,
    sku: str | None = None,
) -> Item:
    return Item(
        sku=sku or f"{product_type[:3].upper()}-1",
        product_type=product_type,
        quantity=quantity,
        unit_price=Decimal(unit_price),
    )


def make_customer(
    customer_id: str = "C-1", *, vip: bool = False, type: str = "individual"
) -> Customer:
    return Customer.model_validate(
        {
            "customer_id": customer_id,
            "type": type,
            "vip": vip,
            "name": CONTACT_NAME,
            "email": CONTACT_EMAIL,
            "phone": CONTACT_PHONE,
        }
    )


def make_order(
    order_id: str = "SO-1",
    *,
    items: list[Item] | None = None,
    total: str | Decimal | None = None,
    currency: str = "CNY",
    customer: Customer | None = None,
    channel: str = "online",
    region: str = "east",
) -> Order:
    items = items or [make_item()]
    amount = (
        Decimal(total)
        if total is not None
        else sum((i.unit_price * i.quantity for i in items), Decimal(0))
    )
    return Order(
        order_id=order_id,
        currency=currency,
        total_amount=amount,
        channel=channel,
        region=region,
        customer=customer or make_customer(),
        items=items,
    )


def make_created(order: Order | None = None, event_id: str = "E-created-1") -> OrderCreated:
    return OrderCreated(event_id=event_id, occurred_at=NOW, order=order or make_order())


def make_status_change(
    from_status: Status | str,
    to_status: Status | str,
    *,
    order_id: str = "SO-1",
    event_id: str | None = None,
) -> StatusChanged:
    return StatusChanged(
        event_id=event_id or f"E-{from_status}-{to_status}",
        occurred_at=NOW,
        order_id=order_id,
        from_status=Status(from_status),
        to_status=Status(to_status),
        changed_by="u-1",
    )


def facts_of(order: Order | None = None, *, stats: CustomerStats | None = None) -> OrderFacts:
    created = make_created(order)
    _, snapshot = apply_order(stats, created.order)
    return OrderFacts.of(created, snapshot)


def classify(
    order: Order | None = None,
    *,
    stats: CustomerStats | None = None,
    rules: RuleSet = DEFAULT_RULES,
) -> ClassifiedOrder:
    """The created order's classification, with the customer history applied first."""
    facts = facts_of(order, stats=stats)
    FACTS[facts.order_id] = facts
    return engine.classify_created(
        facts, rules, event_id="E-created-1", occurred_at=NOW, now=NOW
    ).classification


def change_status(
    record: ClassifiedOrder,
    change: StatusChanged,
    *,
    now: datetime = NOW,
    rules: RuleSet = DEFAULT_RULES,
) -> ClassifiedOrder:
    """``record`` after ``change``, re-evaluated with the facts ``classify`` saw."""
    facts = FACTS.get(record.order_id)
    return engine.classify_status_change(record, facts, change, rules, now=now).classification


def notifications_for(
    before: ClassifiedOrder | None,
    after: ClassifiedOrder,
    *,
    now: datetime = NOW,
    rules: RuleSet = DEFAULT_RULES,
) -> list[Notification]:
    """What the order agent sends for the change ``before`` -> ``after``."""
    previous = before.status if before is not None else None
    fired = newly_fired(before, after)
    return notifications(after, fired, rules, previous_status=previous, now=now)


def created_payload() -> dict[str, Any]:
    """A valid ``orders.created`` value as plain JSON data (to be broken by the test)."""
    return {
        "event_id": "E-1",
        "schema_version": 1,
        "occurred_at": "2026-11-30T10:00:00+08:00",
        "order": {
            "order_id": "SO-1",
            "currency": "CNY",
            "total_amount": "12800.00",
            "channel": "online",
            "region": "east",
            "customer": {
                "customer_id": "C-1",
                "type": "enterprise",
                "vip": False,
                "name": CONTACT_NAME,
                "email": CONTACT_EMAIL,
                "phone": CONTACT_PHONE,
            },
            "items": [
                {"sku": "TV-1", "product_type": "electronics", "quantity": 2, "unit_price": "4200"},
                {"sku": "SW-1", "product_type": "software", "quantity": 1, "unit_price": "4400.00"},
            ],
        },
    }


def status_payload() -> dict[str, Any]:
    return {
        "event_id": "E-2",
        "schema_version": 1,
        "occurred_at": "2026-11-30T11:00:00Z",
        "order_id": "SO-1",
        "from_status": "new",
        "to_status": "confirmed",
    }
