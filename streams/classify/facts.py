"""What the classifier needs to know about an order, kept so it can be classified again.

``OrderFacts`` is the order as it was created plus the customer history it saw, without
contact data. The orders table keeps it so a new rule set can re-evaluate open orders.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import CustomerType, Item, OrderCreated
from streams.classify.corrections import Override
from streams.classify.customers import CustomerSnapshot


class OrderFacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str
    created_event_id: str
    created_at: datetime
    currency: str
    total_amount: Decimal
    channel: str
    region: str
    customer_id: str
    customer_type: CustomerType
    customer_vip: bool
    prior_orders: int = Field(ge=0)
    lifetime_spend: Decimal = Field(description="in this order's currency, this order included")
    items: list[Item]
    #: Feedback ids of complaints about this order (linked by the feedback intake).
    complaints: list[str] = Field(default_factory=list)
    #: People's corrections by dimension (``orders.corrections``): applied over the rules.
    corrections: dict[str, Override] = Field(default_factory=dict)

    @classmethod
    def of(cls, event: OrderCreated, customer: CustomerSnapshot) -> OrderFacts:
        order = event.order
        return cls(
            order_id=order.order_id,
            created_event_id=event.event_id,
            created_at=event.occurred_at,
            currency=order.currency,
            total_amount=order.total_amount,
            channel=order.channel,
            region=order.region,
            customer_id=order.customer.customer_id,
            customer_type=order.customer.type,
            customer_vip=order.customer.vip,
            prior_orders=customer.prior_orders,
            lifetime_spend=customer.lifetime_spend,
            items=order.items,
        )

    @property
    def quantity(self) -> int:
        return sum(i.quantity for i in self.items)
