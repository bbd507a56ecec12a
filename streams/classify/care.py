"""Customer care: what one customer's care state keeps, their RFM, and how their segment moves.

Pure: the agent (``streams.agents.care``) keeps one ``CareState`` per customer in the
``customer-care`` table and calls ``apply`` for each fact (an order, a delivery or other final
status, a complaint, a follow-up done) and ``advance`` on its ticks (time-based moves,
follow-up triggers, reminders). Both are deterministic functions of the state, the rules and
the fact or time, so a replay computes the same moves with the same ids.

Hysteresis: VIP is entered at ``vip.enter`` and left only below ``vip.leave`` and after
``vip.min_dwell``; complaint-driven at_risk is entered at ``complaints.enter`` and left at
``complaints.leave``; at_risk and dormant are left only by an order (to won_back). Time-based
moves happen at the instant they became true (``last order + threshold``), not at the tick
that noticed them, so their ids and times do not depend on the tick cadence.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import (
    CareSegment,
    FollowupDone,
    FollowupTask,
    Notification,
    Rfm,
    SegmentChanged,
)
from streams.classify.segment_rules import SegmentRules

_NAMESPACE = uuid.UUID("3b0d6c1e-2f4a-4c8e-9a57-637573746361")
#: Bounds: ids remembered for dedupe, orders and complaints kept for the windows.
MAX_SEEN = 256
MAX_ORDERS = 100
MAX_COMPLAINTS = 50
#: Statuses that finish an order for care: a delivery, or one that voids its spend.
DELIVERED = frozenset({"delivered", "completed"})
VOID = frozenset({"cancelled", "returned"})
FINAL = DELIVERED | VOID
DAY = 86400.0


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CareFact(_Frozen):
    """One thing care learns about a customer (``key``: counted once per key)."""

    #: ``erased``: the customer was erased (``ordertriage privacy erase``): forget them.
    kind: Literal["order", "status", "complaint", "done", "erased"]
    customer_id: str
    occurred_at: datetime
    order_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    status: str | None = None
    feedback_id: str | None = None
    done: FollowupDone | None = None

    @property
    def key(self) -> str:
        if self.kind == "order":
            return f"order:{self.order_id}"
        if self.kind == "status":
            return f"status:{self.order_id}:{self.status}"
        if self.kind == "complaint":
            return f"complaint:{self.feedback_id}"
        if self.kind == "erased":
            return f"erased:{self.occurred_at.isoformat()}"
        assert self.done is not None
        return f"done:{self.done.event_id}"


class OrderSeen(_Frozen):
    order_id: str
    at: datetime
    amount: Decimal
    currency: str
    void: bool = False


class Move(_Frozen):
    """A segment change, kept with the position of the record that made it (re-sent on its
    replay)."""

    event: SegmentChanged
    by: str


class Task(_Frozen):
    """A follow-up task as published, the position that last changed it, what it sent then."""

    task: FollowupTask
    by: str
    notes: list[Notification] = Field(default_factory=list)
    escalate_to: str | None = None
    escalate_after_s: float = 0.0


class CareState(_Frozen):
    customer_id: str
    partition: int
    segment: CareSegment | None = None
    since: datetime | None = None
    risk_cause: Literal["silence", "complaints"] | None = None
    moves: int = 0
    history: list[Move] = Field(default_factory=list)
    order_count: int = 0
    orders: list[OrderSeen] = Field(default_factory=list)
    last_order_at: datetime | None = None
    first_delivery_at: datetime | None = None
    complaints: list[datetime] = Field(default_factory=list)
    #: Fact key -> position of the upstream record it came from (``ledger.by_identity``: a copy
    #: insight or the intake re-sends comes from the same one; a producer's re-send does not).
    seen: dict[str, str] = Field(default_factory=dict)
    tasks: dict[str, Task] = Field(default_factory=dict)
    evaluated_at: datetime | None = None
    #: Highest offset applied of the care topic / of the care ticks topic (our replays).
    last_offset: int = -1
    last_tick_offset: int = -1


class Outcome(_Frozen):
    state: CareState
    moves: list[SegmentChanged] = Field(default_factory=list)
    tasks: list[FollowupTask] = Field(default_factory=list)
    notes: list[Notification] = Field(default_factory=list)


# --- RFM ---------------------------------------------------------------------------------------


def live_orders(state: CareState) -> list[OrderSeen]:
    return sorted((o for o in state.orders if not o.void), key=lambda o: (o.at, o.order_id))


def mean_gap(state: CareState) -> timedelta | None:
    orders = live_orders(state)
    if len(orders) < 2:
        return None
    return (orders[-1].at - orders[0].at) / (len(orders) - 1)


def monetary(state: CareState, rules: SegmentRules, at: datetime) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for o in live_orders(state):
        if at - rules.window < o.at <= at:
            out[o.currency] = out.get(o.currency, Decimal(0)) + o.amount
    return dict(sorted(out.items()))


def rfm(state: CareState, rules: SegmentRules, at: datetime) -> Rfm:
    last, gap = state.last_order_at, mean_gap(state)
    silent = None if last is None else max(0.0, (at - last).total_seconds())
    return Rfm(
        recency_days=None if silent is None else round(silent / DAY, 3),
        frequency=sum(1 for o in live_orders(state) if at - rules.window < o.at <= at),
        monetary=monetary(state, rules, at),
        mean_gap_days=None if gap is None else round(gap.total_seconds() / DAY, 3),
    )


def at_risk_after(state: CareState, rules: SegmentRules) -> timedelta:
    gap = mean_gap(state)
    usual = gap * rules.at_risk.gap_multiple if gap is not None else timedelta(0)
    return max(rules.at_risk.floor, usual)


def dormant_after(state: CareState, rules: SegmentRules) -> timedelta:
    gap = mean_gap(state)
    usual = gap * rules.dormant.gap_multiple if gap is not None else timedelta(0)
    return max(rules.dormant.after, usual)


def complaints_in_window(state: CareState, rules: SegmentRules, at: datetime) -> int:
    window = rules.at_risk.complaints.window
    return sum(1 for c in state.complaints if at - window < c <= at)


# --- segments ----------------------------------------------------------------------------------


def base_segment(state: CareState, rules: SegmentRules, at: datetime) -> tuple[CareSegment, str]:
    """vip, new or regular: what the customer is when neither at risk, dormant nor won back."""
    spend, vip = monetary(state, rules, at), rules.vip
    if state.segment == "vip" and state.since is not None:
        held = [c for c, a in spend.items() if a >= vip.leave.for_currency(c)]
        if held:
            return "vip", f"spend {spend[held[0]]} {held[0]} in the window holds vip"
        if at < state.since + vip.min_dwell:
            return "vip", "within vip's minimum dwell"
    else:
        entered = [c for c, a in spend.items() if a >= vip.enter.for_currency(c)]
        if entered:
            c = entered[0]
            return "vip", f"spend {spend[c]} {c} in the window >= {vip.enter.for_currency(c)}"
    if state.order_count < rules.regular_after_orders:
        return "new", f"{state.order_count} order(s)"
    return "regular", f"{state.order_count} orders"


Trigger = Literal["order", "complaint", "time"]


def decide(
    state: CareState, rules: SegmentRules, at: datetime, trigger: Trigger
) -> tuple[CareSegment, str, Literal["silence", "complaints"] | None] | None:
    """The segment the customer moves to at ``at`` (with why), or None to stay."""
    cur, last = state.segment, state.last_order_at
    if state.order_count == 0:  # no segment before the first order (complaints still count)
        return None
    if trigger == "order" and cur in ("at_risk", "dormant"):
        return "won_back", f"an order after {cur}", None
    if last is not None:
        silent = at - last
        if cur != "dormant" and silent >= dormant_after(state, rules):
            return "dormant", f"no order for {silent.days} days", None
        risk = at_risk_after(state, rules)
        if cur not in ("at_risk", "dormant") and silent >= risk:
            why = f"no order for {silent.days} days (at risk after {risk.days})"
            return "at_risk", why, "silence"
    complaints = rules.at_risk.complaints
    n = complaints_in_window(state, rules, at)
    if trigger == "complaint" and cur not in ("at_risk", "dormant") and n >= complaints.enter:
        return "at_risk", f"{n} complaints in {complaints.window.days} days", "complaints"
    if cur == "at_risk" and state.risk_cause == "complaints" and n <= complaints.leave:
        segment, why = base_segment(state, rules, at)
        return segment, f"complaints down to {n}; {why}", None
    if cur in ("at_risk", "dormant"):
        return None
    if cur == "won_back":
        assert state.since is not None
        if at < state.since + rules.won_back_dwell:
            return None
    segment, why = base_segment(state, rules, at)
    return None if segment == cur else (segment, why, None)


def event_id(customer_id: str, seq: int, to: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"segment:{customer_id}:{seq}:{to}"))


def move(
    state: CareState,
    rules: SegmentRules,
    at: datetime,
    to: tuple[CareSegment, str, Literal["silence", "complaints"] | None],
    by: str,
    rules_version: str,
) -> tuple[CareState, SegmentChanged]:
    segment, reason, cause = to
    seq = state.moves + 1
    changed = SegmentChanged(
        event_id=event_id(state.customer_id, seq, segment),
        customer_id=state.customer_id,
        from_segment=state.segment,
        to_segment=segment,
        reason=reason,
        rfm=rfm(state, rules, at),
        occurred_at=at,
        rules_version=rules_version,
    )
    history = [*state.history, Move(event=changed, by=by)][-rules.history :]
    state = state.model_copy(
        update={
            "segment": segment,
            "since": at,
            "risk_cause": cause,
            "moves": seq,
            "history": history,
        }
    )
    return state, changed


# --- facts -------------------------------------------------------------------------------------


def absorb(state: CareState, fact: CareFact, position: str) -> CareState:
    """The fact counted into the state (the caller has checked it is new); ``position``: where
    upstream it was read, kept in ``seen``."""
    seen = dict([*list(state.seen.items())[-(MAX_SEEN - 1) :], (fact.key, position)])
    update: dict[str, object] = {"seen": seen}
    if fact.kind == "order":
        assert fact.order_id and fact.amount is not None and fact.currency
        order = OrderSeen(
            order_id=fact.order_id, at=fact.occurred_at, amount=fact.amount, currency=fact.currency
        )
        update["orders"] = [*state.orders, order][-MAX_ORDERS:]
        update["order_count"] = state.order_count + 1
        last = state.last_order_at
        update["last_order_at"] = fact.occurred_at if last is None else max(last, fact.occurred_at)
    elif fact.kind == "status" and fact.status in VOID:
        update["orders"] = [
            o.model_copy(update={"void": True}) if o.order_id == fact.order_id else o
            for o in state.orders
        ]
    elif fact.kind == "complaint":
        update["complaints"] = sorted([*state.complaints, fact.occurred_at])[-MAX_COMPLAINTS:]
    return state.model_copy(update=update)
