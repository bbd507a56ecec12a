"""Records on ordertriage's own internal topics and in its tables (not a public contract)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import ClassifiedOrder, OrderCreated
from streams.classify.customers import CustomerSnapshot


class Source(BaseModel):
    """Where an input record came from: carried along so a dead letter can point back to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: str | None = None


class EnrichedOrder(BaseModel):
    """A created order plus the customer history it was counted into (keyed by order id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: OrderCreated
    customer: CustomerSnapshot
    source: Source


class OrderState(BaseModel):
    """What the orders table keeps per order: current classification, recent event ids."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classification: ClassifiedOrder
    applied_event_ids: list[str] = Field(default_factory=list)


class ParkedStatus(BaseModel):
    """A status change that arrived before its order; kept until it arrives or grace ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw: str
    source: Source
    parked_at: float


class ParkedStatuses(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[ParkedStatus] = Field(default_factory=list)


class Tick(BaseModel):
    """Sent to each owned partition of the ticks topic so timed work runs inside a stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    now: float
