"""HTTP views on the worker's web server, registered on a worker by ``register``."""

from __future__ import annotations

import logging

from streams import apiauth
from streams.app import Worker
from streams.web import care, feedback, insight, orders, staff

log = logging.getLogger("ordertriage.web")

#: Probes answer anyone: a supervisor has no token, and they say nothing private.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})


def register(w: Worker) -> None:
    # Order views first: ``/orders/overdue`` must win the match over ``/orders/{order_id}``.
    orders.register(w)
    insight.register(w)
    feedback.register(w)  # /feedback/queue before /feedback/{feedback_id}
    staff.register(w)
    care.register(w)
    lock(w)


def lock(w: Worker) -> None:
    """Every route but the probes needs the API token (/metrics its own one when bound wider).

    Resolved here, before the worker starts, so a bad token file stops it with the reason.
    """
    settings = w.settings
    token, source = apiauth.api_token(settings, generate=True)
    guard = apiauth.Guard(
        api=token,
        metrics=apiauth.metrics_token(settings, settings.web_host),
        open_paths=OPEN_PATHS,
    )
    guard.install(w.app.web.web_app)  # type: ignore[attr-defined]

    @w.app.task
    async def announce_token() -> None:
        """Where the token is (never the token), once the worker's logging is set up."""
        log.info(
            "HTTP API: send `Authorization: Bearer <token>`; the token is in %s; /metrics %s",
            source,
            "is open (loopback)" if guard.metrics is None else "needs the metrics token",
        )
