"""Start-up and timed work: output topics declared, and a clock for the order agent.

Faust refuses table writes outside a stream (there is no partition to write the changelog
to), so timed work cannot run in a timer. The timer only sends a tick to every owned
partition of the ticks topic; the order agent does the work when the tick arrives, in order
with that partition's events.
"""

from __future__ import annotations

import logging
import time

from streams.agents import timers
from streams.app import app, backpressure, metrics, rulebook, settings, topics
from streams.records import Tick
from streams.rulebook import follow
from streams.rules_topic import ensure_topic
from streams.schedule import ReviewSchedule

log = logging.getLogger("ordertriage.backpressure")
TICKS = topics.ticks.get_topic_name()
ENRICHED = topics.enriched.get_topic_name()


@app.task
async def prepare_topics() -> None:
    """Create output topics at start-up, so consumers can subscribe before the first record,
    and load changelog metadata, so ``GET /orders/{id}`` can route before the first write."""
    for topic in topics.outputs:
        await topic.maybe_declare()
    producer = app.producer._ensure_producer()  # the aiokafka producer Faust routes with
    for table in app.tables.values():
        await producer.partitions_for(table.changelog_topic.get_topic_name())


@app.task
async def follow_rules() -> None:
    """Keep the active rule set in step with the rules topic (see ``streams.rulebook``)."""
    # Created with a plain admin client: as a Faust topic it would join the group's
    # subscription, and a subscription change right after start-up races topic creation.
    name = await ensure_topic(settings)
    await follow(rulebook, settings.bootstrap, name)


review_schedule = ReviewSchedule(settings.reclassify_cron, settings.timezone)


@app.timer(interval=settings.tick_interval_seconds)
async def send_ticks() -> None:
    if app.rebalancing:
        return
    now = time.time()
    tick = Tick(now=now, review=review_schedule.due(now))
    for tp in app.consumer.assignment():
        if tp.topic == TICKS:
            await topics.ticks.send(value=tick, partition=tp.partition)


@app.timer(interval=0.25)
async def hold_inputs() -> None:
    """Backpressure: inputs wait while internal topics are backed up (``streams.backpressure``)."""
    was_held = bool(backpressure.held)
    try:
        await backpressure.tick()
    except Exception:  # a timer's exception would stop the worker; the next tick tries again
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
    owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == ENRICHED}
    timers.observe(owned)
