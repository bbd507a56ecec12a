"""The worker, built from settings: the Faust app and the services its agents share.

``build`` makes them; importing this module makes nothing. The agents and HTTP views are
registered on the result by ``streams.agents.register`` and ``streams.web.register`` (the
worker command calls all three), so nothing here imports an agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust
from prometheus_client import CollectorRegistry, disable_created_metrics

from streams import runtime
from streams.classify.rules import RuleSet
from streams.kafka.clients import ssl_context
from streams.kafka.partitioning import Routing
from streams.kafka.preflight import principal
from streams.metrics import Metrics
from streams.privacy.crypto import Keyring
from streams.privacy.master import load_keyring
from streams.rules.rulebook import Rulebook
from streams.runtime import authorization, write_cache
from streams.runtime.backpressure import Backpressure, Valve
from streams.runtime.continuity import Continuity
from streams.runtime.deadletters import DeadLetters
from streams.settings import Settings, get_settings
from streams.tables import Tables
from streams.topics import Topics


@dataclass
class Worker:
    """What every agent and view of one worker shares (one per process in production)."""

    settings: Settings
    app: faust.App
    registry: CollectorRegistry
    metrics: Metrics
    topics: Topics
    tables: Tables
    rulebook: Rulebook
    deadletters: DeadLetters
    backpressure: Backpressure
    continuity: Continuity
    routing: Routing
    keyring: Keyring
    #: Topics the broker refused lately (an ACL removed at runtime), shown by /readyz.
    kafka_refusals: authorization.Authorization


def faust_app(settings: Settings) -> faust.App:
    return faust.App(
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
        # Records handed to the streams per fetch loop turn. Unbounded (Faust's default), one
        # turn takes every partition's whole prefetched response (~20k records on a backlog),
        # which backpressure (streams/runtime/backpressure.py) can no longer hold back.
        broker_max_poll_records=500,
        # Faust creates its topics while the consumer subscribes; when a just-created topic is
        # not yet in the metadata, aiokafka skips it ("Ignoring missing topic") until the next
        # refresh: 5 minutes by default, seen as a stalled fresh deployment. 5 s bounds that.
        consumer_metadata_max_age_ms=5000,
        # Heartbeats come from aiokafka's coordinator in Faust's consumer thread, so a busy
        # event loop does not miss them; a dead worker is noticed after the session timeout.
        broker_session_timeout=settings.session_timeout_seconds,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_seconds / 3),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        # Every output and changelog record waits for all in-sync replicas (Faust's default,
        # stated so a stray PRODUCER_ACKS cannot lower it).
        producer_acks=-1,
        producer_max_batch_size=settings.producer_batch_kib * 1024,
        broker_credentials=credentials(settings),
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


def credentials(settings: Settings) -> faust.SASLCredentials | faust.SSLCredentials | None:
    """The ``broker_*`` settings as Faust wants them (plain clients: ``streams.kafka.clients``)."""
    context = ssl_context(settings)
    if settings.broker_sasl_mechanism:
        return faust.SASLCredentials(
            username=settings.broker_sasl_username,
            password=settings.sasl_password().get_secret_value(),
            mechanism=settings.broker_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None


def build(settings: Settings | None = None) -> Worker:
    """A worker's app, topics, tables and services, with the runtime adaptations installed."""
    settings = settings or get_settings()
    app = faust_app(settings)
    # `_created` series double every counter's exposition and nobody here queries them.
    disable_created_metrics()
    registry = CollectorRegistry()
    metrics = Metrics.create(registry)
    continuity = runtime.install(
        app,
        registry,
        metrics,
        gc_freeze=settings.gc_freeze,
        fetch_coalesce_s=settings.fetch_coalesce_ms / 1000,
        backlog_linger_s=settings.backlog_linger_ms / 1000,
        restore_from=settings.bootstrap if settings.bulk_restore else None,
        value_cache_entries=(
            settings.rocksdb_value_cache_entries if settings.store.startswith("rocksdb") else 0
        ),
    )
    # Until the rules topic says otherwise: the rules file from settings, else the default.
    rulebook = Rulebook(
        RuleSet.from_file(settings.rules_file) if settings.rules_file else RuleSet.default(),
        metrics,
    )
    topics = Topics(app, settings)
    tables = Tables(app, settings)
    for table, rank, after_outputs in tables.coalesced:
        # The orders' records wait for their outputs whatever the setting: what a replay
        # re-sends relies on it (streams.runtime.write_cache).
        if settings.coalesce_writes or after_outputs:
            write_cache.coalesce(app, table, rank, after_outputs)
    backpressure = Backpressure(
        app,
        Valve(settings.backpressure_records),
        inputs=topics.input_names,
        internal=topics.internal_names,
        position=continuity.expected.get,
    )
    keyring = load_keyring(settings)
    deadletters = DeadLetters(
        topics.deadletter,
        metrics,
        attempts=settings.processing_attempts,
        max_value_bytes=settings.deadletter_max_value_bytes,
        keyring=keyring,
    )
    return Worker(
        settings=settings,
        app=app,
        registry=registry,
        metrics=metrics,
        topics=topics,
        tables=tables,
        rulebook=rulebook,
        deadletters=deadletters,
        backpressure=backpressure,
        continuity=continuity,
        routing=Routing(settings.topic_partitions),
        keyring=keyring,
        kafka_refusals=authorization.install(app, principal(settings)),
    )
