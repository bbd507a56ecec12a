"""Every table, declared once.

Each write is a changelog record, except in the tables given a ``rank``, which send each
changed key once per commit (``streams.runtime.write_cache``, when ``coalesce_writes`` is on;
the rank orders the flush): hot aggregates whose every key keeps its own ledger, and the
orders, whose records wait until the outputs they imply are acknowledged (``after_outputs``).
"""

from __future__ import annotations

from faust import App
from faust.types import TableT

from streams.settings import Settings


class Tables:
    def __init__(self, app: App, settings: Settings) -> None:
        #: The tables that may send each changed key once per commit: their flush rank, and
        #: whether their records wait for the outputs sent before the flush.
        self.coalesced: list[tuple[TableT, int, bool]] = []

        def table(
            name: str,
            value_serializer: str,
            help_: str,
            rank: int | None = None,
            after_outputs: bool = False,
        ) -> TableT:
            # Faust derives serializers only from faust.Record types; ours are pydantic
            # codecs (streams.runtime.codecs), given to the table, its store and its changelog.
            created = app.Table(
                name,
                key_type=str,
                options=settings.rocksdb_options if settings.store.startswith("rocksdb") else None,
                partitions=settings.topic_partitions,
                help=help_,
                # min.insync.replicas for the changelog too (replication from the app's default),
                # and compaction bounds: how long an erased customer's old values survive.
                extra_topic_configs={
                    **settings.replication_topic_config,
                    **settings.changelog_privacy_config,
                },
            )
            created.key_serializer = "raw"  # hashes like the input keys, so routing finds the owner
            # RocksDB's recovery stores each changelog record's bytes as they are: decoding
            # them on the way (a pydantic parse per record, then dropped) was ~14% of the CPU
            # of a recovery. Its changelog topic reads raw bytes; writes still encode with the
            # table's codec (``send_changelog`` passes the table's serializer).
            raw = settings.store.startswith("rocksdb")
            created.value_serializer = "raw" if raw else value_serializer
            created.changelog_topic = created._new_changelog_topic()
            created.value_serializer = value_serializer
            if rank is not None:
                self.coalesced.append((created, rank, after_outputs))
            return created

        # Keyed by order id (written by the order agent).
        self.orders = table(
            "orders",
            "order_state",
            "order id -> current classification and recent event ids",
            0,
            after_outputs=True,
        )
        self.parked = table(
            "parked-status", "parked_statuses", "order id -> status changes waiting for it"
        )
        self.windows = table(
            "analytics-windows", "window_state", "size:start:partition -> window aggregate", 0
        )
        # Keyed by customer id (written by the customer agent).
        self.customers = table(
            "customers",
            "customer_stats",
            "customer id -> order count and lifetime spend",
        )
        # The customer's data key (wrapped by the master key): deleted on erasure.
        self.customer_keys = table(
            "customer-keys", "customer_key", "customer id -> data key wrapped by the master key"
        )
        self.customer_orders = table(
            "customer-orders",
            "counted_order",
            "customer id/order id -> the event that counted it, and the snapshot it saw",
        )
        # Written by the feedback desk (streams.agents.feedback_desk), keyed by feedback id;
        # the load by "<partition>/<team>" (each partition balances its own share: no key is
        # written from two partitions).
        self.feedback = table(
            "feedback", "feedback_state", "feedback id -> case, assignee, status, clocks"
        )
        self.feedback_load = table(
            "feedback-load", "team_load", "partition/team -> open items per member, the turn"
        )
        # Written by the insight agent (streams.agents.insight), read by the HTTP queries.
        self.insight_buckets = table(
            "insight-buckets",
            "insight_bucket",
            "start:partition -> 15 min of counts per dimension",
            0,
        )
        self.insight_orders = table(
            "insight-orders",
            "order_index",
            "order id -> events counted, the order while open",
            1,
        )
        self.insight_customers = table(
            "insight-customers",
            "customer_seen",
            "customer id -> segment of the latest order",
            0,
        )
        # Written by the staff agent (streams.agents.staff): KPIs keyed by person id, and per
        # team by "<partition>/<team>" (the facts of one partition: one writer per key).
        self.staff = table(
            "staff", "staff_person", "person id -> KPIs in total and per UTC day, ids counted", 1
        )
        self.staff_teams = table(
            "staff-teams", "staff_team", "partition/team -> the team's KPIs from that partition", 0
        )
        # Written by customer care (streams.agents.care), keyed by customer id.
        self.customer_care = table(
            "customer-care",
            "care_state",
            "customer id -> care segment, RFM inputs, follow-up tasks, timers",
        )
