"""A person's correction of an order (``orders.corrections``), applied by the order book.

The correction becomes a fact of the order (``streams.classify.corrections``), so it sticks
through later events and rule switches; the record it publishes (cause ``corrected``) says
what was decided, by what, and who corrected it, which is what accuracy is counted from.
Recorded in the order's ledger like a status change: a replay re-sends what it sent, a
second copy upstream is dead-lettered as a duplicate.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from faust.types.tuples import Message

from schemas.events import ClassifiedOrder, OrderCorrection
from streams.agents.outputs import Outputs
from streams.agents.timers import Timers
from streams.app import Worker
from streams.classify import accuracy, corrections, sla
from streams.classify.engine import correct
from streams.classify.ledger import Seen, by_identity
from streams.classify.notify import newly_fired
from streams.records import StaffEvent
from streams.runtime.deadletters import origin_of

#: The order book's re-key of a record on another partition than its order's (True: sent on).
Reroute = Callable[[Message, str], Awaitable[bool]]

log = logging.getLogger("ordertriage.corrections")


class Corrector:
    def __init__(self, w: Worker, outputs: Outputs, timers: Timers, reroute: Reroute) -> None:
        self.w, self.outputs, self.timers, self.reroute = w, outputs, timers, reroute
        self.topic = w.topics.corrections.get_topic_name()

    async def on_correction(self, message: Message) -> None:
        w = self.w
        correction = await w.deadletters.decode(
            OrderCorrection, message, max_bytes=w.settings.max_value_bytes
        )
        if correction is None:
            return
        if message.topic == self.topic and await self.reroute(message, correction.order_id):
            return
        source = origin_of(message)
        state = w.tables.orders.get(correction.order_id)

        async def refuse(code: str, reason: str, error_class: str) -> None:
            await w.deadletters.send(
                value=message.value,
                source=source,
                code=code,
                reason=reason,
                error_class=error_class,
            )

        if state is None:
            await refuse(
                "unknown_order",
                f"no order {correction.order_id} here (finished and removed, or never seen)",
                "UnknownOrder",
            )
            return
        seen = by_identity(state.applied.get(correction.event_id), source.position)
        if seen is Seen.REPLAY:
            w.metrics.replayed_events.labels(topic=message.topic).inc()
            await self.outputs.resend_last(state, correction.event_id, previous_status=None)
            return
        if seen is Seen.DUPLICATE:
            await refuse(
                "duplicate_event", f"event {correction.event_id} was already applied", "Duplicate"
            )
            return
        facts, rules = state.facts, w.rulebook.current
        if facts is None:
            await refuse(
                "not_correctable",
                f"order {correction.order_id} was stored before facts were kept",
                "InvalidCorrection",
            )
            return
        problem = corrections.check(correction, rules, facts.items)
        if problem is not None:
            await refuse("invalid_correction", problem, "InvalidCorrection")
            return
        before = state.classification
        outcome, kept = correct(before, facts, correction, rules, now=datetime.now(UTC))
        after = outcome.classification
        assert after.correction is not None
        staff = received(after, correction)
        fired = newly_fired(before, after)
        since = state.status_since or after.occurred_at
        state = state.model_copy(
            update={
                "classification": after,
                "facts": kept,
                "applied": state.with_applied(
                    correction.event_id, source, w.settings.dedupe_history
                ),
                "notified": fired,
                "clocks": sla.start(rules.slas, after.status, since, outcome.facts, state.clocks),
                "source_timestamp": source.timestamp,
                "staff": staff,
            }
        )
        w.tables.orders[correction.order_id] = state
        if state.partition is not None:
            self.timers.schedule(state.partition, correction.order_id, state)
        applied = after.correction
        w.metrics.corrections.labels(
            dimension=applied.dimension.value, decided_by=accuracy.decider(applied.decided_by)
        ).inc()
        await self.outputs.send(after, fired, None, source.timestamp)
        await self.outputs.staff(staff)


def received(after: ClassifiedOrder, correction: OrderCorrection) -> list[StaffEvent]:
    """The correction made, and, when it overrode another person's value, the one received."""
    applied = after.correction
    assert applied is not None
    common = {
        "team": after.team,
        "subject": after.order_id,
        "occurred_at": correction.occurred_at,
        "dimension": applied.dimension.value,
    }
    by = correction.corrected_by
    out = [
        StaffEvent(
            event_id=f"{correction.event_id}:correction_made:{by}",
            person=by,
            kind="correction_made",
            **common,
        )
    ]
    earlier = corrections.corrected_by(applied.decided_by)
    if earlier is not None and earlier != by:
        out.append(
            StaffEvent(
                event_id=f"{correction.event_id}:correction_received:{earlier}",
                person=earlier,
                kind="correction_received",
                **common,
            )
        )
    return out
