"""The feedback desk: each feedback's state, its routing, its clocks, and who answered it.

``feedback-desk`` assigns a feedback once (stored with it, so a replay never assigns again),
publishes ``feedback.classified`` and tells the team, applies status changes and corrections
(re-keyed by ``streams.agents.feedback_intake``) to the response clocks, and sends reminders
and escalations on its ticks. The pure decisions are ``streams.classify.feedback_desk``.
"""

from __future__ import annotations

import heapq
from datetime import UTC, datetime

from faust import StreamT
from faust.types import TP
from faust.types.tuples import Message

from schemas.events import FeedbackClassified, FeedbackCorrection, FeedbackStatus
from schemas.events import FeedbackStatusChanged as StatusChange
from streams.app import Worker
from streams.classify import feedback_desk as desk
from streams.classify.ledger import Seen, by_identity
from streams.records import (
    FeedbackCase,
    FeedbackState,
    FeedbackUpdate,
    StaffEvent,
    StaffKind,
    Tick,
)
from streams.runtime.deadletters import origin_of

#: Status changes a feedback accepts in each status (reopened only after resolved).
ALLOWED = {
    "open": {FeedbackStatus.ACKNOWLEDGED, FeedbackStatus.RESPONDED, FeedbackStatus.RESOLVED},
    "acknowledged": {FeedbackStatus.RESPONDED, FeedbackStatus.RESOLVED},
    "responded": {FeedbackStatus.RESPONDED, FeedbackStatus.RESOLVED},
    "resolved": {FeedbackStatus.REOPENED},
    "reopened": {FeedbackStatus.ACKNOWLEDGED, FeedbackStatus.RESPONDED, FeedbackStatus.RESOLVED},
}


class Desk:
    def __init__(self, w: Worker) -> None:
        self.w = w
        t = w.topics
        self.cases = t.feedback_cases.get_topic_name()
        self.updates = t.feedback_updates.get_topic_name()
        #: Per partition: (wake-up time, feedback id), rebuilt from the table after a move.
        self.heaps: dict[int, list[tuple[float, str]]] = {}

    async def run(self, stream: StreamT[bytes]) -> None:
        w = self.w
        async for event in stream.events():
            if not w.rulebook.ready.is_set():
                await w.rulebook.ready.wait()
            await w.deadletters.process(event.message, self.dispatch)

    async def dispatch(self, message: Message) -> None:
        if message.topic == self.cases:
            await self.on_case(FeedbackCase.model_validate_json(message.value), message.partition)
        elif message.topic == self.updates:
            await self.on_update(FeedbackUpdate.model_validate_json(message.value), message)
        else:
            await self.on_tick(Tick.model_validate_json(message.value), message.partition)

    async def on_case(self, case: FeedbackCase, partition: int) -> None:
        w = self.w
        tables, rules = w.tables, w.rulebook.current
        existing = tables.feedback.get(case.feedback_id)
        if existing is not None:
            if existing.case.event_id == case.event_id:  # our replay, or the same event again
                w.metrics.replayed_events.labels(topic=self.cases).inc()
                await self.publish(existing, announce=True)
                return
            await w.deadletters.send(
                value=case.model_dump_json().encode(),
                source=case.source,
                code="duplicate_feedback",
                reason=f"feedback {case.feedback_id} came before as {existing.case.event_id}",
                error_class="Duplicate",
            )
            return
        fb, decision = rules.feedback, case.decision
        level = desk.priority(fb, decision.category, case.order)
        load_key = f"{partition}/{fb.routing.categories.get(decision.category, '-')}"
        load = tables.feedback_load.get(load_key) or desk.TeamLoad()
        assignment, load_after = desk.route(
            fb,
            case.feedback_id,
            decision.category,
            decision.needs_review,
            decision.language,
            case.customer_id,
            load,
        )
        if load_after is not load:
            tables.feedback_load[load_key] = load_after
        received_at = case.occurred_at
        state = FeedbackState(
            case=case,
            priority=level,
            assignment=assignment,
            partition=partition,
            received_at=received_at,
            clocks=desk.opening_clocks(fb, level, received_at),
        )
        tables.feedback[case.feedback_id] = state
        self.schedule(partition, case.feedback_id, state)
        m = w.metrics
        m.feedback_received.labels(channel=case.channel.value, category=decision.category).inc()
        if decision.needs_review:
            m.feedback_review.inc()
        await self.publish(state, announce=True)

    async def on_update(self, update: FeedbackUpdate, message: Message) -> None:
        w, source = self.w, update.source
        fid = update.feedback_id
        state = w.tables.feedback.get(fid)
        if state is None:
            await self.reject(message, "unknown_feedback", f"no feedback {fid} (never received)")
            return
        seen = by_identity(state.applied.get(update.event_id), source.position)
        if seen is Seen.REPLAY:
            w.metrics.replayed_events.labels(topic=self.updates).inc()
            await self.publish(state, announce=False)
            if update.change is not None:
                await self.tell_staff(state, update.change)
            elif update.correction is not None:
                await self.tell_correction(state, update.correction, earlier=None)
            return
        if seen is Seen.DUPLICATE:
            await self.reject(
                message, "duplicate_event", f"event {update.event_id} was applied before"
            )
            return
        if update.correction is not None:
            await self.on_correction(state, update.correction, source.position, message)
            return
        change = update.change
        assert change is not None
        if change.status not in ALLOWED.get(state.status, set()):
            await self.reject(
                message,
                "invalid_transition",
                f"feedback {fid} is {state.status}; cannot become {change.status.value}",
            )
            return
        state = self.apply(state, change, source.position)
        w.tables.feedback[fid] = state
        self.schedule(state.partition, fid, state)
        await self.publish(state, announce=False)
        await self.tell_staff(state, change)

    async def tell_staff(self, state: FeedbackState, change: StatusChange) -> None:
        """The staff KPI facts of an applied change, keyed by person (the same ids again on a
        replay: the staff agent counts each once). Who resolved it is only certain while this
        change is the feedback's latest, so a replayed reopen sends only then."""
        latest = next(reversed(state.applied), None) == change.event_id
        for credit in desk.credits(
            change.status,
            by=change.changed_by,
            at=change.occurred_at,
            received_at=state.received_at,
            first_response=state.first_response_event == change.event_id,
            resolver=state.resolved_by if latest else None,
        ):
            event = StaffEvent(
                event_id=desk.staff_event_id(change.event_id, credit),
                person=credit.person,
                team=state.assignment.team,
                kind=credit.kind,
                subject=state.case.feedback_id,
                occurred_at=change.occurred_at,
                status=change.status.value,
                seconds=credit.seconds,
            )
            await self.w.topics.staff_events.send(key=credit.person.encode(), value=event)

    async def tell_correction(
        self, state: FeedbackState, correction: FeedbackCorrection, earlier: str | None
    ) -> None:
        """A person's category counts as a correction they made, and as one received by the
        person whose category it replaced (``earlier``; not known again on a replay)."""
        by = correction.corrected_by
        credits: list[tuple[StaffKind, str]] = [("correction_made", by)]
        if earlier is not None and earlier != by:
            credits.append(("correction_received", earlier))
        for kind, person in credits:
            event = StaffEvent(
                event_id=f"{correction.event_id}:{kind}:{person}",
                person=person,
                team=state.assignment.team,
                kind=kind,
                subject=state.case.feedback_id,
                occurred_at=correction.occurred_at,
                dimension="category",
            )
            await self.w.topics.staff_events.send(key=person.encode(), value=event)

    async def on_correction(
        self, state: FeedbackState, correction: FeedbackCorrection, position: str, message: Message
    ) -> None:
        """A person's category: kept with the feedback; a feedback in review is routed by it,
        one in another category's team moves there (its old assignee's load is released)."""
        w, fb = self.w, self.w.rulebook.current.feedback
        if correction.value not in fb.categories:
            await self.reject(
                message,
                "invalid_correction",
                f"{correction.value!r} is not a category; categories are {fb.categories}",
            )
            return
        fid, before = state.case.feedback_id, state.assignment
        team = fb.routing.categories.get(correction.value)
        update: dict[str, object] = {
            "corrected": correction,
            "applied": {**dict(list(state.applied.items())[-31:]), correction.event_id: position},
        }
        moved = team != before.team or (before.team is None and before.assignee is None)
        if moved:
            if before.team is not None and before.assignee is not None:
                key = f"{state.partition}/{before.team}"
                load = w.tables.feedback_load.get(key) or desk.TeamLoad()
                w.tables.feedback_load[key] = load.closed(before.assignee, fid)
            key = f"{state.partition}/{team or '-'}"
            load = w.tables.feedback_load.get(key) or desk.TeamLoad()
            lang, customer = state.case.decision.language, state.case.customer_id
            assignment, after = desk.route(fb, fid, correction.value, False, lang, customer, load)
            if after is not load:
                w.tables.feedback_load[key] = after
            update["assignment"] = assignment.model_copy(
                update={"reason": f"corrected by {correction.corrected_by}: {assignment.reason}"}
            )
        earlier = state.corrected.corrected_by if state.corrected is not None else None
        state = state.model_copy(update=update)
        w.tables.feedback[fid] = state
        await self.publish(state, announce=moved)
        await self.tell_correction(state, correction, earlier)

    def apply(self, state: FeedbackState, change: StatusChange, position: str) -> FeedbackState:
        w, fb = self.w, self.w.rulebook.current.feedback
        at = change.occurred_at
        update: dict[str, object] = {
            "status": change.status.value,
            "changed_by": change.changed_by,
            "clocks": desk.on_status(fb, state.priority, change.status, at, state.clocks),
            "applied": {**dict(list(state.applied.items())[-31:]), change.event_id: position},
        }
        responded = change.status in (FeedbackStatus.ACKNOWLEDGED, FeedbackStatus.RESPONDED)
        if responded and state.first_response_at is None:
            update["first_response_at"] = at
            update["first_response_event"] = change.event_id
            w.metrics.feedback_first_response_seconds.observe(
                max(0.0, (at - state.received_at).total_seconds())
            )
        if change.status is FeedbackStatus.RESOLVED:
            update["resolved_at"] = at
            update["resolved_by"] = change.changed_by
        if change.status is FeedbackStatus.REOPENED:
            # Kept: the reopen counts against the resolver (changed_by: states stored
            # before resolved_by was kept).
            update["resolved_at"] = None
            update["resolved_by"] = state.resolved_by or state.changed_by
        assignee, team = state.assignment.assignee, state.assignment.team
        if assignee is not None and team is not None:
            key = f"{state.partition}/{team}"
            load = w.tables.feedback_load.get(key) or desk.TeamLoad()
            fid = state.case.feedback_id
            after = (
                load.closed(assignee, fid)
                if change.status is FeedbackStatus.RESOLVED
                else load.opened(assignee, fid)
                if change.status is FeedbackStatus.REOPENED
                else load
            )
            if after is not load:
                w.tables.feedback_load[key] = after
        return state.model_copy(update=update)

    async def reject(self, message: Message, code: str, reason: str) -> None:
        update = FeedbackUpdate.model_validate_json(message.value)
        original = update.change or update.correction
        assert original is not None
        await self.w.deadletters.send(
            value=original.model_dump_json().encode(),
            source=origin_of(message),
            code=code,
            reason=reason,
            error_class="FeedbackStatus",
        )

    async def publish(self, state: FeedbackState, *, announce: bool) -> None:
        """``feedback.classified`` (the same record again on a replay: keyed by feedback id)
        and, for a new feedback, the notification to its team or the review queue."""
        w, case = self.w, state.case
        record = classified(state, datetime.now(UTC))
        await w.topics.feedback_classified.send(key=case.feedback_id.encode(), value=record)
        if announce:
            corrected = state.corrected
            n = desk.assigned_notification(
                feedback_id=case.feedback_id,
                event_id=corrected.event_id if corrected else case.event_id,
                order_id=case.order_id,
                category=corrected.value if corrected else case.decision.category,
                confidence=1.0 if corrected else case.decision.confidence,
                level=state.priority,
                assignment=state.assignment,
                rules_version=case.decision.rules_version,
                now=record.classified_at,
            )
            await w.topics.notifications.send(key=case.feedback_id.encode(), value=n)
            w.metrics.notifications.labels(kind=n.kind).inc()

    # --- timers --------------------------------------------------------------------------

    def reset(self) -> None:
        self.heaps.clear()

    def schedule(self, partition: int, feedback_id: str, state: FeedbackState) -> None:
        when = wakeup(state)
        if when is not None and partition in self.heaps:
            heapq.heappush(self.heaps[partition], (when, feedback_id))

    def _heap(self, partition: int) -> list[tuple[float, str]]:
        if partition not in self.heaps:
            entries = [
                (when, fid)
                for fid, state in list(self.w.tables.feedback.items())
                if state.partition == partition and (when := wakeup(state)) is not None
            ]
            heapq.heapify(entries)
            self.heaps[partition] = entries
        return self.heaps[partition]

    async def on_tick(self, tick: Tick, partition: int) -> None:
        """Reminders and escalations due by the tick's time; each step fires once."""
        w, table = self.w, self.w.tables.feedback
        heap, now = self._heap(partition), tick.now
        at = datetime.fromtimestamp(now, UTC)
        routing = w.rulebook.current.feedback.routing
        while heap and heap[0][0] <= now:
            _, fid = heapq.heappop(heap)
            state = table.get(fid)
            when = wakeup(state) if state is not None else None
            if state is None or when is None or when > now:
                if state is not None and when is not None:
                    heapq.heappush(heap, (when, fid))
                continue
            a = state.assignment
            clocks, sent = desk.fire_due(
                state.clocks,
                feedback_id=fid,
                order_id=state.case.order_id,
                level=state.priority,
                team=routing.teams.get(a.team) if a.team else None,
                assignee=a.assignee,
                review_role=routing.review_role,
                rules_version=state.case.decision.rules_version,
                now=at,
            )
            state = state.model_copy(update={"clocks": clocks})
            table[fid] = state
            self.schedule(partition, fid, state)
            for n in sent:
                await w.topics.notifications.send(key=fid.encode(), value=n)
                w.metrics.notifications.labels(kind=n.kind).inc()
                w.metrics.feedback_sla_breaches.labels(clock=n.rule_id or "").inc()


def wakeup(state: FeedbackState) -> float | None:
    times = [t.timestamp() for c in state.clocks if (t := c.next_at) is not None]
    return min(times) if times else None


def classified(state: FeedbackState, at: datetime) -> FeedbackClassified:
    case, d, a, fix = state.case, state.case.decision, state.assignment, state.corrected
    return FeedbackClassified(
        feedback_id=case.feedback_id,
        event_id=case.event_id,
        occurred_at=case.occurred_at,
        classified_at=at,
        customer_id=case.customer_id,
        order_id=case.order_id,
        channel=case.channel,
        category=fix.value if fix else d.category,
        confidence=1.0 if fix else d.confidence,
        needs_review=d.needs_review and fix is None,
        language=d.language,
        scores=d.scores,
        model_version=d.model_version,
        rules_version=d.rules_version,
        reasons=[*d.reasons, f"routing: {a.reason}"],
        shadow_model_version=case.shadow.model_version if case.shadow else None,
        shadow_category=case.shadow.category if case.shadow else None,
        shadow_confidence=case.shadow.confidence if case.shadow else None,
        corrected_by=fix.corrected_by if fix else None,
        model_category=d.category if fix else None,
        priority=state.priority,
        team=a.team,
        assignee=a.assignee,
        status=state.status,
        changed_by=state.changed_by,
    )


def register(w: Worker) -> Desk:
    feedback_desk = Desk(w)

    async def feedback_desk_agent(stream: StreamT[bytes]) -> None:
        await feedback_desk.run(stream)

    async def moved(app: object, assigned: set[TP], **kwargs: object) -> None:
        feedback_desk.reset()

    w.app.agent(w.topics.feedback_stream, name="feedback-desk")(feedback_desk_agent)
    w.app.on_partitions_assigned.connect(moved)
    return feedback_desk
