"""Every input record reaches an agent: a skipped offset is fetched again, never committed over.

Faust's fetch loop drops the rest of a fetched batch when the group generation changes or the
flow stops, while aiokafka's position has already moved past it. When the next batch starts
after the dropped records, Faust takes the jump for transaction markers: it records a "gap"
and later commits over it. The verifier (``make faults``) caught it: a SIGTERM run committed
``orders-enriched`` past a created order that was never processed, and its status changes
were dead-lettered as ``unknown_order``.

Our inputs have no such markers (no transactional producers; source topics are not
compacted), so a jump means skipped records. The guard wraps Faust's ``getmany``: it holds
back every record after the jump and seeks the partition back to the first missing offset.
If the broker still starts later after that seek, the offsets really do not exist (retention
deleted them) and the stream goes on. Table changelogs (compacted, read by recovery) are
exempt.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from faust import App
from faust.types import TP

log = logging.getLogger("ordertriage.continuity")


@dataclass
class Continuity:
    """Per partition: the next offset the stream must see."""

    exempt: Callable[[str], bool] = lambda topic: False
    expected: dict[TP, int] = field(default_factory=dict)
    #: Partitions sought back to a missing offset, and that offset.
    refetching: dict[TP, int] = field(default_factory=dict)

    def forget(self, tps: Iterable[TP]) -> None:
        """Positions were reset (a rebalance seeks to the committed offsets): start afresh."""
        for tp in tps:
            self.expected.pop(tp, None)
            self.refetching.pop(tp, None)

    def check(self, tp: TP, offset: int) -> int | None:
        """None to deliver the record at ``offset``; else the offset to seek back to."""
        if self.exempt(tp.topic):
            return None
        want = self.expected.get(tp)
        sought = self.refetching.pop(tp, None)
        if want is not None and offset > want and sought != want:
            self.refetching[tp] = want
            return want
        if want is not None and offset > want:
            log.warning(
                "%s: offsets %d..%d are not in the log (deleted?); going on at %d",
                tp,
                want,
                offset - 1,
                offset,
            )
        # The next one, the first since an assignment, or a re-read after a seek back.
        self.expected[tp] = offset + 1
        return None


async def filtered(
    batch: AsyncIterator[tuple[TP, Any]],
    continuity: Continuity,
    seek: Callable[[TP, int], Awaitable[None]],
    on_refetch: Callable[[TP, int, int], None],
) -> AsyncIterator[tuple[TP, Any]]:
    """The records of one fetched ``batch`` the stream may see, seeking back over skips."""
    held: set[TP] = set()  # sought back: the rest of this batch comes again
    async for tp, message in batch:
        if tp in held:
            continue
        seek_to = continuity.check(tp, message.offset)
        if seek_to is None:
            yield tp, message
            continue
        held.add(tp)
        on_refetch(tp, seek_to, message.offset)
        log.warning(
            "%s: offsets %d..%d were skipped by the fetch loop; reading them again",
            tp,
            seek_to,
            message.offset - 1,
        )
        await seek(tp, seek_to)


def guard_fetches(app: App, on_refetch: Callable[[TP, int, int], None]) -> Continuity:
    """Install the guard on Faust's consumer; ``on_refetch(tp, missing, seen)`` per seek."""
    from faust.transport.consumer import Consumer

    def is_changelog(topic: str) -> bool:
        return topic in {t.changelog_topic.get_topic_name() for t in app.tables.values()}

    continuity = Continuity(exempt=is_changelog)
    original = Consumer.getmany

    def getmany(self: Consumer, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        return filtered(original(self, timeout), continuity, self.seek, on_refetch)

    Consumer.getmany = getmany  # type: ignore[method-assign,assignment]

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: App, revoked: set[TP], **kwargs: object) -> None:
        continuity.forget(revoked)

    @app.on_partitions_assigned.connect
    async def forget_assigned(app: App, assigned: set[TP], **kwargs: object) -> None:
        continuity.forget(assigned)

    return continuity


def is_skipped(app: App, message: Any) -> bool:
    """Whether Faust's stream skips ``message`` (as its iterator decides) rather than process it."""
    generation = getattr(message, "generation_id", None)
    return not app.flow_control.is_active() or (
        generation is not None and generation != app.consumer_generation_id
    )


def never_commit_skipped(app: App) -> None:
    """Records Faust's stream skips are never acknowledged, so never committed.

    While the flow is stopped (a rebalance, or shutting down on SIGTERM) or for a record of an
    older group generation, Faust's stream iterator skips the record *and acks it*; the
    commit that follows (the last one, on shutdown) then goes past a record nobody processed.
    The verifier caught it: a SIGTERM run committed ``orders-enriched`` past a created order
    that was never applied, and its status changes were dead-lettered as ``unknown_order``.
    Here such an ack only releases the record (so rebalances do not wait for it); its offset
    stays uncommitted and the record is read again. A record processed while a rebalance
    began is released the same way and read again too, which the tables' replay checks
    absorb. Faust's Cython iterator inlines the ack, so the pure-Python one is used.
    """
    from faust import streams
    from faust.events import Event
    from faust.types.tuples import ack_lock
    from mode.utils.futures import notify

    streams._CStreamIterator = None  # type: ignore[attr-defined]
    original = Event.ack

    def ack(self: Event) -> bool:
        message = self.message
        if not is_skipped(app, message):
            return original(self)
        consumer = app.consumer
        with ack_lock:
            message.acked = True
        consumer._unacked_messages.discard(message)  # type: ignore[attr-defined]
        notify(consumer._waiting_for_ack)  # type: ignore[attr-defined]
        return False

    Event.ack = ack  # type: ignore[method-assign]
