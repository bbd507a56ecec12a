"""What one change of an order sends: the classified record and its notifications."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.events import ClassifiedOrder, Status
from streams.app import Worker
from streams.classify import analytics
from streams.classify.notify import notifications
from streams.records import OrderState, StaffEvent


class Outputs:
    def __init__(self, w: Worker) -> None:
        self.w = w

    async def send(
        self,
        after: ClassifiedOrder,
        fired: list[str],
        previous: Status | None,
        timestamp: float | None = None,
    ) -> None:
        """The classified record and the notifications of rules that became true, with metrics.

        The classified record carries ``timestamp``, the input record's: analytics windows are
        keyed by it, so a re-sent copy falls in the window of the first.
        """
        metrics, topics = self.w.metrics, self.w.topics
        now = datetime.now(UTC)
        await topics.classified.send(key=after.order_id.encode(), value=after, timestamp=timestamp)
        if after.cause in ("order-created", "status-changed"):  # events, as the windows count
            for dimension, value in analytics.contributions(after):
                metrics.orders_classified.labels(dimension=dimension, value=value).inc()
            metrics.event_time_lag_seconds.labels(topic=after.cause).observe(
                max(0.0, (now - after.occurred_at).total_seconds())
            )
        sent = notifications(
            after, fired, self.w.rulebook.current, previous_status=previous, now=now
        )
        for notification in sent:
            await topics.notifications.send(key=after.order_id.encode(), value=notification)
            metrics.notifications.labels(kind=notification.kind).inc()

    async def staff(self, events: list[StaffEvent]) -> None:
        """What people did, to the staff KPIs (keyed by person: one worker owns each)."""
        for event in events:
            await self.w.topics.staff_events.send(key=event.person.encode(), value=event)

    async def resend_last(
        self, state: OrderState, event_id: str, previous_status: Status | None
    ) -> None:
        """Re-send what the last change sent, if ``event_id`` was that change (same ids).

        After a crash the state may have been written while its outputs had not left.
        """
        if state.classification.event_id == event_id:
            await self.send(
                state.classification, state.notified, previous_status, state.source_timestamp
            )
            await self.staff(state.staff)
