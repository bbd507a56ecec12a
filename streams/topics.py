"""Every topic, declared once, and the hops between the stages of a worker.

::

    orders.created ──ingest-created──> <app>-orders-by-customer (key: customer id)
        ──customer-history──> <app>-orders-enriched (key: order id) ─┐
    orders.status-changed, orders.corrections ───────────────────────┤ order-book
        (misrouted ones: ──> <app>-status-rerouted, key: order id) ──┤
    orders.actions (people's acks and claims, from ordertriage notify) ─┤
    <app>-ticks (the worker's clock) ────────────────────────────────┘   │
        ┌────────────────────────────────────────────────────────────────┘
        ├──> orders.classified ─┐
        │   <app>-insight-ticks ┴─insight──> insight tables, analytics windows
        │        ├──> orders.analytics (closed windows, on its ticks)
        │        └──> <app>-insight-customers (key: customer id) ──insight-customers──>
        ├──> orders.notifications
        ├──> <app>-staff-events (key: person id) ──staff──> staff KPI tables
        └──> orders.deadletter (any stage: what cannot be processed, with the reason)
    orders.reports <── the scheduled report job (the leader only)

    feedback.received ─┬─feedback-intake (classify)──> <app>-feedback-by-order (key: order id)
    feedback.status-   │      ──order-book (tag the order, read its value)──┐
      changed, .corrections ┘ (no order: straight on) ─> <app>-feedback-cases ┤ feedback-desk
                            <app>-feedback-status (key: feedback id) ────────┤ (route, SLAs)
    <app>-feedback-ticks ────────────────────────────────────────────────────┘
        ├──> feedback.classified, orders.notifications
        └──> orders.deadletter

    orders.classified ──insight──> <app>-customer-care (key: customer id; orders, final statuses)
    feedback.classified (complaints) ─┬─care-intake (validate, re-key by customer id)──┐
    customers.followup-done ──────────┘                         <app>-customer-care ──┤ customer-
    <app>-care-ticks (the care clock) ───────────────────────────────────────────────┘ care
        ├──> customers.segments, customers.followups, orders.notifications (reminders)
        └──> orders.deadletter (unknown task, malformed done)

Input topics are read as raw bytes and decoded by the agents; internal records are pydantic
models (``streams.records``) encoded by the codecs in ``streams.runtime.codecs``.
"""

from __future__ import annotations

from faust import App, TopicT

from streams.settings import Settings

CREATED = "orders.created"
STATUS_CHANGED = "orders.status-changed"
#: People's corrections of a classification, keyed by order id.
CORRECTIONS = "orders.corrections"
CLASSIFIED = "orders.classified"
NOTIFICATIONS = "orders.notifications"
ANALYTICS = "orders.analytics"
DEADLETTER = "orders.deadletter"
RULES = "ordertriage.rules"
#: One partition (a total order of publications), compacted with a unique key per
#: publication: nothing is ever deleted by time, so the topic is the audit trail.
RULES_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "86400000"}
#: Feedback models published live or as shadows (``ordertriage feedback publish``): one
#: partition, kept like the rules topic.
FEEDBACK_MODELS = "ordertriage.feedback-models"
REPORTS = "orders.reports"
#: People acknowledging or claiming (written by ``ordertriage notify``), keyed by order id.
ACTIONS = "orders.actions"
FEEDBACK_RECEIVED = "feedback.received"
FEEDBACK_STATUS = "feedback.status-changed"
FEEDBACK_CORRECTIONS = "feedback.corrections"
FEEDBACK_CLASSIFIED = "feedback.classified"
#: Internal (``<app>-staff-events``): also read by the report for its staff KPI section.
STAFF_EVENTS = "staff-events"
SEGMENTS = "customers.segments"
FOLLOWUPS = "customers.followups"
FOLLOWUP_DONE = "customers.followup-done"
#: Audit of erasures: who asked, when, what was erased (ids and table names, no personal data).
ERASURES = "customers.erasures"
#: Header of an erasure request among the records of ``<app>-orders-by-customer``.
ERASE_HEADER = "ordertriage.erase"
#: Deliveries ``ordertriage notify`` gave up on (streams/notify/run.py).
NOTIFY_DEADLETTERS = "orders.notify-deadletters"


class Topics:
    """The app's topics; all share one partition count so Faust co-partitions them."""

    def __init__(self, app: App, settings: Settings) -> None:
        def topic(name: str, *, key_serializer: str = "raw", value_serializer: str) -> TopicT:
            return app.topic(
                name,
                key_type=bytes,
                key_serializer=key_serializer,
                value_serializer=value_serializer,
                partitions=settings.topic_partitions,
                replicas=settings.topic_replication_factor,
                config=settings.replication_topic_config or None,
                internal=True,  # declare with our partition count if missing
            )

        s = settings
        self.created = topic(s.topic(CREATED), value_serializer="raw")
        self.status_changed = topic(s.topic(STATUS_CHANGED), value_serializer="raw")
        self.corrections = topic(s.topic(CORRECTIONS), value_serializer="raw")
        self.actions = topic(s.topic(ACTIONS), value_serializer="raw")
        self.classified = topic(s.topic(CLASSIFIED), value_serializer="pydantic")
        self.notifications = topic(s.topic(NOTIFICATIONS), value_serializer="pydantic")
        self.analytics = topic(s.topic(ANALYTICS), value_serializer="pydantic")
        self.deadletter = topic(s.topic(DEADLETTER), value_serializer="raw")
        self.reports = topic(s.topic(REPORTS), value_serializer="pydantic")
        self.erasures = topic(s.topic(ERASURES), value_serializer="pydantic")
        # Customer feedback: both inputs are re-keyed by the intake (validated, classified),
        # so the desk's co-partitioning never depends on the producer's partitioner.
        self.feedback_received = topic(s.topic(FEEDBACK_RECEIVED), value_serializer="raw")
        self.feedback_status = topic(s.topic(FEEDBACK_STATUS), value_serializer="raw")
        self.feedback_corrections = topic(s.topic(FEEDBACK_CORRECTIONS), value_serializer="raw")
        self.feedback_classified = topic(s.topic(FEEDBACK_CLASSIFIED), value_serializer="pydantic")
        self.feedback_by_order = topic(
            s.internal_topic("feedback-by-order"), value_serializer="feedback_case"
        )
        self.feedback_cases = topic(
            s.internal_topic("feedback-cases"), value_serializer="feedback_case"
        )
        self.feedback_updates = topic(
            s.internal_topic("feedback-status"), value_serializer="feedback_update"
        )
        self.feedback_ticks = topic(s.internal_topic("feedback-ticks"), value_serializer="tick")
        # Internal: created orders re-keyed by customer (customers table), then enriched with
        # the customer's history and re-keyed by order (orders table).
        # Its contact fields are sealed under the transit key, which erasure cannot shred: a
        # short retention bounds how long an erased customer's survive (docs/security.md).
        self.by_customer = topic(s.internal_topic("orders-by-customer"), value_serializer="raw")
        self.by_customer.config = {
            **(self.by_customer.config or {}),
            **settings.transit_topic_config,
        }
        self.enriched = topic(
            s.internal_topic("orders-enriched"), value_serializer="enriched_order"
        )
        self.ticks = topic(s.internal_topic("ticks"), value_serializer="tick")
        # What people did (status changes, time holding an order, corrections, feedback
        # answered), re-keyed by person id for the staff KPIs (streams.agents.staff).
        self.staff_events = topic(s.internal_topic(STAFF_EVENTS), value_serializer="staff_event")
        # Status changes and corrections a producer put on another partition than their
        # order's (librdkafka's default partitioner, null keys): re-keyed by order id, the
        # original bytes kept and the source (its topic says which of the two) in a header.
        self.status_rerouted = topic(s.internal_topic("status-rerouted"), value_serializer="raw")
        # The insight stage reads our own classified records back as bytes (one decode), with
        # its own clock for publishing the analytics windows it counts, and re-keys each
        # created order's segment by customer, beside the customers table.
        self.insight_ticks = topic(s.internal_topic("insight-ticks"), value_serializer="tick")
        self.insight_stream = app.topic(
            s.topic(CLASSIFIED),
            self.insight_ticks.get_topic_name(),
            key_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
            replicas=settings.topic_replication_factor,
            config=settings.replication_topic_config or None,
            internal=True,
        )
        self.insight_customers = topic(
            s.internal_topic("insight-customers"), value_serializer="customer_seen"
        )

        # Customer care (streams.agents.care): facts about a customer re-keyed by customer id,
        # its clock, the people's "done" input and the two outputs.
        self.followup_done = topic(s.topic(FOLLOWUP_DONE), value_serializer="raw")
        self.segments = topic(s.topic(SEGMENTS), value_serializer="pydantic")
        self.followups = topic(s.topic(FOLLOWUPS), value_serializer="pydantic")
        self.customer_care = topic(s.internal_topic("customer-care"), value_serializer="care_input")
        self.care_ticks = topic(s.internal_topic("care-ticks"), value_serializer="tick")

        def stream(*topics: TopicT) -> TopicT:
            """Several co-partitioned topics read as one stream of raw records."""
            return app.topic(
                *(t.get_topic_name() for t in topics),
                key_type=bytes,
                key_serializer="raw",
                value_serializer="raw",
                partitions=settings.topic_partitions,
                replicas=settings.topic_replication_factor,
                config=settings.replication_topic_config or None,
                internal=True,  # declares every name before the consumer subscribes
            )

        # One stream for everything keyed by order id, so one agent owns each order's state.
        self.order_stream = stream(
            self.enriched,
            self.status_changed,
            self.corrections,
            self.status_rerouted,
            self.actions,
            self.ticks,
            self.feedback_by_order,
        )
        self.feedback_intake = stream(
            self.feedback_received, self.feedback_status, self.feedback_corrections
        )
        # Our own feedback.classified read back as bytes (complaints), beside the done input.
        self.care_intake = stream(self.feedback_classified, self.followup_done)
        # Everything keyed by customer id for customer care, so one agent owns each customer.
        self.care_stream = stream(self.customer_care, self.care_ticks)
        # Everything keyed by feedback id, so one agent owns each feedback's state.
        self.feedback_stream = stream(
            self.feedback_cases, self.feedback_updates, self.feedback_ticks
        )
        # The staff agent reads its facts as raw bytes too (one decode, in the agent).
        self.staff_stream = stream(self.staff_events)

    @property
    def input_names(self) -> set[str]:
        """The upstream topics: what backpressure holds while internal topics pile up."""
        return {
            t.get_topic_name()
            for t in (
                self.created,
                self.status_changed,
                self.corrections,
                self.feedback_received,
                self.feedback_status,
                self.followup_done,
            )
        }

    @property
    def internal_names(self) -> set[str]:
        """Topics one stage of this worker writes and a later stage reads."""
        return {
            t.get_topic_name()
            for t in (
                self.by_customer,
                self.enriched,
                self.status_rerouted,
                self.classified,
                self.insight_customers,
                self.feedback_by_order,
                self.feedback_cases,
                self.feedback_updates,
                self.staff_events,
                self.customer_care,
                self.feedback_classified,
            )
        }

    @property
    def tick_names(self) -> set[str]:
        """The worker's clocks: one per stage that has timed work."""
        clocks = (self.ticks, self.insight_ticks, self.feedback_ticks, self.care_ticks)
        return {t.get_topic_name() for t in clocks}

    @property
    def outputs(self) -> list[TopicT]:
        return [
            self.classified,
            self.notifications,
            self.analytics,
            self.deadletter,
            self.reports,
            self.erasures,
            self.feedback_classified,
            self.segments,
            self.followups,
        ]
