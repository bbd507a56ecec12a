"""Everything keyed by order id, in one agent so one worker owns each order's state.

Reads three co-partitioned topics: enriched created orders, upstream status changes, and
ticks (timed work: closing analytics windows, expiring parked status changes).
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import orjson
from faust import StreamT
from faust.exceptions import ConsumerNotStarted
from faust.streams import current_event
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import ClassifiedOrder, Status, StatusChanged
from streams import offsets
from streams.agents import reclassify, timers
from streams.app import app, deadletters, metrics, rulebook, settings, tables, topics
from streams.classify import analytics, sla
from streams.classify.engine import classify_created, classify_status_change
from streams.classify.facts import OrderFacts
from streams.classify.lifecycle import InvalidTransition
from streams.classify.notify import newly_fired, notifications
from streams.classify.parking import CreatedProgress
from streams.deadletters import source_of
from streams.records import EnrichedOrder, OrderState, ParkedStatus, ParkedStatuses, Source, Tick

log = logging.getLogger("ordertriage.orders")

#: In memory, per worker: how far the created stream has got (decides when parking gives up).
created_progress = CreatedProgress()
#: Per partition: orders that applied parked status changes -> the input (topic, offset)
#: whose processing did it. Their parked entries are deleted only once that offset is
#: committed: by then the order's write is in its changelog (Faust flushes before it
#: commits), so a crash cannot keep the deletion and lose the order that applied them.
settling: dict[int, dict[str, tuple[str, int]]] = {}

ENRICHED = topics.enriched.get_topic_name()
STATUS = topics.status_changed.get_topic_name()
TICKS = topics.ticks.get_topic_name()
UPSTREAM = {
    topics.created.get_topic_name(),
    topics.by_customer.get_topic_name(),
    ENRICHED,
}


@app.on_partitions_assigned.connect
async def restart_parking_clocks(app: object, assigned: set[TP], **kwargs: object) -> None:
    timers.reset()
    kept = {tp.partition for tp in assigned if tp.topic == ENRICHED}
    for partition in set(settling) - kept:  # a partition gained later is recovered anew
        del settling[partition]
    now = time.time()
    for tp in assigned:
        if tp.topic == ENRICHED:
            created_progress.assigned(tp.partition, now)


@app.agent(topics.order_stream, name="order-book")
async def order_book(stream: StreamT[bytes]) -> None:
    async for event in stream.events():
        if not rulebook.ready.is_set():
            await rulebook.ready.wait()  # the rules topic read: never classify with stale rules
        message = event.message
        started = time.perf_counter()
        if message.topic == STATUS:
            metrics.events_consumed.labels(topic=message.topic).inc()
        await deadletters.process(message, dispatch)
        if message.topic != TICKS:
            metrics.processing_seconds.labels(topic=message.topic).observe(
                time.perf_counter() - started
            )


async def dispatch(message: Message) -> None:
    if message.topic == ENRICHED:
        await on_created(EnrichedOrder.model_validate_json(message.value), message.offset)
    elif message.topic == STATUS:
        await on_status(message)
    else:
        await on_tick(Tick.model_validate_json(message.value), message.partition)


async def on_created(enriched: EnrichedOrder, offset: int) -> None:
    created = enriched.event
    order_id = created.order.order_id
    existing = tables.orders.get(order_id)
    if existing is not None and created.event_id in existing.applied_event_ids:
        # Our own replay after a crash: the state was written, the outputs may not have left,
        # and the writes of parked changes the first pass applied may be lost: apply again
        # whichever the order does not hold (the others are recognised as replays).
        metrics.replayed_events.labels(topic=ENRICHED).inc()
        await resend_last(existing, created.event_id, previous_status=None)
        await catch_up_parked(order_id, ENRICHED, offset)
        return
    if existing is not None:
        await deadletters.send(
            value=created.model_dump_json().encode(),
            source=enriched.source,
            code="duplicate_order",
            reason=f"order {order_id} already exists (created for another customer?)",
            error_class="Duplicate",
        )
        return
    partition = _current_partition()
    created_progress.saw(partition, enriched.source.timestamp, time.time())
    facts = OrderFacts.of(created, enriched.customer)
    rules = rulebook.current
    outcome = classify_created(
        facts, rules, event_id=created.event_id, occurred_at=created.occurred_at, now=_now()
    )
    record = outcome.classification
    fired = newly_fired(None, record)
    state = OrderState(
        classification=record,
        applied={created.event_id: enriched.source.position},
        facts=facts,
        partition=partition,
        notified=fired,
        status_since=created.occurred_at,
        source_timestamp=enriched.source.timestamp,
        clocks=sla.start(rules.slas, record.status, created.occurred_at, outcome.facts, running=[]),
    )
    tables.orders[order_id] = state
    timers.schedule(partition, order_id, state)
    await publish(record, fired, None, enriched.source.timestamp)
    parked = tables.parked.get(order_id)
    if parked is not None:
        metrics.parked_status_events.dec(len(parked.events))
        settling.setdefault(partition, {})[order_id] = (ENRICHED, offset)
        await replay_parked(parked)


async def on_status(message: Message) -> None:
    change = await deadletters.decode(StatusChanged, message, max_bytes=settings.max_value_bytes)
    if change is None:
        return
    source = source_of(message)
    await catch_up_parked(change.order_id, STATUS, message.offset)
    state = tables.orders.get(change.order_id)
    if state is None:
        # Created orders take two internal hops, so their status changes often overtake them.
        parked = tables.parked.get(change.order_id) or ParkedStatuses()
        entry = ParkedStatus(raw=message.value.decode(), source=source, parked_at=time.time())
        tables.parked[change.order_id] = ParkedStatuses(events=[*parked.events, entry])
        created_progress.parked(source.partition, source.timestamp)
        metrics.parked_status_events.inc()
        return
    await apply_status(state, change, message.value, source)


async def apply_status(
    state: OrderState, change: StatusChanged, raw: bytes, source: Source
) -> None:
    applied_at = state.applied.get(change.event_id)
    if applied_at == source.position:
        await replayed_status(state, change)
        return
    if applied_at is not None:
        await deadletters.send(
            value=raw,
            source=source,
            code="duplicate_event",
            reason=f"event {change.event_id} was already applied",
            error_class="Duplicate",
        )
        return
    if state.status_since is not None and change.occurred_at < state.status_since:
        metrics.out_of_order_events.inc()
        await deadletters.send(
            value=raw,
            source=source,
            code="out_of_order",
            reason=f"event time {change.occurred_at.isoformat()} is before the current status"
            f" {state.classification.status.value} (since {state.status_since.isoformat()});"
            " recorded, not applied",
            error_class="OutOfOrder",
        )
        return
    before = state.classification
    rules = rulebook.current
    try:
        outcome = classify_status_change(before, state.facts, change, rules, now=_now())
    except InvalidTransition as exc:
        await deadletters.send(
            value=raw,
            source=source,
            code=exc.code,
            reason=exc.reason,
            error_class="InvalidTransition",
        )
        return
    after = outcome.classification
    applied = state.with_applied(change.event_id, source, settings.dedupe_history)
    fired = newly_fired(before, after)
    finished = rules.lifecycle.finished(after.status)
    clocks = (
        sla.start(rules.slas, after.status, change.occurred_at, outcome.facts, state.clocks)
        if state.facts is not None
        else []
    )
    state = state.model_copy(
        update={
            "classification": after,
            "applied": applied,
            "notified": fired,
            "status_since": change.occurred_at,
            "source_timestamp": source.timestamp,
            "clocks": clocks,
            "finished_at": (state.finished_at or time.time()) if finished else None,
        }
    )
    tables.orders[change.order_id] = state
    if state.partition is not None:
        timers.schedule(state.partition, change.order_id, state)
    await publish(after, fired, before.status, source.timestamp)


async def replayed_status(state: OrderState, change: StatusChanged) -> None:
    """Our own replay of an applied status change (after a crash or a rebalance).

    If it was the last change applied, its outputs may not have left before the crash: send
    them again (same notification ids). An older one was followed by later changes whose
    state was written, so its outputs are not resent; state stays as it is either way.
    """
    metrics.replayed_events.labels(topic=STATUS).inc()
    await resend_last(state, change.event_id, previous_status=change.from_status)


async def resend_last(state: OrderState, event_id: str, previous_status: Status | None) -> None:
    """Re-send what the last change sent, if ``event_id`` was that change (same ids)."""
    if state.classification.event_id == event_id:
        await send_outputs(
            state.classification, state.notified, previous_status, state.source_timestamp
        )


async def catch_up_parked(order_id: str, topic: str, offset: int) -> bool:
    """Apply the parked changes an existing order does not hold yet; whether there were any.

    Only after a crash: the order's creation applied them, and the writes that recorded it
    were lost while the recovered order was not. They come before any later change.
    """
    state = tables.orders.get(order_id)
    parked = tables.parked.get(order_id)
    if state is None or parked is None or not unapplied(parked, state):
        return False
    settling.setdefault(_current_partition(), {})[order_id] = (topic, offset)
    await replay_parked(parked)
    return True


def unapplied(parked: ParkedStatuses, state: OrderState) -> list[str]:
    """Event ids of ``parked`` that ``state`` has not applied."""
    ids = [orjson.loads(p.raw).get("event_id") for p in parked.events]
    return [i for i in ids if i not in state.applied and i not in state.parked_handled]


async def replay_parked(parked: ParkedStatuses) -> None:
    """Apply status changes that waited for their order, in event-time order.

    Those dead-lettered instead (a duplicate, an invalid transition) are recorded in the
    order as handled, so a later catch-up does not take them for lost and send them again.
    """
    changes = [(StatusChanged.model_validate_json(p.raw), p) for p in parked.events]
    for change, entry in sorted(changes, key=lambda c: c[0].occurred_at):
        state = tables.orders[change.order_id]
        await apply_status(state, change, entry.raw.encode(), entry.source)
    if changes:
        order_id = changes[0][0].order_id
        state = tables.orders[order_id]
        if unapplied(parked, state):
            handled = [change.event_id for change, _ in changes]
            tables.orders[order_id] = state.model_copy(update={"parked_handled": handled})


async def publish(
    after: ClassifiedOrder, fired: list[str], previous: Status | None, timestamp: float
) -> None:
    """Outputs for one change of an order (the insight agent counts it into windows)."""
    await send_outputs(after, fired, previous, timestamp)


async def send_outputs(
    after: ClassifiedOrder,
    fired: list[str],
    previous: Status | None,
    timestamp: float | None = None,
) -> None:
    """The classified record and the notifications of rules that became true, with metrics.

    The classified record carries ``timestamp``, the input record's: analytics windows are
    keyed by it, so a re-sent copy falls in the window of the first.
    """
    now = _now()
    await topics.classified.send(key=after.order_id.encode(), value=after, timestamp=timestamp)
    if after.cause != "reclassified":  # the mix counts events, as the analytics windows do
        for dimension, value in analytics.contributions(after):
            metrics.orders_classified.labels(dimension=dimension, value=value).inc()
        metrics.event_time_lag_seconds.labels(topic=after.cause).observe(
            max(0.0, (now - after.occurred_at).total_seconds())
        )
    sent = notifications(after, fired, rulebook.current, previous_status=previous, now=now)
    for notification in sent:
        await topics.notifications.send(key=after.order_id.encode(), value=notification)
        metrics.notifications.labels(kind=notification.kind).inc()


async def on_tick(tick: Tick, partition: int) -> None:
    """Timed work for one partition, run inside the stream so table writes have a partition."""
    await expire_parked(partition, tick.now)
    await close_windows(partition, tick.now)
    await reclassify.sweep(partition, tick, send_outputs)
    await timers.fire(partition, tick.now)


def settle_parked(partition: int) -> None:
    """Delete the parked entries that orders applied, once those orders' writes are safe."""
    pending = settling.get(partition)
    if not pending:
        return
    for order_id, (topic, offset) in list(pending.items()):
        committed = offsets.committed(app, topic, partition)
        if committed is not None and offset < committed:
            del pending[order_id]
            if order_id in tables.parked:
                del tables.parked[order_id]


async def expire_parked(partition: int, now: float) -> None:
    """Dead-letter parked status changes of ``partition`` whose order is not coming."""
    settle_parked(partition)
    grace = settings.status_grace_seconds
    if upstream_backlog():
        # After a restart the created path (two internal hops) can trail the status stream
        # for longer than the grace: "idle" must mean caught up, not merely quiet.
        created_progress.busy_upstream(time.time())
    if not created_progress.worth_scanning(partition, now, grace):
        return
    oldest_left: float | None = None
    pending = settling.get(partition, {})
    for order_id, parked in list(tables.parked.items()):
        mine = [p for p in parked.events if p.source.partition == partition]
        state = tables.orders.get(order_id)
        if mine and state is not None:
            # Applied when the order came. Not settling in this process: recovered from the
            # changelogs after a restart or a rebalance, so the order's write is safe. If the
            # order does not hold them all, its creation's replay (uncommitted) applies them.
            if order_id not in pending and not unapplied(parked, state):
                del tables.parked[order_id]
            continue
        expired = [
            p
            for p in mine
            if created_progress.gave_up(partition, p.source.timestamp, p.parked_at, now, grace)
        ]
        for p in mine:
            if p not in expired:
                ts = p.source.timestamp
                oldest_left = ts if oldest_left is None else min(oldest_left, ts)
        if not expired:
            continue
        kept = [p for p in parked.events if p not in expired]
        if kept:
            tables.parked[order_id] = ParkedStatuses(events=kept)
        else:
            del tables.parked[order_id]
        metrics.parked_status_events.dec(len(expired))
        for entry in expired:
            await deadletters.send(
                value=entry.raw.encode(),
                source=entry.source,
                code="unknown_order",
                reason=f"no order {order_id} arrived within {grace:g}s",
                error_class="UnknownOrder",
            )
    created_progress.scanned(partition, oldest_left)


def upstream_backlog() -> int:
    """Records of the created path assigned here and not yet committed (highwater - committed).

    Only this worker's partitions are known, so with several
    workers another one's backlog is not seen (the watermark rule still applies).
    """
    consumer = app.consumer
    try:
        highs = {tp: consumer.highwater(tp) for tp in consumer.assignment() if tp.topic in UPSTREAM}
    except ConsumerNotStarted:  # agent tests run without a Kafka consumer
        return 0
    total = 0
    for tp, high in highs.items():
        if high is None:
            continue
        done = offsets.committed(app, tp.topic, tp.partition)
        if done is not None:  # unknown (nothing committed yet here): no evidence of a backlog
            total += max(0, high - done)
    return total


async def close_windows(partition: int, now: float) -> None:
    """Publish the closed windows of ``partition``; drop those past retention."""
    published_at = datetime.fromtimestamp(now, UTC)
    for key, window in list(tables.windows.items()):
        if window.partition != partition:
            continue
        if analytics.is_due(window, now, settings.analytics_lateness_seconds):
            revision = window.revision
            await topics.analytics.send(
                key=key.encode(), value=analytics.to_event(window, published_at)
            )
            metrics.analytics_windows_published.labels(
                window_seconds=str(window.window_seconds)
            ).inc()
            # Read again: the insight agent may have counted into it during the send (with
            # RocksDB, writing back the copy read above lost those counts: 3 events in a
            # state-deleted-rocksdb run); only the revision sent is published.
            current = tables.windows.get(key)
            if current is not None and current.published_revision < revision:
                current.published_revision = revision
                tables.windows[key] = current
        elif analytics.is_expired(window, now, settings.analytics_retention_seconds):
            del tables.windows[key]


def _current_partition() -> int:
    """The partition being processed: window aggregates are kept per source partition."""
    event = current_event()
    assert event is not None
    return event.message.partition


def _now() -> datetime:
    return datetime.now(UTC)
