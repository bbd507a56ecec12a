"""Start-up and timed work: output topics declared, and a clock for the order agent.

Faust refuses table writes outside a stream (there is no partition to write the changelog
to), so timed work cannot run in a timer. The timer only sends a tick to every owned
partition of the ticks topic; the order agent does the work when the tick arrives, in order
with that partition's events.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from streams.app import app, rulebook, settings, topics
from streams.records import Tick
from streams.rulebook import follow
from streams.rules_topic import ensure_topic

TICKS = topics.ticks.get_topic_name()


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


class ReviewSchedule:
    """When the next scheduled full re-evaluation is due (``reclassify_cron``), if any."""

    def __init__(self, expression: str, zone: str) -> None:
        self.schedule = (
            croniter(expression, datetime.now(ZoneInfo(zone)), ret_type=float)
            if expression
            else None
        )
        self.next_at = self.schedule.get_next() if self.schedule else None

    def due(self, now: float) -> float | None:
        """The scheduled time if it has passed (once per scheduled time), else None."""
        if self.schedule is None or self.next_at is None or now < self.next_at:
            return None
        due = self.next_at
        self.next_at = self.schedule.get_next()
        while self.next_at <= now:  # missed slots (a long pause) are one review, not many
            self.next_at = self.schedule.get_next()
        return due


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
