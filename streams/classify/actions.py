"""People's answers to notifications (``orders.actions``) applied to an order's SLA clocks.

Pure: the worker calls ``apply_action`` with the order's clocks when an ``OrderAction`` for
the order arrives and stores what it returns. An acknowledged (or claimed) SLA notification
stops its clock's escalation ladder: the steps not yet fired never fire. It is the clock the
notification came from that stops, recognised by the notification's cause
(``sla:<sla id>:<started by>:<step>``), so an old link cannot silence a clock that started
later (the order re-entered the status). Applying the same action twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.events import OrderAction
from streams.classify.sla import SlaClock


@dataclass(frozen=True)
class Applied:
    clocks: list[SlaClock]
    #: Ids of the SLAs whose escalation this action stopped (empty: nothing changed).
    stopped: list[str]
    #: Who now owns the order, for a claim; None for an acknowledgement.
    assignee: str | None


def sla_cause(cause_event_id: str) -> tuple[str, str] | None:
    """(sla id, started by) of an SLA notification's cause; None for other notifications."""
    if not cause_event_id.startswith("sla:"):
        return None
    body = cause_event_id[len("sla:") :]
    sla_id, sep, rest = body.partition(":")
    started_by, sep2, step = rest.rpartition(":")
    if not (sep and sep2 and sla_id and started_by and step.isdigit()):
        return None
    return sla_id, started_by


def apply_action(clocks: list[SlaClock], action: OrderAction) -> Applied:
    """The clocks after ``action``: the acknowledged clock's remaining steps are dropped."""
    cause = sla_cause(action.cause_event_id)
    assignee = action.by if action.action == "claim" else None
    if cause is None:
        return Applied(list(clocks), [], assignee)
    out, stopped = [], []
    for clock in clocks:
        if (clock.sla_id, clock.started_by) == cause and clock.fired < len(clock.ladder):
            clock = clock.model_copy(update={"fired": len(clock.ladder)})
            stopped.append(clock.sla_id)
        out.append(clock)
    return Applied(out, stopped, assignee)
