"""Per-customer history: order count and lifetime spend, and the segment they imply."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CustomerSegment, Order


class CustomerStats(BaseModel):
    """What the customers table keeps per ``customer_id``. Contact data is never stored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_count: int = 0
    # Amounts in different currencies are never added together.
    lifetime_spend: dict[str, Decimal] = Field(default_factory=dict)


class CustomerSnapshot(BaseModel):
    """The customer as one order saw them: history up to and including that order.

    ``segment`` is decided by the order book with its rule set (so one rule set decides a
    whole classification); the fields stay optional here for records written before that.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_id: str
    prior_orders: int
    lifetime_spend: Decimal
    segment: CustomerSegment | None = None
    segment_reason: str | None = None


def apply_order(
    stats: CustomerStats | None, order: Order
) -> tuple[CustomerStats, CustomerSnapshot]:
    """Count ``order`` into the customer's history; the snapshot is what the order saw."""
    before = stats or CustomerStats()
    currency = order.currency
    spend = before.lifetime_spend.get(currency, Decimal(0)) + order.total_amount
    after = CustomerStats(
        order_count=before.order_count + 1,
        lifetime_spend={**before.lifetime_spend, currency: spend},
    )
    snapshot = CustomerSnapshot(
        customer_id=order.customer.customer_id,
        prior_orders=before.order_count,
        lifetime_spend=spend,
    )
    return after, snapshot
