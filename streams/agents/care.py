"""Customer care: segments that move with events, and the follow-up tasks each segment gets.

Two agents (the hops are drawn in ``streams.topics``):

- ``care-intake`` reads our own ``feedback.classified`` back (a complaint category, as the
  rules' ``feedback.is_complaint`` decides) and ``customers.followup-done`` (validated; a
  malformed one is dead-lettered), and re-keys both by customer id with our partitioner onto
  ``<app>-customer-care``, where the insight stage puts each created order and final status.
- ``customer-care`` owns each customer's ``CareState`` (one table record, one write per
  record, so a crash keeps all of a step or none of it): it applies each fact once, moves the
  segment, opens, reminds, escalates and closes follow-up tasks, on its ticks too.

Exactly once per source record: the state holds the highest care-topic and tick offsets it
applied (``by_watermark``: our replay re-sends what that record sent, computed nothing), and
each fact's key with the position of the record it came from (``by_identity``: a re-sent
copy is skipped; a follow-up done sent twice by a producer is dead-lettered).
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime

from faust import StreamT
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import FeedbackClassified, FollowupDone
from streams.app import Worker
from streams.classify import care_flow as flow
from streams.classify.care import CareFact, CareState, Outcome
from streams.classify.ledger import Seen, by_identity, by_watermark
from streams.classify.masking import mask_text
from streams.records import CareInput, Source, Tick
from streams.runtime import offsets
from streams.runtime.deadletters import SOURCE_HEADER, source_of


class CareIntake:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.done = w.topics.followup_done.get_topic_name()

    async def run(self, stream: StreamT[bytes]) -> None:
        w = self.w
        async for event in stream.events():
            if not w.rulebook.ready.is_set():
                await w.rulebook.ready.wait()
            message = event.message
            if message.topic == self.done:
                w.metrics.events_consumed.labels(topic=message.topic).inc()
                await w.deadletters.process(message, self.on_done)
            else:
                await w.deadletters.process(message, self.on_feedback)

    async def on_feedback(self, message: Message) -> None:
        """A complaint, once per feedback downstream (the desk re-publishes on each change)."""
        record = FeedbackClassified.model_validate_json(message.value)  # our own output
        if not self.w.rulebook.current.feedback.is_complaint(record.category):
            return
        fact = CareFact(
            kind="complaint",
            customer_id=record.customer_id,
            occurred_at=record.occurred_at,
            feedback_id=record.feedback_id,
            order_id=record.order_id,
        )
        await send(self.w, fact, source_of(message))

    async def on_done(self, message: Message) -> None:
        w = self.w
        done = await w.deadletters.decode(
            FollowupDone, message, max_bytes=w.settings.max_value_bytes
        )
        if done is None:
            return
        done = done.model_copy(update={"outcome": mask_text(done.outcome)})
        fact = CareFact(
            kind="done", customer_id=done.customer_id, occurred_at=done.occurred_at, done=done
        )
        await send(w, fact, source_of(message))


async def send(w: Worker, fact: CareFact, source: Source) -> None:
    """Onto ``<app>-customer-care`` by customer id; the source in a header (dead letters)."""
    await w.topics.customer_care.send(
        key=fact.customer_id.encode(),
        value=CareInput(fact=fact, source=source),
        headers=[(SOURCE_HEADER, source.model_dump_json().encode())],
    )


class CustomerCare:
    def __init__(self, w: Worker) -> None:
        self.w = w
        self.ticks = w.topics.care_ticks.get_topic_name()
        #: Per partition: (wake-up time, customer id), rebuilt from the table after a move.
        self.heaps: dict[int, list[tuple[float, str]]] = {}
        #: Per partition: tick offset -> customers that tick changed and may be replayed.
        self.replays: dict[int, dict[int, list[str]]] = {}

    async def run(self, stream: StreamT[bytes]) -> None:
        w = self.w
        async for event in stream.events():
            if not w.rulebook.ready.is_set():
                await w.rulebook.ready.wait()
            await w.deadletters.process(event.message, self.dispatch)

    async def dispatch(self, message: Message) -> None:
        if message.topic == self.ticks:
            await self.on_tick(Tick.model_validate_json(message.value), message)
        else:
            await self.on_fact(CareInput.model_validate_json(message.value), message)

    async def on_fact(self, item: CareInput, message: Message) -> None:
        w, table, fact = self.w, self.w.tables.customer_care, item.fact
        rules = w.rulebook.current
        cid, by = fact.customer_id, position(message)
        if fact.kind == "erased":  # tombstone the customer's care state; again on a replay
            if table.get(cid) is not None:
                del table[cid]
            return
        before = table.get(cid) or CareState(customer_id=cid, partition=message.partition)
        if by_watermark(before.last_offset, message.offset) is Seen.REPLAY:
            w.metrics.replayed_events.labels(topic=message.topic).inc()
            await self.publish(flow.replayed(before, by), None)
            return
        seen = by_identity(before.seen.get(fact.key), item.source.position)
        if seen is not Seen.FIRST:  # a copy re-sent upstream: counted from the first
            w.metrics.replayed_events.labels(topic=message.topic).inc()
            if fact.kind == "done" and seen is Seen.DUPLICATE:
                await self.reject(item, "duplicate_event", f"{fact.key} was applied before")
            return
        # ``seen`` keeps where upstream the fact was read (what ``by_identity`` compares).
        source = item.source.position
        try:
            outcome = (
                flow.done(before, fact, by, source=source)
                if fact.kind == "done"
                else flow.apply(before, fact, rules.segments, by, rules.version, source=source)
            )
        except flow.Rejected as exc:
            await self.reject(item, exc.code, exc.reason)
            return
        state = outcome.state.model_copy(update={"last_offset": message.offset})
        table[cid] = state
        self.schedule(state)
        await self.publish(outcome, before)

    async def reject(self, item: CareInput, code: str, reason: str) -> None:
        done = item.fact.done
        await self.w.deadletters.send(
            value=done.model_dump_json().encode() if done else item.fact.model_dump_json().encode(),
            source=item.source,
            code=code,
            reason=reason,
            error_class="FollowupDone",
        )

    async def publish(self, outcome: Outcome, before: CareState | None) -> None:
        """Segment moves, task records and reminders; counted unless a replay (``before``
        None) re-sends them with the same ids."""
        w, m = self.w, self.w.metrics
        for move in outcome.moves:
            await w.topics.segments.send(key=move.customer_id.encode(), value=move)
            if before is not None:
                m.segment_moves.labels(
                    from_segment=move.from_segment or "none", to_segment=move.to_segment
                ).inc()
        for task in outcome.tasks:
            await w.topics.followups.send(key=task.customer_id.encode(), value=task)
            if before is None:
                continue
            was = before.tasks.get(task.task_id)
            status = was.task.status if was is not None else None
            if was is None:
                m.followups_opened.labels(strategy=task.strategy_id).inc()
            if task.status == "done" and status != "done":
                who = "system" if task.done_by == "ordertriage" else "person"
                m.followups_done.labels(strategy=task.strategy_id, by=who).inc()
            elif task.status in ("reminded", "escalated") and status in (None, "open"):
                m.followups_overdue.labels(strategy=task.strategy_id).inc()
        for note in outcome.notes:
            await w.topics.notifications.send(key=(note.customer_id or "").encode(), value=note)
            if before is not None:
                m.notifications.labels(kind=note.kind).inc()

    # --- timers --------------------------------------------------------------------------

    def reset(self) -> None:
        """Partitions moved: rebuild every heap (and the replay index) on its next tick."""
        self.heaps.clear()
        self.replays.clear()

    def wakeup(self, state: CareState) -> float | None:
        due = flow.next_due(state, self.w.rulebook.current.segments)
        return due.timestamp() if due is not None else None

    def schedule(self, state: CareState) -> None:
        when = self.wakeup(state)
        if when is not None and state.partition in self.heaps:
            heapq.heappush(self.heaps[state.partition], (when, state.customer_id))

    def _heap(self, partition: int) -> list[tuple[float, str]]:
        if partition not in self.heaps:
            committed = offsets.committed(self.w.app, self.ticks, partition)
            entries, replays = [], self.replays.setdefault(partition, {})
            for cid, state in list(self.w.tables.customer_care.items()):
                if state.partition != partition:
                    continue
                if (when := self.wakeup(state)) is not None:
                    entries.append((when, cid))
                at = state.last_tick_offset
                if at >= 0 and (committed is None or at >= committed):
                    replays.setdefault(at, []).append(cid)
            heapq.heapify(entries)
            self.heaps[partition] = entries
        return self.heaps[partition]

    async def on_tick(self, tick: Tick, message: Message) -> None:
        """Time-based moves, silences and reminders due by the tick; each once."""
        w, table, partition = self.w, self.w.tables.customer_care, message.partition
        rules, by = w.rulebook.current, position(message)
        heap = self._heap(partition)
        for cid in self.replays.get(partition, {}).pop(message.offset, []):
            state = table.get(cid)
            if state is not None:  # our replay of this tick: what it sent, again
                await self.publish(flow.replayed(state, by), None)
        now = datetime.fromtimestamp(tick.now, UTC)
        while heap and heap[0][0] <= tick.now:
            _, cid = heapq.heappop(heap)
            before = table.get(cid)
            when = self.wakeup(before) if before is not None else None
            if before is None or when is None or when > tick.now:
                if before is not None and when is not None:
                    heapq.heappush(heap, (when, cid))
                continue
            if by_watermark(before.last_tick_offset, message.offset) is Seen.REPLAY:
                continue  # changed by this tick before a crash: re-sent above
            outcome = flow.advance(before, rules.segments, now, by, rules.version)
            state = outcome.state.model_copy(update={"last_tick_offset": message.offset})
            table[cid] = state
            self.schedule(state)
            await self.publish(outcome, before)


def position(message: Message) -> str:
    return f"{message.topic}/{message.partition}/{message.offset}"


def register(w: Worker) -> tuple[CareIntake, CustomerCare]:
    intake, care = CareIntake(w), CustomerCare(w)

    async def care_intake(stream: StreamT[bytes]) -> None:
        await intake.run(stream)

    async def customer_care(stream: StreamT[bytes]) -> None:
        await care.run(stream)

    async def moved(app: object, assigned: set[TP], **kwargs: object) -> None:
        care.reset()

    w.app.agent(w.topics.care_intake, name="care-intake")(care_intake)
    w.app.agent(w.topics.care_stream, name="customer-care")(customer_care)
    w.app.on_partitions_assigned.connect(moved)
    return intake, care
