"""The ``segments:`` section of the rules file: care segments, their hysteresis, the strategies.

Parsed as part of :class:`streams.classify.rules.RuleSet`. Every field has a default, so a rules
file written before customer care loads unchanged (and keeps its version: see ``RuleSet``).
Care segments are decided per customer as events happen (``streams.classify.care``); the
order classification's ``customer_segment`` (vip/new/regular per order) is a separate thing.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.events import CareSegment
from streams.classify.sla import Duration


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Spend(_Strict):
    """An amount per currency (never converted): ``default`` for currencies not listed."""

    default: Decimal = Field(gt=0)
    by_currency: dict[str, Decimal] = Field(default_factory=dict)

    def for_currency(self, currency: str) -> Decimal:
        return self.by_currency.get(currency, self.default)


class Vip(_Strict):
    """VIP by spend in the window: enter at ``enter``, leave only below ``leave`` in every
    currency, and not before ``min_dwell`` in the segment (the hysteresis band)."""

    enter: Spend = Spend(default=Decimal(100000))
    leave: Spend = Spend(default=Decimal(80000))
    min_dwell: Duration = timedelta(days=30)

    @model_validator(mode="after")
    def _band(self) -> Vip:
        currencies = {"*", *self.enter.by_currency, *self.leave.by_currency}
        for c in currencies:
            enter = self.enter.default if c == "*" else self.enter.for_currency(c)
            leave = self.leave.default if c == "*" else self.leave.for_currency(c)
            if leave > enter:
                raise ValueError(f"vip.leave ({leave}) must not exceed vip.enter ({enter}) for {c}")
        return self


class Complaints(_Strict):
    """``enter`` complaints within ``window`` make a customer at_risk when the last arrives;
    they leave it (back to their base segment) once at most ``leave`` are left in the window."""

    enter: int = Field(default=3, ge=1)
    leave: int = Field(default=1, ge=0)
    window: Duration = timedelta(days=30)

    @model_validator(mode="after")
    def _band(self) -> Complaints:
        if self.leave >= self.enter:
            raise ValueError(f"complaints.leave ({self.leave}) must be below enter ({self.enter})")
        return self


class AtRisk(_Strict):
    """No order for ``gap_multiple`` times the customer's own mean gap between orders, and
    never sooner than ``floor`` (a one-order customer: ``floor``)."""

    gap_multiple: float = Field(default=3.0, ge=1.0)
    floor: Duration = timedelta(days=45)
    complaints: Complaints = Complaints()


class Dormant(_Strict):
    """No order for ``after`` (also ``gap_multiple`` x mean gap if that is longer)."""

    after: Duration = timedelta(days=180)
    gap_multiple: float = Field(default=6.0, ge=1.0)


Trigger = Literal["entered", "first_delivery", "no_order"]


class Strategy(_Strict):
    """A follow-up task per ``segment`` and ``trigger``: ``entered`` (the customer entered the
    segment), ``first_delivery`` (their first order was delivered while in it) or ``no_order``
    (no order for ``silence`` while in it). The task is due ``after`` the trigger; reminded to
    ``owner`` when overdue, escalated to ``escalate_to`` ``escalate_after`` later."""

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    segment: CareSegment
    # Not ``on``: YAML 1.1 reads a bare ``on`` key as ``true``.
    trigger: Trigger = "entered"
    silence: Duration | None = None
    after: Duration = timedelta(days=1)
    owner: str = Field(min_length=1, description="role that does it")
    escalate_to: str | None = Field(default=None, min_length=1)
    escalate_after: Duration = timedelta(days=2)

    @model_validator(mode="after")
    def _silence(self) -> Strategy:
        if (self.trigger == "no_order") != (self.silence is not None):
            raise ValueError("give silence exactly when trigger is no_order")
        return self


def _strategies() -> list[Strategy]:
    days = timedelta(days=1)
    return [
        Strategy(
            id="welcome-call",
            description="A welcome call 3 days after the first delivery.",
            segment="new",
            trigger="first_delivery",
            after=3 * days,
            owner="sales_rep",
            escalate_to="sales_manager",
        ),
        Strategy(
            id="vip-account-call",
            description="The account manager calls a VIP with no order for 30 days.",
            segment="vip",
            trigger="no_order",
            silence=30 * days,
            after=3 * days,
            owner="account_manager",
            escalate_to="sales_manager",
        ),
        Strategy(
            id="win-back-offer",
            description="A win-back offer to an at-risk customer.",
            segment="at_risk",
            after=2 * days,
            owner="retention_team",
            escalate_to="sales_manager",
        ),
        Strategy(
            id="reactivation-mail",
            description="A reactivation mail to a dormant customer.",
            segment="dormant",
            after=7 * days,
            owner="marketing",
        ),
    ]


class SegmentRules(_Strict):
    window: Duration = Field(
        default=timedelta(days=365), description="frequency and monetary are counted over this"
    )
    regular_after_orders: int = Field(default=2, ge=2)
    vip: Vip = Vip()
    at_risk: AtRisk = AtRisk()
    dormant: Dormant = Dormant()
    won_back_dwell: Duration = Field(
        default=timedelta(days=30), description="won_back lasts this long, then the base segment"
    )
    history: int = Field(default=20, ge=1, le=200, description="segment moves kept per customer")
    strategies: list[Strategy] = Field(default_factory=_strategies)

    @model_validator(mode="after")
    def _consistent(self) -> SegmentRules:
        ids = [s.id for s in self.strategies]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"strategy id {twice[0]!r} is used twice")
        if self.dormant.after <= self.at_risk.floor:
            raise ValueError("dormant.after must be longer than at_risk.floor")
        return self
