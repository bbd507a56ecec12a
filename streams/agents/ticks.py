"""Start-up and timed work: output topics declared, the rules followed, and the clocks.

Faust refuses table writes outside a stream (there is no partition to write the changelog
to), so timed work cannot run in a timer. The timer only sends a tick to every owned
partition of each ticks topic; the agent of that stage does the work when the tick
arrives, in order with that partition's records.
"""

from __future__ import annotations

import logging
import time

from streams.agents.parking import Parking
from streams.agents.timers import Timers
from streams.app import Worker
from streams.records import Tick
from streams.rules.rulebook import follow
from streams.rules.schedule import ReviewSchedule
from streams.rules.topic import ensure_topic

log = logging.getLogger("ordertriage.backpressure")


def register(w: Worker, timers: Timers, parking: Parking) -> None:
    app, topics, settings, metrics, backpressure = (
        w.app,
        w.topics,
        w.settings,
        w.metrics,
        w.backpressure,
    )
    clocks = {
        t.get_topic_name(): t
        for t in (topics.ticks, topics.insight_ticks, topics.feedback_ticks, topics.care_ticks)
    }
    enriched = topics.enriched.get_topic_name()
    review_schedule = ReviewSchedule(settings.reclassify_cron, settings.timezone)

    @app.task
    async def prepare_topics() -> None:
        """Create output topics at start-up, so consumers can subscribe before the first
        record, and load changelog metadata, so ``GET /orders/{id}`` can route at once."""
        for topic in topics.outputs:
            await topic.maybe_declare()
        producer = app.producer._ensure_producer()  # the aiokafka producer Faust routes with
        for table in app.tables.values():
            await producer.partitions_for(table.changelog_topic.get_topic_name())

    @app.task
    async def follow_rules() -> None:
        """Keep the active rule set in step with the rules topic (see ``streams.rules``)."""
        # Created with a plain admin client: as a Faust topic it would join the group's
        # subscription, and a subscription change right after start-up races topic creation.
        name = await ensure_topic(settings)
        await follow(w.rulebook, settings.bootstrap, name)

    @app.timer(interval=settings.tick_interval_seconds)
    async def send_ticks() -> None:
        if app.rebalancing:
            return
        now = time.time()
        tick = Tick(now=now, review=review_schedule.due(now))
        for tp in app.consumer.assignment():
            clock = clocks.get(tp.topic)
            if clock is not None:
                await clock.send(value=tick, partition=tp.partition)

    @app.timer(interval=2.0)
    async def sample_created_path() -> None:
        """When parked status changes give up: how far the created path is drained."""
        if not app.rebalancing:
            await parking.sample()

    @app.on_before_shutdown.connect
    async def close_parking_admin(app: object, **kwargs: object) -> None:
        await parking.close()

    @app.timer(interval=0.25)
    async def hold_inputs() -> None:
        """Backpressure: inputs wait while internal topics are backed up."""
        was_held = bool(backpressure.held)
        try:
            await backpressure.tick()
        except Exception:  # a timer's exception would stop the worker; the next tick retries
            log.exception("backpressure tick failed")
        if backpressure.held and not was_held:
            metrics.input_holds.inc()
        metrics.inputs_held.set(1 if backpressure.held else 0)
        metrics.backpressure_waiting_records.set(backpressure.waiting)

    @app.timer(interval=15.0)
    async def observe_orders() -> None:
        """Open orders, their age and overdue ones, as gauges (a read-only scan every 15 s)."""
        if app.rebalancing:
            return
        owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == enriched}
        timers.observe(owned)
