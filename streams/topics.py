"""Every topic, declared once. Input topics are read as raw bytes and decoded by the agents."""

from __future__ import annotations

from faust import App, TopicT

from streams.settings import Settings

CREATED = "orders.created"
STATUS_CHANGED = "orders.status-changed"
CLASSIFIED = "orders.classified"
NOTIFICATIONS = "orders.notifications"
ANALYTICS = "orders.analytics"
DEADLETTER = "orders.deadletter"
RULES = "ordertriage.rules"
#: One partition (a total order of publications), compacted with a unique key per
#: publication: nothing is ever deleted by time, so the topic is the audit trail.
RULES_TOPIC_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "86400000"}
REPORTS = "orders.reports"


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
                internal=True,  # declare with our partition count if missing
            )

        s = settings
        self.created = topic(s.topic(CREATED), value_serializer="raw")
        self.status_changed = topic(s.topic(STATUS_CHANGED), value_serializer="raw")
        self.classified = topic(s.topic(CLASSIFIED), value_serializer="pydantic")
        self.notifications = topic(s.topic(NOTIFICATIONS), value_serializer="pydantic")
        self.analytics = topic(s.topic(ANALYTICS), value_serializer="pydantic")
        self.deadletter = topic(s.topic(DEADLETTER), value_serializer="raw")
        self.reports = topic(s.topic(REPORTS), value_serializer="pydantic")
        # Internal: created orders re-keyed by customer (customers table), then enriched with
        # the customer's history and re-keyed by order (orders table).
        self.by_customer = topic(s.internal_topic("orders-by-customer"), value_serializer="raw")
        self.enriched = topic(
            s.internal_topic("orders-enriched"), value_serializer="enriched_order"
        )
        self.ticks = topic(s.internal_topic("ticks"), value_serializer="tick")
        # One stream for everything keyed by order id, so one agent owns each order's state.
        self.order_stream = app.topic(
            self.enriched.get_topic_name(),
            self.status_changed.get_topic_name(),
            self.ticks.get_topic_name(),
            key_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
            replicas=settings.topic_replication_factor,
            internal=True,  # declares all three names before the consumer subscribes
        )

    @property
    def outputs(self) -> list[TopicT]:
        return [self.classified, self.notifications, self.analytics, self.deadletter, self.reports]
