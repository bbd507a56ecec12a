"""Per-customer history: order count and lifetime spend, and the segment they imply."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CustomerSegment, Order


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


class CustomerStats(BaseModel):
    """What the customers table keeps per ``customer_id``. Contact data is never stored.

    ``last_offset`` is the highest input offset counted in, and ``recent`` the snapshots the
    orders counted at offsets not yet committed saw: after a crash that kept this record but
    lost the "which event counted this order" record, the replay finds its snapshot here.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_count: int = 0
    # Amounts in different currencies are never added together.
    lifetime_spend: dict[str, Decimal] = Field(default_factory=dict)
    last_offset: int = -1
    recent: dict[int, CustomerSnapshot] = Field(default_factory=dict)


#: A bound on ``CustomerStats.recent`` should commits stall: far above the orders one customer
#: places between two commits.
MAX_RECENT = 256


def apply_order(
    stats: CustomerStats | None,
    order: Order,
    offset: int = -1,
    committed: int | None = None,
) -> tuple[CustomerStats, CustomerSnapshot]:
    """Count ``order`` (read at ``offset``) into the customer's history.

    The snapshot is what the order saw. ``committed`` is the input's committed offset:
    snapshots of offsets below it can no longer be replayed and are dropped.
    """
    before = stats or CustomerStats()
    currency = order.currency
    spend = before.lifetime_spend.get(currency, Decimal(0)) + order.total_amount
    snapshot = CustomerSnapshot(
        customer_id=order.customer.customer_id,
        prior_orders=before.order_count,
        lifetime_spend=spend,
    )
    recent = {
        at: seen for at, seen in before.recent.items() if committed is None or at >= committed
    }
    if offset >= 0:
        recent[offset] = snapshot
    after = CustomerStats(
        order_count=before.order_count + 1,
        lifetime_spend={**before.lifetime_spend, currency: spend},
        last_offset=max(before.last_offset, offset),
        recent=dict(list(recent.items())[-MAX_RECENT:]),
    )
    return after, snapshot


def counted_at(stats: CustomerStats | None, offset: int) -> CustomerSnapshot | None:
    """The snapshot of the order counted at ``offset``, if this record has counted it."""
    if stats is None or stats.last_offset < offset:
        return None
    return stats.recent.get(offset)
