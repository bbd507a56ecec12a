"""Thin agents, one module per stream, registered on a worker by ``register``.

Each agent decodes, calls the pure core (``streams.classify``) and sends; the small modules
beside them hold what an agent delegates (parking, outputs, timers, re-classification).
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.agents import (
    care,
    created,
    customers,
    feedback_desk,
    feedback_intake,
    insight,
    orders,
    staff,
    ticks,
)
from streams.agents.care import CareIntake, CustomerCare
from streams.agents.created import Ingest
from streams.agents.customers import CustomerHistory
from streams.agents.feedback_desk import Desk
from streams.agents.feedback_intake import Intake
from streams.agents.insight import Insight
from streams.agents.orders import OrderBook
from streams.agents.staff import Staff
from streams.app import Worker
from streams.report import job


@dataclass
class Agents:
    """The agents of one worker (tests reach their state through this)."""

    ingest: Ingest
    customers: CustomerHistory
    orders: OrderBook
    insight: Insight
    feedback_intake: Intake
    feedback_desk: Desk
    staff: Staff
    care_intake: CareIntake
    care: CustomerCare


def register(w: Worker) -> Agents:
    """Every agent, timer and task of a worker, on ``w.app``."""
    intake, desk = feedback_intake.register(w), feedback_desk.register(w)
    care_intake, customer_care = care.register(w)
    registered = Agents(
        ingest=created.register(w),
        customers=customers.register(w),
        orders=orders.register(w),
        insight=insight.register(w),
        feedback_intake=intake,
        feedback_desk=desk,
        staff=staff.register(w),
        care_intake=care_intake,
        care=customer_care,
    )
    ticks.register(w, registered.orders.timers, registered.orders.parking)
    job.register(w)
    return registered
