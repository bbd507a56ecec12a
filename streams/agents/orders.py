"""Everything keyed by order id, in one agent so one worker owns each order's state.

Reads three co-partitioned topics (``Topics.order_stream``): enriched created orders,
upstream status changes, and ticks (timed work: parking expiry, re-classification sweeps,
SLA timers). Parking lives in ``parking``, what a change sends in ``outputs``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from faust import StreamT
from faust.streams import current_event
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import OrderAction, StatusChanged
from streams.agents.corrections import Corrector
from streams.agents.outputs import Outputs
from streams.agents.parking import Parking
from streams.agents.reclassify import Reclassify
from streams.agents.timers import Timers
from streams.app import Worker
from streams.classify import sla
from streams.classify.actions import apply_action
from streams.classify.engine import classify_created, classify_status_change, reclassify
from streams.classify.facts import OrderFacts
from streams.classify.feedback_desk import LinkedOrder
from streams.classify.ledger import Seen, by_identity
from streams.classify.lifecycle import InvalidTransition
from streams.classify.notify import newly_fired
from streams.kafka.partitioning import ADVICE, Pattern
from streams.records import EnrichedOrder, FeedbackCase, OrderState, Source, StaffEvent, Tick
from streams.runtime.deadletters import SOURCE_HEADER, origin_of, source_of

log = logging.getLogger("ordertriage.orders")


class OrderBook:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.outputs = Outputs(w)
        self.timers = Timers(w)
        self.parking = Parking(w, self.apply_status)
        self.reclassify = Reclassify(w, self.timers)
        self.corrector = Corrector(w, self.outputs, self.timers, self.rerouted_elsewhere)
        t = w.topics
        self.enriched = t.enriched.get_topic_name()
        self.status = t.status_changed.get_topic_name()
        self.corrections = t.corrections.get_topic_name()
        self.rerouted = t.status_rerouted.get_topic_name()
        self.actions = t.actions.get_topic_name()
        self.ticks = t.ticks.get_topic_name()
        self.feedback = t.feedback_by_order.get_topic_name()
        self.warned: set[Pattern] = set()

    def assigned(self, assigned: set[TP]) -> None:
        self.timers.reset()
        self.parking.assigned(assigned)

    async def run(self, stream: StreamT[bytes]) -> None:
        rulebook, metrics = self.w.rulebook, self.w.metrics
        async for event in stream.events():
            if not rulebook.ready.is_set():
                await rulebook.ready.wait()  # the rules topic read: never classify stale
            message = event.message
            started = time.perf_counter()
            if message.topic == self.status:  # rerouted ones were counted on arrival
                metrics.events_consumed.labels(topic=message.topic).inc()
            await self.w.deadletters.process(message, self.dispatch)
            if message.topic != self.ticks:
                metrics.processing_seconds.labels(topic=message.topic).observe(
                    time.perf_counter() - started
                )

    async def dispatch(self, message: Message) -> None:
        if message.topic == self.enriched:
            await self.on_created(EnrichedOrder.model_validate_json(message.value), message.offset)
        elif message.topic == self.corrections or (
            message.topic == self.rerouted and origin_of(message).topic == self.corrections
        ):
            await self.corrector.on_correction(message)
        elif message.topic in (self.status, self.rerouted):
            await self.on_status(message)
        elif message.topic == self.actions:
            await self.on_action(message)
        elif message.topic == self.feedback:
            await self.on_feedback(FeedbackCase.model_validate_json(message.value))
        else:
            await self.on_tick(Tick.model_validate_json(message.value), message.partition)

    async def on_created(self, enriched: EnrichedOrder, offset: int) -> None:
        tables, rules = self.w.tables, self.w.rulebook.current
        created = enriched.event
        order_id = created.order.order_id
        partition = _current_partition()
        existing = tables.orders.get(order_id)
        applied_at = existing.applied.get(created.event_id) if existing is not None else None
        seen = by_identity(applied_at, enriched.source.position)
        if existing is not None and seen is Seen.REPLAY:
            # Our own replay after a crash: the state was written, the outputs may not have
            # left, and the writes of parked changes the first pass applied may be lost:
            # apply again whichever the order does not hold (the rest are seen as replays).
            self.w.metrics.replayed_events.labels(topic=self.enriched).inc()
            await self.outputs.resend_last(existing, created.event_id, previous_status=None)
            # The first pass also applied the parked changes, the last of whose outputs may
            # not have left either (its own input was committed when it was parked).
            if (last := self.parking.applied_last(order_id, existing)) is not None:
                await self.outputs.resend_last(existing, last.event_id, last.from_status)
            await self.parking.catch_up(order_id, partition, self.enriched, offset)
            return
        if existing is not None:  # another created event for an order that exists
            await self.w.deadletters.send(
                value=created.model_dump_json().encode(),
                source=enriched.source,
                code="duplicate_order",
                reason=f"order {order_id} already exists (created for another customer?)",
                error_class="Duplicate",
            )
            return
        facts = OrderFacts.of(created, enriched.customer)
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
            clocks=sla.start(
                rules.slas, record.status, created.occurred_at, outcome.facts, running=[]
            ),
        )
        tables.orders[order_id] = state
        self.timers.schedule(partition, order_id, state)
        await self.outputs.send(record, fired, None, enriched.source.timestamp)
        await self.parking.order_arrived(order_id, partition, self.enriched, offset)

    async def on_status(self, message: Message) -> None:
        change = await self.w.deadletters.decode(
            StatusChanged, message, max_bytes=self.w.settings.max_value_bytes
        )
        if change is None:
            return
        if message.topic == self.status and await self.rerouted_elsewhere(message, change.order_id):
            return
        source = origin_of(message)  # a rerouted record carries where the user produced it
        await self.parking.catch_up(
            change.order_id, message.partition, message.topic, message.offset
        )
        state = self.w.tables.orders.get(change.order_id)
        if state is None:
            self.parking.park(change.order_id, message, source)
            return
        await self.apply_status(state, change, message.value, source)

    async def on_action(self, message: Message) -> None:
        """A person acknowledged or claimed (``ordertriage notify``): the SLA stops escalating.

        Recorded in the order's ledger like a status change, so a replay or a second click
        changes nothing; an action for an order not (or no longer) here is dead-lettered.
        """
        w = self.w
        action = await w.deadletters.decode(
            OrderAction, message, max_bytes=w.settings.max_value_bytes
        )
        if action is None:
            return
        source = origin_of(message)
        state = w.tables.orders.get(action.order_id)
        if state is None:
            await w.deadletters.send(
                value=message.value,
                source=source,
                code="unknown_order",
                reason=f"no order {action.order_id} here (finished and removed, or never seen)",
                error_class="UnknownOrder",
            )
            return
        if by_identity(state.applied.get(action.action_id), source.position) is not Seen.FIRST:
            w.metrics.replayed_events.labels(topic=message.topic).inc()
            return  # our replay, or the same action written twice: applied once already
        applied = apply_action(state.clocks, action)
        state = state.model_copy(
            update={
                "clocks": applied.clocks,
                "applied": state.with_applied(action.action_id, source, w.settings.dedupe_history),
            }
        )
        w.tables.orders[action.order_id] = state
        if applied.stopped:
            log.info(
                "%s: %s by %s stopped %s",
                action.order_id,
                action.action,
                action.by,
                ", ".join(applied.stopped),
            )
        if state.partition is not None:
            self.timers.schedule(state.partition, action.order_id, state)

    async def on_feedback(self, case: FeedbackCase) -> None:
        """A feedback names this order: a complaint counts as a fact of the order (the
        ``has-complaint`` rule tags it, and rules may raise its priority); what the order is
        worth travels on with the feedback to the desk, which routes it."""
        w, rules = self.w, self.w.rulebook.current
        state = w.tables.orders.get(case.order_id or "")
        if state is None:
            linked = LinkedOrder(known=False)
        else:
            c = state.classification
            vip = c.customer_segment.value == "vip"
            linked = LinkedOrder(
                known=True,
                value_tier=c.value_tier.value,
                segment=c.customer_segment.value,
                vip=vip or bool(state.facts and state.facts.customer_vip),
                team=c.team,
            )
            if rules.feedback.is_complaint(case.decision.category):
                await self.complaint(state, case)
        await w.topics.feedback_cases.send(
            key=case.feedback_id.encode(), value=case.model_copy(update={"order": linked})
        )

    async def complaint(self, state: OrderState, case: FeedbackCase) -> None:
        """Count the complaint once (a replay finds it counted and re-sends what it sent)."""
        facts, before = state.facts, state.classification
        event_id = f"feedback:{case.feedback_id}"
        if facts is None:  # written before facts were kept: nothing to classify again from
            return
        if case.feedback_id in facts.complaints:
            await self.outputs.resend_last(state, event_id, previous_status=None)
            return
        facts = facts.model_copy(update={"complaints": [*facts.complaints, case.feedback_id]})
        rules = self.w.rulebook.current
        why = f"complaint {case.feedback_id} ({case.decision.category})"
        outcome = reclassify(before, facts, rules, now=_now(), because=(event_id, why))
        if outcome is None:
            self.w.tables.orders[before.order_id] = state.model_copy(update={"facts": facts})
            return
        after = outcome.classification
        fired = newly_fired(before, after)
        since = state.status_since or after.occurred_at
        clocks = sla.start(rules.slas, after.status, since, outcome.facts, state.clocks)
        state = state.model_copy(
            update={
                "classification": after,
                "facts": facts,
                "notified": fired,
                "clocks": clocks,
                "staff": [],
            }
        )
        self.w.tables.orders[before.order_id] = state
        if state.partition is not None:
            self.timers.schedule(state.partition, before.order_id, state)
        await self.outputs.send(after, fired, None)

    async def rerouted_elsewhere(self, message: Message, order_id: str) -> bool:
        """Re-key a status change (or correction) put on another partition than its order's.

        Its order's state lives on the partition of the order id (Kafka's default partitioner),
        so the change goes there through ``<app>-status-rerouted``, original bytes unchanged
        and its source in a header; records already in place pay one comparison and a hash.
        """
        w = self.w
        pattern = w.routing.misrouted(message.topic, message.key, message.partition, order_id)
        if pattern is None:
            return False
        w.metrics.misrouted_records.labels(topic=message.topic, pattern=pattern.value).inc()
        if pattern not in self.warned:
            self.warned.add(pattern)
            log.warning(
                "%s: records on partitions other than their order id's (%s); re-keying"
                " them through %s (one internal hop). To avoid it upstream: %s",
                message.topic,
                pattern.value,
                self.rerouted,
                ADVICE[pattern],
            )
        source = source_of(message)
        await w.topics.status_rerouted.send(
            key=order_id.encode(),
            value=message.value,
            headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
        )
        return True

    async def apply_status(
        self, state: OrderState, change: StatusChanged, raw: bytes, source: Source
    ) -> None:
        deadletters = self.w.deadletters
        seen = by_identity(state.applied.get(change.event_id), source.position)
        if seen is Seen.REPLAY:
            # Our own replay (a crash or a rebalance). If it was the last change applied, its
            # outputs may not have left: send them again (same notification ids). An older
            # one's were acknowledged before a state holding a later change was sent (the
            # orders' records wait for their outputs, streams.runtime.write_cache).
            self.w.metrics.replayed_events.labels(topic=self.status).inc()
            await self.outputs.resend_last(state, change.event_id, change.from_status)
            return
        if seen is Seen.DUPLICATE:
            await deadletters.send(
                value=raw,
                source=source,
                code="duplicate_event",
                reason=f"event {change.event_id} was already applied",
                error_class="Duplicate",
            )
            return
        if state.status_since is not None and change.occurred_at < state.status_since:
            self.w.metrics.out_of_order_events.inc()
            await deadletters.send(
                value=raw,
                source=source,
                code="out_of_order",
                reason=f"event time {change.occurred_at.isoformat()} is before the current"
                f" status {state.classification.status.value} (since"
                f" {state.status_since.isoformat()}); recorded, not applied",
                error_class="OutOfOrder",
            )
            return
        before = state.classification
        rules = self.w.rulebook.current
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
        applied = state.with_applied(change.event_id, source, self.w.settings.dedupe_history)
        fired = newly_fired(before, after)
        staff = handled(state, change, after.team)
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
                "holder": change.changed_by or None,
                "staff": staff,
            }
        )
        self.w.tables.orders[change.order_id] = state
        if state.partition is not None:
            self.timers.schedule(state.partition, change.order_id, state)
        await self.outputs.send(after, fired, before.status, source.timestamp)
        await self.outputs.staff(staff)

    async def on_tick(self, tick: Tick, partition: int) -> None:
        """Timed work for one partition, run inside the stream so writes have a partition."""
        await self.parking.expire(partition, tick.now)
        await self.reclassify.sweep(partition, tick, self.outputs.send)
        await self.timers.fire(partition, tick.now)


def handled(state: OrderState, change: StatusChanged, team: str | None) -> list[StaffEvent]:
    """The staff events of a status change: who made it, and how long the order had been in
    the hands of whoever moved it into the status it leaves."""
    out = []
    if state.holder is not None and state.status_since is not None:
        out.append(
            StaffEvent(
                event_id=f"{change.event_id}:held:{state.holder}",
                person=state.holder,
                team=state.classification.team,
                kind="held",
                subject=change.order_id,
                occurred_at=change.occurred_at,
                status=state.classification.status.value,
                seconds=max(0.0, (change.occurred_at - state.status_since).total_seconds()),
            )
        )
    if change.changed_by:
        out.append(
            StaffEvent(
                event_id=f"{change.event_id}:status_change:{change.changed_by}",
                person=change.changed_by,
                team=team,
                kind="status_change",
                subject=change.order_id,
                occurred_at=change.occurred_at,
                status=change.to_status.value,
            )
        )
    return out


def register(w: Worker) -> OrderBook:
    book = OrderBook(w)

    async def restart_parking_clocks(app: object, assigned: set[TP], **kwargs: object) -> None:
        book.assigned(assigned)

    async def order_book(stream: StreamT[bytes]) -> None:
        await book.run(stream)

    w.app.on_partitions_assigned.connect(restart_parking_clocks)
    w.app.agent(w.topics.order_stream, name="order-book")(order_book)
    return book


def _current_partition() -> int:
    """The partition being processed: orders remember theirs (timers, sweeps, windows)."""
    event = current_event()
    assert event is not None
    return event.message.partition


def _now() -> datetime:
    return datetime.now(UTC)
