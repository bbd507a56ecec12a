"""Every input record reaches an agent, and no offset is committed before its record was processed.

Faust's at-least-once bookkeeping has holes the verifier (``make faults``) fell through, each
one a record committed that nobody processed:

- its stream iterator *skips and acks* a record while the flow is stopped (a rebalance, or
  shutting down on SIGTERM) or when the record is of an older group generation;
- its commit computation (``Consumer._new_offset``) lets the first acked offset be one past the
  committed one, and checks nothing when the partition has no committed offset yet;
- its fetch loop drops the rest of a fetched batch when the generation changes or the flow
  stops, and takes the following jump in offsets for transaction markers, committing over it.

Seen: SIGTERM runs that committed ``orders-enriched`` past created orders never applied, whose
status changes were then dead-lettered as ``unknown_order``. Here:

- every seek to the committed offsets records, per partition, the offset the stream must see
  next and the offset the next commit must start from (``Continuity.restart``);
- a record after a jump is held back and the partition sought back to the first missing
  offset (our inputs have no transaction markers; if the broker still starts later after that
  seek, the offsets are gone, e.g. deleted by retention, and the stream goes on);
- a drop at the *tail* of a partition has no later record to show the jump: after every
  batch, a client position past the next offset the stream must see is sought back too (seen:
  the last status changes of a partition, dropped while the flow stopped after a kill -9
  restart, never delivered; the partition stalled until a new record came);
- a commit covers only acked offsets contiguous from where the last one ended;
- a skipped record is released, not acked: it stays uncommitted, and the partition is sought
  back to it before the next fetch (seen: a worker restarted after a kill -9 released the first
  records of six partitions while its flow was briefly stopped, no rebalance followed, and those
  partitions never committed again: a stall only a supervisor's restart ended);
- "skipped" is the stream's own decision (it tracks every record it does not skip), not the
  flow's state when the ack comes: a record processed before a rebalance began and acked during
  it was released by that check, and its partition could not commit again (seen as stalls).
  A record read again out of order would lose counts in the stages that keep watermarks, so a
  seek back is only ever to a record no stream has processed. (An earlier try also re-read
  records "held nowhere" after 10 s; it re-read records that were merely queued, out of order,
  and the rebalance scenario lost insight counts: removed.)

Table changelogs (compacted, read by recovery, never committed) are exempt.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from faust import App
from faust.types import TP

log = logging.getLogger("ordertriage.continuity")


@dataclass
class Continuity:
    """Per partition: the next offset the stream must see, and where the next commit starts."""

    exempt: Callable[[str], bool] = lambda topic: False
    expected: dict[TP, int] = field(default_factory=dict)
    #: Partitions sought back to a missing offset, and that offset.
    refetching: dict[TP, int] = field(default_factory=dict)
    #: The offset the next commit must start from (everything before it is committed).
    commit_base: dict[TP, int] = field(default_factory=dict)
    #: Per partition, the first record a stream skipped (released) since the last seek.
    released: dict[TP, int] = field(default_factory=dict)
    #: Times the flow stopped (Faust's ``stop_flow``): a batch cut short drops records.
    interruptions: int = 0

    def forget(self, tps: Iterable[TP]) -> None:
        """Partitions revoked: nothing is known until the next seek."""
        for tp in tps:
            self.expected.pop(tp, None)
            self.refetching.pop(tp, None)
            self.commit_base.pop(tp, None)
            self.released.pop(tp, None)

    def restart(self, positions: Mapping[TP, int]) -> None:
        """Partitions sought to ``positions`` (their committed offsets, or the log start)."""
        for tp, offset in positions.items():
            if self.exempt(tp.topic):
                continue
            self.expected[tp] = offset
            self.commit_base[tp] = offset
            self.refetching.pop(tp, None)
            self.released.pop(tp, None)

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
            if self.commit_base.get(tp) == want:
                self.commit_base[tp] = offset  # nothing there to wait for
        # The next one, the first since an unknown position, or a re-read after a seek back.
        self.expected[tp] = offset + 1
        return None

    def tail_gaps(
        self, positions: Mapping[TP, int], *, interrupted: bool, skip: Container[TP] = ()
    ) -> dict[TP, int]:
        """Partitions whose client position is past the next offset the stream must see, and
        that offset (to seek back to): records fetched and dropped with none after them.

        ``interrupted``: the flow stopped or the generation changed during the batch (the
        only times Faust drops fetched records). A gap left after a seek back by a batch that
        was not interrupted has no records in it (compacted away, or transaction markers):
        the stream goes on from the position, as :meth:`check` does for such a jump.
        ``skip``: partitions already sought back by this batch. Called once per fetch round
        over every assigned partition, so the common case (nothing past) costs one lookup.
        """
        due: dict[TP, int] = {}
        expected = self.expected
        for key, position in positions.items():
            want = expected.get(key)
            if want is None or position <= want or key in skip or self.exempt(key.topic):
                continue
            tp = TP(key.topic, key.partition)  # the client's own tuple type, equal to ours
            if interrupted or self.refetching.get(tp) != want:
                self.refetching[tp] = want
                due[tp] = want
                continue
            log.warning(
                "%s: offsets %d..%d hold no records; going on at %d",
                tp,
                want,
                position - 1,
                position,
            )
            self.refetching.pop(tp, None)
            if self.commit_base.get(tp) == want:
                self.commit_base[tp] = position
            self.expected[tp] = position
        return due

    def release(self, tp: TP, offset: int) -> None:
        """A stream skipped the record at ``offset`` without processing it: read it again."""
        if not self.exempt(tp.topic):
            self.released[tp] = min(offset, self.released.get(tp, offset))

    def rewinds(self) -> dict[TP, int]:
        """Partitions to seek back to a released record (each is returned once).

        A release below the commit base was already re-read and committed since (a seek to the
        committed offsets happened in between)."""
        due = {tp: o for tp, o in self.released.items() if o >= self.commit_base.get(tp, o)}
        self.released.clear()
        for tp, offset in due.items():
            self.expected[tp] = offset
            self.refetching.pop(tp, None)
        return due

    def may_commit(self, tp: TP, acked: list[int], committed: int | None = None) -> bool:
        """Whether the acked offsets start where the last commit ended (none skipped).

        ``committed``: what the group has committed, as Faust knows it. A commit still in flight
        when the partition was sought to the committed offsets lands after the seek: the base
        then lags the committed offset, and Faust no longer records acks below it, so the base
        would wait for them for ever (seen: stalls after kill -9 restarts). What the group has
        committed was processed (every commit passed this check), so the base moves up to it.
        """
        base = self.commit_base.get(tp)
        if base is not None and committed is not None and committed > base:
            self.commit_base[tp] = base = committed
        return base is None or not acked or min(acked) <= base

    def committed(self, tp: TP, offset: int) -> None:
        if not self.exempt(tp.topic):
            self.commit_base[tp] = offset


@dataclass(frozen=True)
class FetchState:
    """What :func:`filtered` reads of the client around a batch."""

    #: The client's position (next offset it returns) per assigned partition.
    positions: Callable[[], Mapping[TP, int]]
    #: A token that changes when the flow stops or the consumer generation changes.
    epoch: Callable[[], object]


async def filtered(
    batch: AsyncIterator[tuple[TP, Any]],
    continuity: Continuity,
    seek: Callable[[TP, int], Awaitable[None]],
    on_refetch: Callable[[TP, int, int], None],
    fetch_state: FetchState | None = None,
) -> AsyncIterator[tuple[TP, Any]]:
    """The records of one fetched ``batch`` the stream may see, seeking back over skips.

    ``fetch_state``: the client's positions after the batch, and a token that changes when the
    flow stops or the generation changes, read before and after it (for
    :meth:`Continuity.tail_gaps`).
    """
    before = fetch_state.epoch() if fetch_state is not None else None
    for tp, offset in continuity.rewinds().items():
        log.warning("%s: record %d was skipped by a stream; reading it again", tp, offset)
        try:
            await seek(tp, offset)
        except Exception:  # revoked meanwhile: the next owner starts from the committed offset
            log.warning("%s: could not seek back to %d", tp, offset, exc_info=True)
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
    if fetch_state is None:
        return
    positions = fetch_state.positions()
    gaps = continuity.tail_gaps(positions, interrupted=fetch_state.epoch() != before, skip=held)
    for tp, offset in gaps.items():
        on_refetch(tp, offset, positions[tp])
        log.warning(
            "%s: offsets %d..%d were dropped by the fetch loop at the end of the partition;"
            " reading them again",
            tp,
            offset,
            positions[tp] - 1,
        )
        try:
            await seek(tp, offset)
        except Exception:  # revoked meanwhile: the next owner starts from the committed offset
            log.warning("%s: could not seek back to %d", tp, offset, exc_info=True)


def client_positions(consumer: Any) -> Mapping[TP, int]:
    """The aiokafka client's position (next offset it returns) per assigned partition; empty
    while it has no assignment. Read from the event loop's thread: plain attribute reads of
    state the client's thread changes only when it returns records or seeks.

    Read once per fetch round over every assigned partition (~150 for one worker), so the
    partition states' fields are read directly: aiokafka's ``all_consumed_offsets`` and a copy
    into Faust's tuples cost ~5% of a live worker's CPU (py-spy at 120 events/s). The keys are
    aiokafka's ``TopicPartition``, a tuple equal to (and hashed as) Faust's ``TP``."""
    client = getattr(getattr(consumer, "_thread", None), "_consumer", None)
    subscription = client._subscription.subscription if client is not None else None
    assignment = subscription.assignment if subscription is not None else None
    if assignment is None:
        return {}
    states = assignment._tp_state
    return {tp: st._position for tp, st in states.items() if st._position is not None}


def is_skipped(app: App, message: Any) -> bool:
    """Whether Faust's stream skipped ``message`` rather than process it.

    The iterator tracks (``message.tracked``) every record of an acking topic it hands to the
    agent, right after its own skip check (flow stopped, another generation); a skipped one is
    never tracked. Re-checking the flow at ack time instead took records processed before a
    rebalance began for skipped ones."""
    return not getattr(message, "tracked", True)


#: Each installed app's bookkeeping: Faust's classes are patched once per process and every
#: patched method looks up the app it runs for, so several apps (tests) stay apart.
_GUARDS: weakref.WeakKeyDictionary[App, _Guard] = weakref.WeakKeyDictionary()


@dataclass
class _Guard:
    continuity: Continuity
    on_refetch: Callable[[TP, int, int], None]


def _guard(app: App) -> _Guard | None:
    return _GUARDS.get(app)


def install(app: App, on_refetch: Callable[[TP, int, int], None]) -> Continuity:
    """Every guard on ``app``; ``on_refetch(tp, missing, seen)`` per seek back."""

    changelogs: tuple[int, frozenset[str]] = (-1, frozenset())

    def is_changelog(topic: str) -> bool:
        """Asked per record: the names are rebuilt only when a table was added (profiled)."""
        nonlocal changelogs
        if changelogs[0] != len(app.tables):
            names = frozenset(t.changelog_topic.get_topic_name() for t in app.tables.values())
            changelogs = (len(app.tables), names)
        return topic in changelogs[1]

    continuity = Continuity(exempt=is_changelog)
    _GUARDS[app] = _Guard(continuity, on_refetch)
    _patch_faust()

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: App, revoked: set[TP], **kwargs: object) -> None:
        continuity.forget(revoked)

    return continuity


@functools.cache
def _patch_faust() -> None:
    """Patch Faust's consumer, its stream's acks and aiokafka's seek, once per process."""
    from faust import streams
    from faust.events import Event
    from faust.transport.consumer import Consumer
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
    from faust.types.tuples import ack_lock
    from mode.utils.futures import notify

    original_seek = AIOKafkaConsumerThread.seek_to_committed

    async def seek_to_committed(self: AIOKafkaConsumerThread) -> Mapping[TP, int]:
        """Every seek to the committed offsets tells continuity where each partition starts.

        aiokafka's ``seek_to_committed`` leaves a partition with nothing committed (or 0)
        where the fetcher was: after a kill -9 a fresh topic's dropped records were then never
        delivered. ``consumer_auto_offset_reset`` is "earliest", so such partitions start
        from the beginning.
        """
        guard = _guard(self.app)
        if guard is None:
            return await original_seek(self)  # type: ignore[no-any-return]
        continuity = guard.continuity
        consumer = self._ensure_consumer()

        async def seek() -> Mapping[TP, int]:
            committed = await consumer.seek_to_committed()
            unset = [
                tp for tp, off in committed.items() if not off and not continuity.exempt(tp.topic)
            ]
            positions = {tp: off for tp, off in committed.items() if off}
            if unset:
                await consumer.seek_to_beginning(*unset)
                positions.update(await consumer.beginning_offsets(unset))
            continuity.restart({TP(tp.topic, tp.partition): off for tp, off in positions.items()})
            return committed  # type: ignore[no-any-return]

        return await self.call_thread(seek)  # type: ignore[no-any-return]

    AIOKafkaConsumerThread.seek_to_committed = seek_to_committed  # type: ignore[method-assign]

    original_getmany = Consumer.getmany

    def getmany(self: Consumer, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        guard = _guard(self.app)
        if guard is None:
            return original_getmany(self, timeout)
        batch = original_getmany(self, timeout)
        continuity, app = guard.continuity, self.app

        state = FetchState(
            positions=lambda: client_positions(self),
            epoch=lambda: (continuity.interruptions, app.consumer_generation_id, self.flow_active),
        )
        return filtered(batch, continuity, self.seek, guard.on_refetch, state)

    Consumer.getmany = getmany  # type: ignore[method-assign,assignment]

    original_stop_flow = Consumer.stop_flow

    def stop_flow(self: Consumer) -> None:
        guard = _guard(self.app)
        if guard is not None:
            guard.continuity.interruptions += 1
        original_stop_flow(self)

    Consumer.stop_flow = stop_flow  # type: ignore[method-assign]

    original_new_offset = Consumer._new_offset

    def _new_offset(self: Consumer, tp: TP) -> int | None:
        guard = _guard(self.app)
        if guard is None:
            return original_new_offset(self, tp)  # type: ignore[no-any-return]
        committed = self._committed_offset.get(tp)
        if not guard.continuity.may_commit(tp, self._acked[tp], committed):
            return None  # the first offset to commit is not processed yet
        offset: int | None = original_new_offset(self, tp)
        if offset is not None:
            guard.continuity.committed(tp, offset)
        return offset

    Consumer._new_offset = _new_offset  # type: ignore[method-assign]

    # Skipped records are released, never acked. Faust's Cython stream iterator inlines the
    # ack, so the pure-Python iterator (whose acks go through ``Event.ack``) is used.
    streams._CStreamIterator = None  # type: ignore[attr-defined]
    original_ack = Event.ack

    def ack(self: Event) -> bool:
        app, message = self.app, self.message
        if _guard(app) is None or not is_skipped(app, message):
            return original_ack(self)
        consumer = app.consumer
        _GUARDS[app].continuity.release(message.tp, message.offset)
        with ack_lock:
            message.acked = True
        consumer._unacked_messages.discard(message)  # type: ignore[attr-defined]
        notify(consumer._waiting_for_ack)  # type: ignore[attr-defined]
        return False

    Event.ack = ack  # type: ignore[method-assign]
