"""The peer: ordertriage's classification written as a Quix Streams application.

What a Python engineer might write instead of Faust: the same pure core (``streams.classify``),
the same input validation (``schemas.codec``), the same stored models, Quix's RocksDB state with
changelog topics, at-least-once. The flow mirrors ordertriage's: validate created orders, re-key
by customer and count them into the customer's history once, re-key by order id, then one
stateful step over enriched orders and status changes (state per order; status changes that
overtake their order are parked until it arrives, then applied in ``occurred_at`` order).

Not mirrored, so the peer does somewhat less work than ordertriage: analytics windows (Quix
windows are per key; ordertriage's per-partition aggregates would need another repartition),
dead letters (the benchmark has no bad input) and the expiry of parked changes.

Runs in its own venv (``.cache/bench/peer-venv``: quixstreams pins pydantic < 2.14), as
``python -m streams.tools.bench.peer``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click
import orjson
from quixstreams import Application, State, message_context
from quixstreams.models import TopicConfig
from quixstreams.models.serializers import Serializer

from schemas.codec import decode
from schemas.events import ClassifiedOrder, OrderCreated, Status, StatusChanged
from streams.classify import sla
from streams.classify.customers import CustomerStats, apply_order
from streams.classify.engine import classify_created, classify_status_change
from streams.classify.facts import OrderFacts
from streams.classify.lifecycle import InvalidTransition
from streams.classify.notify import newly_fired, notifications
from streams.classify.rules import RuleSet
from streams.records import (
    CountedOrder,
    EnrichedOrder,
    OrderState,
    ParkedStatus,
    ParkedStatuses,
    Source,
)

ENRICHED = "peer-orders-enriched"
RULES = RuleSet.default()
DEDUPE_HISTORY = 64
Output = tuple[str, bytes]  # ("classified" | "notification", value)


class Payload(Serializer):
    """Outputs travel as (kind, bytes) so one step can feed two topics; the bytes are sent."""

    def __call__(self, value: Output, ctx: Any) -> bytes:
        return value[1]


def _source(timestamp_ms: int, key: str) -> Source:
    ctx = message_context()
    return Source(
        topic=ctx.topic,
        partition=ctx.partition,
        offset=ctx.offset,
        timestamp=timestamp_ms / 1000,
        key=key,
    )


def valid(raw: bytes) -> bool:
    decode(OrderCreated, raw)  # raises on bad input (the benchmark has none)
    return True


def count_order(raw: bytes, key: str, timestamp: int, headers: Any, state: State) -> bytes:
    """Count a created order into its customer's history once; pass it on enriched."""
    created = OrderCreated.model_validate_json(raw)
    order = created.order
    seen_key = f"order/{order.order_id}"
    source = _source(timestamp, order.order_id)
    counted_raw = state.get(seen_key)
    if counted_raw is not None:  # a replay: send what was sent then
        counted = CountedOrder.model_validate_json(counted_raw)
        return (
            EnrichedOrder(event=created, customer=counted.customer, source=source)
            .model_dump_json()
            .encode()
        )
    stats_raw = state.get("stats")
    stats = CustomerStats.model_validate_json(stats_raw) if stats_raw else None
    after, snapshot = apply_order(stats, order)
    state.set("stats", after.model_dump_json())
    counted = CountedOrder(event_id=created.event_id, position=source.position, customer=snapshot)
    state.set(seen_key, counted.model_dump_json())
    return EnrichedOrder(event=created, customer=snapshot, source=source).model_dump_json().encode()


def on_order_event(
    raw: bytes, key: str, timestamp: int, headers: Any, state: State
) -> list[Output]:
    """One step per order id: created orders (enriched) and status changes."""
    now = datetime.now(UTC)
    if message_context().topic.endswith(ENRICHED):
        enriched = EnrichedOrder.model_validate_json(raw)
        created = enriched.event
        if state.get("order") is not None:
            return []  # replayed or duplicate creation: state stays
        facts = OrderFacts.of(created, enriched.customer)
        outcome = classify_created(
            facts, RULES, event_id=created.event_id, occurred_at=created.occurred_at, now=now
        )
        record = outcome.classification
        fired = newly_fired(None, record)
        order = OrderState(
            classification=record,
            applied={created.event_id: enriched.source.position},
            facts=facts,
            partition=message_context().partition,
            notified=fired,
            status_since=created.occurred_at,
            clocks=sla.start(RULES.slas, record.status, created.occurred_at, outcome.facts, []),
        )
        out = _outputs(record, fired, None, now)
        parked_raw = state.get("parked")
        if parked_raw is not None:
            state.delete("parked")
            parked = ParkedStatuses.model_validate_json(parked_raw)
            changes = [(StatusChanged.model_validate_json(p.raw), p) for p in parked.events]
            for change, entry in sorted(changes, key=lambda c: c[0].occurred_at):
                order, more = _apply_status(order, change, entry.source, now)
                out += more
        state.set("order", order.model_dump_json())
        return out
    change = decode(StatusChanged, raw)
    source = _source(timestamp, key)
    order_raw = state.get("order")
    if order_raw is None:
        parked_raw = state.get("parked")
        parked = ParkedStatuses.model_validate_json(parked_raw) if parked_raw else ParkedStatuses()
        entry = ParkedStatus(raw=raw.decode(), source=source, parked_at=now.timestamp())
        state.set("parked", ParkedStatuses(events=[*parked.events, entry]).model_dump_json())
        return []
    order, out = _apply_status(OrderState.model_validate_json(order_raw), change, source, now)
    state.set("order", order.model_dump_json())
    return out


def _apply_status(
    order: OrderState, change: StatusChanged, source: Source, now: datetime
) -> tuple[OrderState, list[Output]]:
    if change.event_id in order.applied:
        return order, []  # replayed or duplicate
    if order.status_since is not None and change.occurred_at < order.status_since:
        return order, []  # out of order: a dead letter in ordertriage; the benchmark has none
    before = order.classification
    try:
        outcome = classify_status_change(before, order.facts, change, RULES, now=now)
    except InvalidTransition:
        return order, []  # dead letter in ordertriage; the benchmark has none
    after = outcome.classification
    applied = order.with_applied(change.event_id, source, DEDUPE_HISTORY)
    fired = newly_fired(before, after)
    clocks = (
        sla.start(RULES.slas, after.status, change.occurred_at, outcome.facts, order.clocks)
        if order.facts is not None
        else []
    )
    state = order.model_copy(
        update={
            "classification": after,
            "applied": applied,
            "notified": fired,
            "status_since": change.occurred_at,
            "clocks": clocks,
        }
    )
    return state, _outputs(after, fired, before.status, now)


def _outputs(
    after: ClassifiedOrder, fired: list[str], previous: Status | None, now: datetime
) -> list[Output]:
    out: list[Output] = [("classified", after.model_dump_json().encode())]
    for notification in notifications(after, fired, RULES, previous_status=previous, now=now):
        out.append(("notification", notification.model_dump_json().encode()))
    return out


def build(bootstrap: str, prefix: str, group: str, state_dir: str, partitions: int) -> Application:
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        processing_guarantee="at-least-once",
        # Faust's interval: the bench reads "drained" from commits (kafka.drained_at).
        commit_interval=2.8,
        state_dir=state_dir,
        loglevel="WARNING",
    )
    config = TopicConfig(num_partitions=partitions, replication_factor=1)
    enriched_topic = app.topic(
        f"{prefix}{ENRICHED}", config=config, key_serializer="str", key_deserializer="str",
        value_serializer="bytes", value_deserializer="bytes",
    )  # fmt: skip
    created_topic = app.topic(
        f"{prefix}orders.created", key_deserializer="str", value_deserializer="bytes"
    )
    status_topic = app.topic(
        f"{prefix}orders.status-changed", key_deserializer="str", value_deserializer="bytes"
    )
    outputs = {
        kind: app.topic(f"{prefix}orders.{name}", key_serializer="str", value_serializer=Payload())
        for kind, name in (("classified", "classified"), ("notification", "notifications"))
    }

    created = app.dataframe(created_topic).filter(valid)
    by_customer = created.group_by(
        lambda raw: orjson.loads(raw)["order"]["customer"]["customer_id"],
        name="by-customer",
        key_serializer="str",
        key_deserializer="str",
        value_serializer="bytes",
        value_deserializer="bytes",
    )
    # Quix allows one group_by per dataframe: the re-key by order id is an explicit topic.
    by_customer.apply(count_order, stateful=True, metadata=True).to_topic(
        enriched_topic, key=lambda raw: orjson.loads(raw)["event"]["order"]["order_id"]
    )
    orders = app.dataframe(enriched_topic).concat(app.dataframe(status_topic))
    orders = orders.apply(on_order_event, stateful=True, metadata=True, expand=True)
    orders.to_topic(lambda value, key, ts, headers: outputs[value[0]])
    return app


@click.command()
@click.option("--bootstrap", required=True)
@click.option("--prefix", required=True, help="topic prefix of this run")
@click.option("--group", required=True)
@click.option("--state-dir", required=True)
@click.option("--partitions", type=int, default=4, show_default=True)
def main(bootstrap: str, prefix: str, group: str, state_dir: str, partitions: int) -> None:
    build(bootstrap, prefix, group, state_dir, partitions).run()


if __name__ == "__main__":
    main()
