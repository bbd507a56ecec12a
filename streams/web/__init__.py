"""HTTP views on the worker's web server, registered on a worker by ``register``."""

from __future__ import annotations

from streams.app import Worker
from streams.web import care, feedback, insight, orders, staff


def register(w: Worker) -> None:
    # Order views first: ``/orders/overdue`` must win the match over ``/orders/{order_id}``.
    orders.register(w)
    insight.register(w)
    feedback.register(w)  # /feedback/queue before /feedback/{feedback_id}
    staff.register(w)
    care.register(w)
