"""Per-customer history: order count and lifetime spend, and the segment they imply."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CustomerSegment, Order
from streams.classify.config import ClassificationConfig


class CustomerStats(BaseModel):
    """What the customers table keeps per ``customer_id``. Contact data is never stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_count: int = 0
    # Amounts in different currencies are never added together.
    lifetime_spend: dict[str, Decimal] = Field(default_factory=dict)


class CustomerSnapshot(BaseModel):
    """The customer as one order saw them: history up to and including that order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    segment: CustomerSegment
    prior_orders: int
    lifetime_spend: Decimal
    segment_reason: str


def apply_order(
    stats: CustomerStats | None, order: Order, config: ClassificationConfig
) -> tuple[CustomerStats, CustomerSnapshot]:
    """Count ``order`` into the customer's history and segment the customer for it."""
    before = stats or CustomerStats()
    currency = order.currency
    spend = before.lifetime_spend.get(currency, Decimal(0)) + order.total_amount
    after = CustomerStats(
        order_count=before.order_count + 1,
        lifetime_spend={**before.lifetime_spend, currency: spend},
    )
    threshold = config.vip_threshold_for(currency)
    if order.customer.vip:
        segment, reason = CustomerSegment.VIP, "flagged vip by the upstream system"
    elif spend >= threshold:
        segment = CustomerSegment.VIP
        reason = f"lifetime spend {spend} {currency} >= vip threshold {threshold}"
    elif before.order_count == 0:
        segment, reason = CustomerSegment.NEW, "first order of this customer"
    else:
        segment = CustomerSegment.REGULAR
        reason = (
            f"{before.order_count} earlier orders, lifetime spend {spend} {currency}"
            f" < vip threshold {threshold}"
        )
    snapshot = CustomerSnapshot(
        customer_id=order.customer.customer_id,
        segment=segment,
        prior_orders=before.order_count,
        lifetime_spend=spend,
        segment_reason=reason,
    )
    return after, snapshot
