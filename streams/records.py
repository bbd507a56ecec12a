"""Records on ordertriage's own internal topics and in its tables (not a public contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import (
    ClassifiedOrder,
    FeedbackChannel,
    FeedbackCorrection,
    FeedbackStatusChanged,
    OrderCreated,
    Priority,
)
from streams.classify.care import CareFact
from streams.classify.customers import CustomerSnapshot
from streams.classify.facts import OrderFacts
from streams.classify.feedback.decision import FeedbackDecision
from streams.classify.feedback_desk import Assignment, LinkedOrder
from streams.classify.sla import SlaClock


class Source(BaseModel):
    """Where an input record came from: carried along so a dead letter can point back to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str
    partition: int
    offset: int
    timestamp: float
    key: str | None = None

    @property
    def position(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


class EnrichedOrder(BaseModel):
    """A created order plus the customer history it was counted into (keyed by order id)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event: OrderCreated
    customer: CustomerSnapshot
    source: Source


class CountedOrder(BaseModel):
    """An order counted into its customer's history: by which event, read where, seeing what."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    position: str
    #: Offset of the internal record that counted it (-1: written before offsets were kept).
    offset: int = -1
    customer: CustomerSnapshot


#: What a person did or held, as the staff KPIs count it (``<app>-staff-events``).
StaffKind = Literal[
    # Order book: a status change made (``status``: the status moved to) ...
    "status_change",
    # ... the time the order spent in the hands of whoever moved it into ``status``
    # (``seconds``), sent when it leaves that status ...
    "held",
    # ... an SLA step that fired while the order was in this person's hands ...
    "sla_breach",
    # ... a correction this person made (``dimension``), and one that overrode a value
    # this person had set (``correction_received``).
    "correction_made",
    "correction_received",
    # Feedback desk: the assignee's first response, the resolution (``seconds`` since the
    # feedback arrived), and a reopen of a feedback this person had resolved.
    "feedback_first_response",
    "feedback_resolved",
    "feedback_reopened",
]


class StaffEvent(BaseModel):
    """One KPI fact about one person, keyed by ``person`` with our partitioner.

    ``event_id`` is deterministic (the input event id, the kind and the person), so a
    producer's re-send or a stage's replay is recognised by the staff agent and counted once.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    person: str
    team: str | None = None
    kind: StaffKind
    #: The order or feedback id it is about.
    subject: str
    occurred_at: datetime
    status: str | None = None
    seconds: float | None = None
    dimension: str | None = None


class OrderState(BaseModel):
    """What the orders table keeps per order: current classification, recent events applied.

    ``applied`` maps each recent event id to where it was read (``Source.position``): the same
    id from the same position is our own replay after a crash, from elsewhere an upstream
    duplicate. ``facts`` let a new rule set classify the order again; ``notified`` are the
    rules whose notifications the last change sent, so a replay re-sends exactly those.
    ``partition`` is the one the state belongs to (background sweeps run per partition).
    The last three are absent in states written before rules became data.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    classification: ClassifiedOrder
    applied: dict[str, str] = Field(default_factory=dict)
    facts: OrderFacts | None = None
    partition: int | None = None
    notified: list[str] = Field(default_factory=list)
    #: Event time the current status was entered: older status events are out of order.
    status_since: datetime | None = None
    #: Kafka timestamp of the input that made the last change: a re-sent classified record
    #: carries it again, so it counts in the same analytics window.
    source_timestamp: float | None = None
    clocks: list[SlaClock] = Field(default_factory=list)
    #: Wall-clock time the order finished (completed/closed): removed after the retention.
    finished_at: float | None = None
    #: Event ids of parked status changes handled (applied or dead-lettered) on arrival.
    parked_handled: list[str] = Field(default_factory=list)
    #: Who moved the order into its current status (``changed_by``): whose hands it is in.
    holder: str | None = None
    #: The staff events the last change sent, so a replay re-sends exactly those.
    staff: list[StaffEvent] = Field(default_factory=list)

    @property
    def applied_event_ids(self) -> list[str]:
        return list(self.applied)

    def with_applied(self, event_id: str, source: Source, keep: int) -> dict[str, str]:
        recent = list(self.applied.items())[-(keep - 1) :] if keep > 1 else []
        return {**dict(recent), event_id: source.position}


class ParkedStatus(BaseModel):
    """A status change that arrived before its order; kept until it arrives or grace ends."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw: str
    source: Source
    parked_at: float
    #: The partition it waits on, its order's (None: its source's, as before rerouting).
    partition: int | None = None

    @property
    def parked_on(self) -> int:
        return self.source.partition if self.partition is None else self.partition


class ParkedStatuses(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    events: list[ParkedStatus] = Field(default_factory=list)


class Tick(BaseModel):
    """Sent to each owned partition of the ticks topic so timed work runs inside a stream."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    now: float
    review: float | None = Field(
        default=None, description="scheduled time of a full re-evaluation due on this tick"
    )


class FeedbackCase(BaseModel):
    """A classified feedback on its way to the desk. No text: the decision and its reasons say
    what the desk and the views need, and the words stay in the input topic."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    feedback_id: str
    occurred_at: datetime
    channel: FeedbackChannel
    customer_id: str
    order_id: str | None = None
    rating: int | None = None
    decision: FeedbackDecision
    #: The shadow model's decision on the same message, when one runs (never acted on).
    shadow: FeedbackDecision | None = None
    source: Source
    #: Filled by the order book on the way (None: the feedback names no order).
    order: LinkedOrder | None = None


class FeedbackUpdate(BaseModel):
    """A validated ``feedback.status-changed`` or ``feedback.corrections`` event, re-keyed by
    feedback id with our partitioner (exactly one of the two is set)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    change: FeedbackStatusChanged | None = None
    correction: FeedbackCorrection | None = None
    source: Source

    @property
    def event_id(self) -> str:
        event = self.change or self.correction
        assert event is not None
        return event.event_id

    @property
    def feedback_id(self) -> str:
        event = self.change or self.correction
        assert event is not None
        return event.feedback_id


class FeedbackState(BaseModel):
    """What the feedback table keeps per feedback: the case, who has it, where it stands."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    case: FeedbackCase
    priority: Priority
    assignment: Assignment
    status: str = "open"
    partition: int
    received_at: datetime
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    changed_by: str | None = None
    #: The status change that was the first response, and who resolved it last (kept through
    #: a reopen): what the staff KPIs are told, sent again the same on a replay.
    first_response_event: str | None = None
    resolved_by: str | None = None
    clocks: list[SlaClock] = Field(default_factory=list)
    #: Event id -> source position of the status changes applied (a replay is recognised).
    applied: dict[str, str] = Field(default_factory=dict)
    #: A person's category (feedback.corrections): routing followed it.
    corrected: FeedbackCorrection | None = None


class CareInput(BaseModel):
    """A fact about a customer on its way to customer care (``<app>-customer-care``, keyed by
    customer id): from the insight stage (orders, final statuses), the care intake
    (complaints from ``feedback.classified``, ``customers.followup-done``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    fact: CareFact
    #: Where it was read upstream: the dedupe position of the fact, and a dead letter's origin.
    source: Source
