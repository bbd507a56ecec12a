"""The event contract: every record ordertriage reads or writes, as pydantic v2 models.

These models are the single source of truth: the JSON Schema files in ``schemas/json/`` are
exported from them (``make schemas``) and a test fails when the files are stale.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, strip_whitespace=True)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
# Money is decimal, never float: JSON strings ("12800.00") or integers are accepted.
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=4)]


class Status(StrEnum):
    """Order statuses; allowed transitions live in ``streams.classify.lifecycle``."""

    NEW = "new"
    CONFIRMED = "confirmed"
    PROCESSING = "processing"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    RETURNED = "returned"


class StatusCategory(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CLOSED = "closed"


class CustomerType(StrEnum):
    ENTERPRISE = "enterprise"
    INDIVIDUAL = "individual"


class CustomerSegment(StrEnum):
    VIP = "vip"
    NEW = "new"
    REGULAR = "regular"


class ValueTier(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


class _Inbound(BaseModel):
    """Upstream systems evolve: unknown fields are kept (and counted), never rejected."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Customer(_Inbound):
    customer_id: Identifier
    type: CustomerType
    vip: bool = False
    # Personal data: used for nothing but kept out of every output event.
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class Item(_Inbound):
    sku: Identifier
    product_type: Identifier
    quantity: int = Field(ge=1, le=1_000_000, strict=True)
    unit_price: Money


class Order(_Inbound):
    order_id: Identifier
    currency: CurrencyCode
    total_amount: Money
    channel: Identifier
    region: Identifier
    customer: Customer
    items: list[Item] = Field(min_length=1, max_length=1000)


class OrderCreated(_Inbound):
    """``orders.created``: a new order; it starts in status ``new``. Keyed by ``order_id``."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    order: Order


class StatusChanged(_Inbound):
    """``orders.status-changed``: an order moved between statuses. Keyed by ``order_id``."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    order_id: Identifier
    from_status: Status
    to_status: Status
    changed_by: str | None = None


class CorrectionDimension(StrEnum):
    """What a person may correct on an order (``orders.corrections``)."""

    VALUE_TIER = "value_tier"
    PRIORITY = "priority"
    CUSTOMER_SEGMENT = "customer_segment"
    PRIMARY_PRODUCT_TYPE = "primary_product_type"
    TAGS = "tags"
    TEAM = "team"


class OrderCorrection(_Inbound):
    """``orders.corrections``: a person's value for one dimension of an order (key: order id).

    It overrides what the rules decide for that dimension until the order finishes or another
    correction of the same dimension replaces it; ``value`` is the full tag list for ``tags``.
    """

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    order_id: Identifier
    dimension: CorrectionDimension
    value: str | list[str] = Field(description="a value of the dimension's vocabulary")
    corrected_by: Identifier
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("value")
    @classmethod
    def _bounded(cls, value: str | list[str]) -> str | list[str]:
        items = value if isinstance(value, list) else [value]
        if len(items) > 64 or any(not (0 < len(v.strip()) <= 100) for v in items):
            raise ValueError("values are 1-100 characters, at most 64 tags")
        return [v.strip() for v in value] if isinstance(value, list) else value.strip()


class _Outbound(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AppliedCorrection(_Outbound):
    """On an ``orders.classified`` record with cause ``corrected``: what a person changed."""

    event_id: str
    dimension: CorrectionDimension
    value: str = Field(description="the corrected value (tags: comma-separated, sorted)")
    decided: str = Field(description="the value before the correction")
    decided_by: str = Field(
        description="what had decided it: a rule (rule <id>), the thresholds, or an earlier"
        " correction (correction by <person>)"
    )
    decided_version: str = Field(description="the rules version that decided it")
    corrected_by: str
    reason: str | None = None


class ClassifiedOrder(_Outbound):
    """``orders.classified``: the order's full classification after one event. No contact data."""

    order_id: str
    event_id: str = Field(description="event_id of the input event that caused this record")
    cause: Literal["order-created", "status-changed", "reclassified", "corrected"] = Field(
        description="reclassified: a new rule set changed it (event_id is rules:<version>);"
        " corrected: a person corrected a dimension (see correction)"
    )
    occurred_at: datetime
    classified_at: datetime
    customer_id: str
    customer_type: CustomerType
    customer_segment: CustomerSegment
    product_types: list[str]
    primary_product_type: str
    value_tier: ValueTier
    total_amount: Decimal
    currency: str
    item_count: int
    channel: str
    region: str
    status: Status
    status_category: StatusCategory
    tags: list[str]
    priority: Priority
    team: str | None = Field(default=None, description="team a routing rule sent it to")
    rules_fired: list[str] = Field(
        default_factory=list, description="ids of the custom rules that fired, in rule order"
    )
    rules_version: str
    reasons: dict[str, str] = Field(
        description="per dimension, why it got its value; per fired rule (rule:<id>), the values"
        " that made it fire"
    )
    correction: AppliedCorrection | None = Field(
        default=None, description="set on cause corrected: the correction applied"
    )


class Notification(_Outbound):
    """``orders.notifications``: someone should act. ``notification_id`` is deterministic."""

    notification_id: str
    kind: str
    recipient_role: str
    severity: Literal["info", "warning", "high", "critical"]
    order_id: str | None = Field(description="the order it is about; none for feedback without one")
    message: str
    cause_event_id: str
    priority: Priority
    rules_version: str
    created_at: datetime
    rule_id: str | None = Field(default=None, description="the rule whose notify action sent it")
    team: str | None = None
    feedback_id: str | None = Field(default=None, description="set for feedback notifications")
    assignee: str | None = Field(
        default=None, description="the person it is assigned to (a member id of the rules file)"
    )
    customer_id: str | None = Field(
        default=None, description="set for customer follow-up notifications"
    )
    task_id: str | None = Field(default=None, description="the follow-up task it is about")


class DimensionCount(_Outbound):
    dimension: str
    value: str
    count: int
    amounts: dict[str, Decimal] = Field(description="summed order amount per currency")


class AnalyticsWindow(_Outbound):
    """``orders.analytics``: counts and amounts per dimension value for one closed window.

    Aggregates are per source partition (``partition``); a window that receives late events
    after it was published is published again with a higher ``revision`` carrying the full
    counts, so consumers keep the highest revision per ``window_id``.
    """

    window_id: str
    window_seconds: int
    window_start: datetime
    window_end: datetime
    partition: int
    revision: int
    events: int
    counts: list[DimensionCount]
    published_at: datetime


class RulesPublished(_Outbound):
    """``ordertriage.rules``: one published rule set, kept forever (the audit trail).

    The topic is compacted with a unique key per publication, so nothing is ever deleted by
    time; workers apply the last valid record and ignore invalid ones.
    """

    version: str = Field(description="label@hash, as computed by the publisher")
    label: str
    rules_yaml: str = Field(description="the rule file as written, comments included")
    published_by: str
    published_at: datetime
    source: str = Field(description="file name it was published from")
    comment: str | None = None


class FeedbackModelPublished(_Outbound):
    """``ordertriage.feedback-models``: a feedback model published live or as a shadow.

    The model's two files travel whole (vocabularies and calibration as JSON, float arrays as
    ``.npz`` in base64, never pickled); a worker verifies the content hash against ``version``
    before it uses one. Like the rules topic: compacted, a unique key per publication, kept.
    """

    version: str = Field(description="fb-<hash> of the model's content")
    role: Literal["live", "shadow", "no-shadow"] = Field(
        description="live: classify with it; shadow: classify beside live and compare;"
        " no-shadow: stop the shadow (the model fields are then empty)"
    )
    model_json: str = ""
    arrays_npz_b64: str = ""
    published_by: str
    published_at: datetime
    comment: str | None = None


class ReportPublished(_Outbound):
    """``orders.reports``: a report was written (by the schedule or on demand).

    Carries the headline figures, so a consumer can post them without opening the files.
    ``report_id`` is a UUIDv5 of period and end, so a re-run of the same report has the same id.
    """

    report_id: str
    period: Literal["day", "week"]
    start: datetime
    end: datetime
    timezone: str
    orders: int
    amounts: dict[str, Decimal] = Field(description="summed order amount per currency")
    mix: dict[str, dict[str, int]] = Field(description="dimension -> value -> orders")
    html_path: str
    csv_path: str
    generated_at: datetime


# --- customer feedback (docs/feedback.md) ------------------------------------------------------

#: Longest feedback text accepted; longer text is a validation error (dead letter), not cut.
FEEDBACK_MAX_CHARS = 20_000
# C0 and C1 control characters except tab, line feed and carriage return.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class FeedbackChannel(StrEnum):
    APP = "app"
    EMAIL = "email"
    PHONE = "phone"
    CHAT = "chat"
    REVIEW = "review"
    OTHER = "other"


class FeedbackStatus(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    RESPONDED = "responded"
    RESOLVED = "resolved"
    REOPENED = "reopened"


def feedback_text(value: str) -> str:
    """Control characters are stripped (tab and line breaks kept); then it must say something.

    Stripping rather than rejecting: a stray NUL from a copy-paste should not lose a complaint.
    """
    text = _CONTROL.sub("", value)
    if not text.strip():
        raise ValueError("text is empty (or only whitespace and control characters)")
    if len(text) > FEEDBACK_MAX_CHARS:
        raise ValueError(
            f"text has {len(text)} characters; at most {FEEDBACK_MAX_CHARS} are accepted"
        )
    return text


class FeedbackReceived(_Inbound):
    """``feedback.received``: a customer said something. Keyed by ``feedback_id``."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    feedback_id: Identifier
    channel: FeedbackChannel
    customer_id: Identifier
    order_id: Identifier | None = None
    text: str = Field(
        description=f"1 to {FEEDBACK_MAX_CHARS} characters; control characters are stripped",
        json_schema_extra={"minLength": 1, "maxLength": FEEDBACK_MAX_CHARS},
    )
    rating: int | None = Field(default=None, ge=1, le=5, strict=True)
    language: Literal["zh", "en", "mixed"] | None = Field(
        default=None, description="as the sender knows it; detected from the text when absent"
    )

    @field_validator("text")
    @classmethod
    def _clean_text(cls, value: str) -> str:
        return feedback_text(value)


class FeedbackStatusChanged(_Inbound):
    """``feedback.status-changed``: a person acted on a feedback. Keyed by ``feedback_id``."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    feedback_id: Identifier
    status: FeedbackStatus
    changed_by: Identifier
    comment: str | None = Field(default=None, max_length=2000)


class FeedbackCorrection(_Inbound):
    """``feedback.corrections``: a person's category for a feedback. Keyed by ``feedback_id``.

    Applied by the desk (a feedback in review is routed by it; one in the wrong team moves),
    and kept in the topic: it is the label set ``ordertriage feedback corrections`` exports
    for retraining.
    """

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    feedback_id: Identifier
    dimension: Literal["category"] = "category"
    value: str = Field(min_length=1, max_length=100, description="one of the rules' categories")
    corrected_by: Identifier
    reason: str | None = Field(default=None, max_length=2000)


class FeedbackClassified(_Outbound):
    """``feedback.classified``: the classifier's decision on one feedback, and where it goes.

    ``team`` and ``assignee`` are filled by the routing agent; both stay empty for
    ``needs_review`` (the triage queue). No contact data and no feedback text.
    """

    feedback_id: str
    event_id: str = Field(description="event_id of the feedback.received event")
    occurred_at: datetime
    classified_at: datetime
    customer_id: str
    order_id: str | None = None
    channel: FeedbackChannel
    category: str
    confidence: float = Field(ge=0, le=1, description="calibrated probability of `category`")
    needs_review: bool = Field(description="confidence below the rules file's review_threshold")
    language: Literal["zh", "en", "mixed", "other"]
    scores: dict[str, float] = Field(description="calibrated probability per category")
    model_version: str
    rules_version: str
    reasons: list[str] = Field(description="rules that fired, then the strongest model features")
    priority: Priority
    team: str | None = Field(default=None, description="filled by routing; none when in review")
    assignee: str | None = Field(default=None, description="filled by routing")
    status: Literal["open", "acknowledged", "responded", "resolved", "reopened"] = Field(
        default="open", description="where it stands (feedback.status-changed)"
    )
    changed_by: str | None = Field(default=None, description="who made the last status change")
    shadow_model_version: str | None = Field(
        default=None, description="a shadow model's version, when one classified beside the live"
    )
    shadow_category: str | None = None
    shadow_confidence: float | None = None
    corrected_by: str | None = Field(
        default=None, description="set when a person chose `category` (feedback.corrections)"
    )
    model_category: str | None = Field(
        default=None, description="what the classifier had said, when a person corrected it"
    )


class OrderAction(_Outbound):
    """``orders.actions``: a person acknowledged or claimed what a notification was about.

    Written by ``ordertriage notify`` when a signed one-time link is followed; keyed by
    ``order_id``. ``action_id`` is derived from notification, person and action, so a replayed
    write is recognisable. The order book applies it (an acknowledged SLA stops escalating).
    """

    action_id: str
    action: Literal["ack", "claim"]
    order_id: str
    notification_id: str
    kind: str
    rule_id: str | None = Field(default=None, description="the SLA id for SLA notifications")
    cause_event_id: str = Field(description="the notification's cause (sla:<id>:<start>:<step>)")
    by: str = Field(description="person from the notifier's config, or @channel for a group")
    acted_at: datetime


class DeliveryDeadLetter(_Outbound):
    """``orders.notify-deadletters``: a notification that did not reach someone, and why."""

    delivery_id: str
    notification_id: str
    channel: str | None = None
    person: str | None = None
    reason: Literal["unknown_role", "no_channel", "rejected", "exhausted", "in_doubt"]
    answer: str = Field(description="the channel's last answer (HTTP status and body, SMTP code)")
    attempts: int = 0
    notification: Notification
    dead_at: datetime


# --- customer care: segments and follow-ups (docs/customers.md) -------------------------------

#: Segments of customer care, decided per customer as events happen (not per order).
CareSegment = Literal["new", "regular", "vip", "at_risk", "dormant", "won_back"]


class Rfm(_Outbound):
    """Recency, frequency and monetary value of one customer at one moment."""

    recency_days: float | None = Field(description="days since the last order; none before one")
    frequency: int = Field(description="orders in the rules' window (cancelled/returned not)")
    monetary: dict[str, Decimal] = Field(
        description="spend per currency in the window; never added across currencies"
    )
    mean_gap_days: float | None = Field(
        default=None, description="mean days between the customer's recent orders"
    )


class SegmentChanged(_Outbound):
    """``customers.segments``: a customer moved between care segments. Keyed by customer id.

    ``event_id`` is derived from the customer and the move's sequence number, so a replay
    re-sends the same id.
    """

    event_id: str
    customer_id: str
    from_segment: CareSegment | None = Field(
        alias="from", description="none for the customer's first segment"
    )
    to_segment: CareSegment = Field(alias="to")
    reason: str
    rfm: Rfm
    occurred_at: datetime = Field(description="when the move became true (event or timer)")
    rules_version: str

    # On the wire as ``from`` / ``to`` (``from`` is a Python keyword).
    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )


class FollowupTask(_Outbound):
    """``customers.followups``: a follow-up task as it stands (the latest record per
    ``task_id`` wins). ``task_id`` is derived from customer, strategy and what triggered it."""

    task_id: str
    customer_id: str
    strategy_id: str
    segment: CareSegment = Field(description="the segment the strategy is for")
    owner_role: str
    status: Literal["open", "reminded", "escalated", "done"]
    opened_at: datetime
    due_at: datetime
    trigger: str = Field(description="what opened it: entered:<segment>, first_delivery, ...")
    done_at: datetime | None = None
    done_by: str | None = None
    outcome: str | None = None
    updated_at: datetime


class FollowupDone(_Inbound):
    """``customers.followup-done``: a person did a follow-up task. Keyed by ``customer_id``
    (re-keyed by ordertriage if a producer put it elsewhere)."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    task_id: Identifier
    customer_id: Identifier
    done_by: Identifier
    outcome: str = Field(min_length=1, max_length=2000)


# --- personal data: erasure (docs/security.md) -------------------------------------------------


class ErasureRequested(_Inbound):
    """What ``ordertriage privacy erase`` asks the customer stage (keyed by ``customer_id``)."""

    event_id: Identifier
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    customer_id: Identifier
    requested_by: Identifier


class CustomerErased(_Outbound):
    """``customers.erasures``: the audit of one erasure. Keyed by ``customer_id``.

    Says who asked, when, and what was erased: ids and table names, never personal data.
    ``event_id`` is the request's, so a replay of the request publishes the same record.
    """

    event_id: str
    customer_id: str
    requested_by: str
    requested_at: datetime
    erased_at: datetime
    data_key_version: int | None = Field(
        description="the deleted data key's version; none when the customer had none"
    )
    tables: list[str] = Field(
        description="tables whose records of the customer were deleted (`customer-care`: by"
        " its own agent, told on its topic)"
    )
    records_deleted: int
