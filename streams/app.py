"""The Faust app, built from settings. ``faust -A streams.app worker`` finds ``app`` here."""

from __future__ import annotations

import faust
from prometheus_client import CollectorRegistry, disable_created_metrics

from streams import codecs
from streams import continuity as input_continuity
from streams.backpressure import Backpressure, Valve
from streams.classify.rules import RuleSet
from streams.deadletters import DeadLetters
from streams.faust_metrics import setup_faust_metrics
from streams.faust_tuning import (
    flush_before_commit,
    keep_root_log_level,
)
from streams.metrics import Metrics
from streams.rulebook import Rulebook
from streams.settings import get_settings
from streams.tables import Tables
from streams.topics import CLASSIFIED, Topics

settings = get_settings()
codecs.register()

app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.bootstrap}",
    store=settings.store,
    datadir=str(settings.data_dir),
    # At-least-once plus idempotent state updates and deterministic output ids: Faust's
    # exactly_once mode has open duplicate and rebalance bugs (faust-streaming #517, #323).
    processing_guarantee="at_least_once",
    # With the memory store a takeover re-reads the changelog anyway; standbys would only
    # double each worker's memory.
    table_standby_replicas=0,
    consumer_auto_offset_reset="earliest",
    # Records handed to the streams per fetch loop turn. Unbounded (Faust's default), one turn
    # takes every partition's whole prefetched response (~20k records on a backlog), which
    # backpressure (streams/backpressure.py) can no longer hold back; Kafka's own default.
    broker_max_poll_records=500,
    # Faust creates its topics while the consumer subscribes; when a just-created topic is
    # not yet in the metadata, aiokafka skips it ("Ignoring missing topic") until the next
    # refresh: 5 minutes by default, seen as a stalled fresh deployment. 5 s bounds that.
    consumer_metadata_max_age_ms=5000,
    topic_partitions=settings.topic_partitions,
    topic_replication_factor=settings.topic_replication_factor,
    web_host=settings.web_host,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    # Debug pages off: they list tables, keys and assignments to anyone who can connect.
    web_router_enabled=False,
    web_tables_enabled=False,
    web_graph_enabled=False,
    web_stats_enabled=False,
    debug=False,
    autodiscover=False,
)

keep_root_log_level(app, settings.log_level)
flush_before_commit()

# `_created` series double every counter's exposition and nobody here queries them.
disable_created_metrics()
registry = CollectorRegistry()
metrics = Metrics.create(registry)
setup_faust_metrics(app, registry)
continuity = input_continuity.install(
    app,
    lambda tp, missing, seen: metrics.refetched_offsets.labels(topic=tp.topic).inc(seen - missing),
)

# Until the rules topic says otherwise: the rules file from settings, else the shipped default.
rulebook = Rulebook(
    RuleSet.from_file(settings.rules_file) if settings.rules_file else RuleSet.default(),
    metrics,
)

topics = Topics(app, settings)
tables = Tables(app, settings)
backpressure = Backpressure(
    app,
    Valve(settings.backpressure_records),
    inputs={topics.created.get_topic_name(), topics.status_changed.get_topic_name()},
    internal={
        topics.by_customer.get_topic_name(),
        topics.enriched.get_topic_name(),
        settings.topic(CLASSIFIED),
        settings.internal_topic("insight-customers"),
    },
    position=continuity.expected.get,
)


deadletters = DeadLetters(
    topics.deadletter,
    metrics,
    attempts=settings.processing_attempts,
    max_value_bytes=settings.deadletter_max_value_bytes,
)

# Registers agents, timers and web views on ``app`` (they import the objects above).
from streams import agents, web  # noqa: E402

__all__ = [
    "agents",
    "app",
    "backpressure",
    "deadletters",
    "metrics",
    "registry",
    "rulebook",
    "settings",
    "tables",
    "topics",
    "web",
]
