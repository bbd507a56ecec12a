"""Staff KPIs: ``<app>-staff-events`` (keyed by person) -> the staff tables, team metrics.

The stages that see people act (the order book, the feedback desk) send one ``StaffEvent``
per fact with a deterministic id; this agent counts each once into its person (``staff``,
keyed by person id) and its team on this partition (``staff-teams``, ``<partition>/<team>``).
The verdict and both writes are decided by the pure core (``streams.classify.staff.step``).
"""

from __future__ import annotations

from faust import StreamT
from faust.types.tuples import Message

from streams.app import Worker
from streams.classify import staff
from streams.classify.ledger import Seen
from streams.records import StaffEvent


class Staff:
    def __init__(self, w: Worker) -> None:
        self.w = w

    async def run(self, stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await self.w.deadletters.process(event.message, self.count)

    async def count(self, message: Message) -> None:
        tables, partition = self.w.tables, message.partition
        fact = StaffEvent.model_validate_json(message.value)  # our own record
        key = staff.team_key(partition, staff.team_of(fact))
        done = staff.step(
            tables.staff.get(fact.person),
            tables.staff_teams.get(key),
            name=fact.person,
            partition=partition,
            fact=fact,
            offset=message.offset,
        )
        if done.person is not None:
            tables.staff[fact.person] = done.person
            self.observe(fact)
        if done.team is not None:
            tables.staff_teams[key] = done.team
        if done.seen is not Seen.FIRST:
            self.w.metrics.replayed_events.labels(topic=message.topic).inc()

    def observe(self, fact: StaffEvent) -> None:
        """Per team only: a person's id is never a Prometheus label."""
        m, team, seconds = self.w.metrics, staff.team_of(fact), fact.seconds
        kind = fact.kind
        if kind == "status_change":
            m.staff_status_changes.labels(team=team).inc()
        elif kind == "held" and seconds is not None:
            m.staff_hold_seconds.labels(team=team, status=fact.status or "unknown").observe(seconds)
        elif kind == "sla_breach":
            m.staff_sla_breaches.labels(team=team).inc()
        elif kind in ("correction_made", "correction_received"):
            counter = (
                m.staff_corrections_made
                if kind == "correction_made"
                else (m.staff_corrections_received)
            )
            counter.labels(team=team, dimension=fact.dimension or "unknown").inc()
        elif kind in ("feedback_first_response", "feedback_resolved") and seconds is not None:
            step = "first_response" if kind == "feedback_first_response" else "resolution"
            m.staff_feedback_seconds.labels(team=team, step=step).observe(seconds)
        elif kind == "feedback_reopened":
            m.staff_feedback_reopened.labels(team=team).inc()


def register(w: Worker) -> Staff:
    counter = Staff(w)

    async def staff_agent(stream: StreamT[bytes]) -> None:
        await counter.run(stream)

    w.app.agent(w.topics.staff_stream, name="staff")(staff_agent)
    return counter
