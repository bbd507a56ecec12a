"""Start and stop the notifier: topics, ledger read-back, consumer, HTTP server."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from streams import apiauth
from streams.kafka import clients
from streams.kafka.admin import ensure_topics
from streams.notify.config import load
from streams.notify.ledger import Ledger
from streams.notify.service import Notifier, Reload
from streams.notify.web import Site, application
from streams.settings import Settings
from streams.topics import ACTIONS, FEEDBACK_STATUS, NOTIFICATIONS
from streams.topics import NOTIFY_DEADLETTERS as DEADLETTERS

LEDGER_CONFIG = {"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000"}
log = logging.getLogger("ordertriage.notify")


async def serve(settings: Settings, config_path: Path, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT); config errors raise before anything."""
    config, secrets = load(config_path)
    # The worker's API token: sent to the worker, and asked of /notifications here (the /act
    # links carry their own signature). Probes and /act stay open; /metrics as on the worker.
    token, source = apiauth.api_token(settings, generate=True)
    guard = apiauth.Guard(
        api=token,
        metrics=apiauth.metrics_token(settings, settings.notify_host),
        open_paths=frozenset({"/act", "/healthz"}),
    )
    if stop is None:  # the command, not a test: stop cleanly on a signal
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    ledger_topic = f"{settings.notify_group}-ledger"
    partitions, replication = settings.topic_partitions, settings.topic_replication_factor
    await ensure_topics(
        settings.bootstrap,
        [ledger_topic],
        partitions=partitions,
        replication=replication,
        configs=LEDGER_CONFIG,
    )
    topics = [settings.topic(t) for t in (NOTIFICATIONS, ACTIONS, DEADLETTERS)]
    await ensure_topics(settings.bootstrap, topics, partitions=partitions, replication=replication)
    producer = clients.producer(
        settings.bootstrap, acks="all", enable_idempotence=True, linger_ms=0
    )
    await producer.start()
    session = aiohttp.ClientSession()
    runner: web.AppRunner | None = None
    try:
        ledger = Ledger(settings.bootstrap, ledger_topic, producer)
        log.info("ledger: read %d records", await ledger.load())
        notifier = Notifier(
            config,
            secrets,
            ledger=ledger,
            producer=producer,
            session=session,
            deadletter_topic=settings.topic(DEADLETTERS),
            attempts=settings.notify_attempts,
            backoff=settings.notify_backoff_seconds,
        )
        notifier.seed_limiters()
        site = Site(
            config,
            notifier.link_secret,
            ledger,
            producer,
            settings.topic(ACTIONS),
            settings.notify_worker_url.rstrip("/"),
            session,
            feedback_topic=settings.topic(FEEDBACK_STATUS),
            api_token=token,
        )
        served = application(site)
        guard.install(served)
        runner = web.AppRunner(served, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.notify_host, settings.notify_port).start()
        consumer = clients.consumer(
            settings.bootstrap,
            group_id=settings.notify_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            # A killed instance's partitions move on after 6 s instead of 10 s.
            session_timeout_ms=6000,
            heartbeat_interval_ms=2000,
            # A rebalance waits for the batch in flight (``Reload``), which can sit out a
            # robot's full rate window (60 s) plus its calls; aiokafka's default (the
            # session timeout) would drop a member that is only finishing its batch.
            rebalance_timeout_ms=120_000,
        )
        consumer.subscribe([settings.topic(NOTIFICATIONS)], listener=Reload(ledger, notifier))
        await consumer.start()
        log.info(
            "notify: serving on %s:%d; /notifications needs the API token (in %s)",
            settings.notify_host,
            settings.notify_port,
            source,
        )
        try:
            await notifier.run(consumer, stop)
        finally:
            await consumer.stop()
    finally:
        if runner is not None:
            await runner.cleanup()
        await session.close()
        await producer.stop()
