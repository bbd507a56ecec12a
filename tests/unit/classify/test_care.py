"""The pure core of customer care: RFM, segments with hysteresis, strategies, timers, ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from streams.classify import care_flow as flow
from streams.classify.care import CareFact, CareState, Outcome, rfm
from streams.classify.rules import RuleSet, RuleSetError, default_text
from streams.classify.segment_rules import SegmentRules

RULES = RuleSet.default().segments
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def order(oid: str, at: datetime, amount: str = "100", currency: str = "CNY") -> CareFact:
    return CareFact(
        kind="order",
        customer_id="C",
        occurred_at=at,
        order_id=oid,
        amount=Decimal(amount),
        currency=currency,
    )


def fact(kind: str, at: datetime, **fields: str) -> CareFact:
    return CareFact.model_validate({"kind": kind, "customer_id": "C", "occurred_at": at, **fields})


class Run:
    """Feeds facts and ticks to one customer, collecting everything sent."""

    def __init__(self, rules: SegmentRules = RULES) -> None:
        self.rules, self.state, self.n = rules, CareState(customer_id="C", partition=0), 0
        self.out: list[Outcome] = []

    def _keep(self, outcome: Outcome) -> Outcome:
        self.state = outcome.state
        self.out.append(outcome)
        return outcome

    def apply(self, f: CareFact) -> Outcome:
        self.n += 1
        return self._keep(flow.apply(self.state, f, self.rules, f"care/0/{self.n}", "v"))

    def tick(self, at: datetime) -> Outcome:
        self.n += 1
        return self._keep(flow.advance(self.state, self.rules, at, f"ticks/0/{self.n}", "v"))

    @property
    def segments(self) -> list[str]:
        return [m.to_segment for o in self.out for m in o.moves]

    @property
    def tasks(self) -> dict[str, str]:
        return {t.strategy_id: t.status for o in self.out for t in o.tasks}


def test_rfm_keeps_currencies_apart_and_leaves_void_and_old_orders_out() -> None:
    run = Run()
    run.apply(order("A", T0, "100", "CNY"))
    run.apply(order("B", T0 + 10 * DAY, "30", "USD"))
    run.apply(order("C", T0 + 20 * DAY, "50", "CNY"))
    run.apply(fact("status", T0 + 21 * DAY, order_id="C", status="returned"))
    now = T0 + 30 * DAY
    r = rfm(run.state, RULES, now)
    assert r.monetary == {"CNY": Decimal(100), "USD": Decimal(30)}
    # A returned order is no spend and no frequency, but the customer did order (recency).
    assert (r.frequency, r.recency_days, r.mean_gap_days) == (2, 10.0, 10.0)
    later = rfm(run.state, RULES, T0 + 370 * DAY)  # A has left the 365-day window
    assert later.monetary == {"USD": Decimal(30)} and later.frequency == 1


def test_at_risk_follows_the_customers_own_gap_with_a_floor() -> None:
    frequent, rare = Run(), Run()
    for n in range(4):  # an order every 30 days: at risk after 3 x 30 = 90 days
        frequent.apply(order(f"F{n}", T0 + n * 30 * DAY))
    frequent.tick(T0 + 200 * DAY)
    risk = next(m for o in frequent.out for m in o.moves if m.to_segment == "at_risk")
    assert risk.occurred_at == T0 + 90 * DAY + 90 * DAY
    rare.apply(order("R", T0))  # one order: the 45-day floor
    rare.tick(T0 + 44 * DAY)
    assert rare.segments == ["new"]
    rare.tick(T0 + 45 * DAY)
    assert rare.segments == ["new", "at_risk"]


def test_time_moves_do_not_depend_on_the_tick_cadence() -> None:
    daily, once = Run(), Run()
    for run in (daily, once):
        run.apply(order("A", T0))
        run.apply(order("B", T0 + 5 * DAY))
    for d in range(6, 400):
        daily.tick(T0 + d * DAY)
    once.tick(T0 + 399 * DAY)
    moves = [[(m.event_id, m.occurred_at) for o in r.out for m in o.moves] for r in (daily, once)]
    assert moves[0] == moves[1]
    assert daily.segments == ["new", "regular", "at_risk", "dormant"]
    assert moves[0][-1][1] == T0 + 5 * DAY + 180 * DAY


def test_vip_near_the_boundary_does_not_flap() -> None:
    run = Run()
    run.apply(order("A", T0, "100000"))  # reaches vip.enter
    assert run.segments == ["vip"]
    run.apply(fact("status", T0 + DAY, order_id="A", status="cancelled"))  # spend 0 ...
    assert run.segments == ["vip"]  # ... but within the minimum dwell
    for n in range(1, 8):  # spend hovering between leave (80000) and enter (100000)
        run.apply(order(f"B{n}", T0 + n * 5 * DAY, "85000" if n == 1 else "1"))
    assert run.segments == ["vip"]
    for n in range(3, 18):  # small orders keep them active until B1 leaves the window
        run.apply(order(f"S{n}", T0 + n * 20 * DAY, "1"))
    assert run.segments == ["vip"]
    run.tick(T0 + 380 * DAY)  # B1 left: below leave at last
    assert run.segments == ["vip", "regular"]
    assert run.out[-1].moves[0].occurred_at == T0 + 5 * DAY + 365 * DAY


def test_complaints_enter_and_leave_at_risk_through_a_band() -> None:
    run = Run()
    run.apply(order("A", T0))
    for n in range(3):
        run.apply(fact("complaint", T0 + (n + 1) * DAY, feedback_id=f"F{n}"))
    assert run.segments == ["new", "at_risk"]
    assert run.state.risk_cause == "complaints"
    run.tick(T0 + 31 * DAY + timedelta(hours=1))  # F0 left the window: 2 left, above leave=1
    assert run.segments == ["new", "at_risk"]
    run.tick(T0 + 32 * DAY + timedelta(hours=1))  # F1 too: down to 1
    assert run.segments == ["new", "at_risk", "new"]


def test_strategies_open_each_task_once_and_remind_then_escalate() -> None:
    run = Run()
    run.apply(order("A", T0, "150000"))
    run.apply(fact("status", T0 + DAY, order_id="A", status="delivered"))
    assert run.tasks == {}  # a VIP gets no welcome call (the strategy is for `new`)
    run.tick(T0 + 31 * DAY)  # 30 days without an order
    call = next(t for o in run.out for t in o.tasks if t.strategy_id == "vip-account-call")
    assert (call.opened_at, call.due_at) == (T0 + 30 * DAY, T0 + 33 * DAY)
    run.tick(T0 + 34 * DAY)
    assert run.tasks["vip-account-call"] == "reminded"
    run.tick(T0 + 36 * DAY)
    assert run.tasks["vip-account-call"] == "escalated"
    notes = [n for o in run.out for n in o.notes]
    assert [n.recipient_role for n in notes] == ["account_manager", "sales_manager"]
    assert len({t.task_id for o in run.out for t in o.tasks}) == 1


def test_welcome_call_is_due_three_days_after_the_first_delivery() -> None:
    run = Run()
    run.apply(order("A", T0))
    out = run.apply(fact("status", T0 + 2 * DAY, order_id="A", status="delivered"))
    (task,) = out.tasks
    assert (task.strategy_id, task.owner_role, task.due_at) == (
        "welcome-call",
        "sales_rep",
        T0 + 5 * DAY,
    )
    assert flow.next_due(run.state, RULES) == T0 + 5 * DAY  # its reminder is the next timer
    again = run.apply(fact("status", T0 + 3 * DAY, order_id="A", status="completed"))
    assert again.tasks == []  # the first delivery only


def test_ids_are_deterministic_and_a_replay_resends_exactly_what_was_sent() -> None:
    a, b = Run(), Run()
    for run in (a, b):
        run.apply(order("A", T0))
        run.tick(T0 + 50 * DAY)
    ids = [
        [(m.event_id, t.task_id) for o in r.out for m in o.moves for t in o.tasks] for r in (a, b)
    ]
    assert ids[0] == ids[1] and ids[0]
    sent = a.out[-1]
    again = flow.replayed(a.state, "ticks/0/2")
    assert [m.event_id for m in again.moves] == [m.event_id for m in sent.moves]
    assert {t.task_id for t in again.tasks} == {t.task_id for t in sent.tasks}


def test_done_rejects_unknown_and_finished_tasks() -> None:
    run = Run()
    run.apply(order("A", T0))
    run.apply(fact("status", T0 + DAY, order_id="A", status="delivered"))
    tid = run.out[-1].tasks[0].task_id
    done = {"event_id": "d1", "occurred_at": T0 + 2 * DAY, "customer_id": "C", "done_by": "u"}
    closing = fact("done", T0 + 2 * DAY, done={**done, "task_id": tid, "outcome": "ok"})
    state = flow.done(run.state, closing, "care/0/9").state
    assert state.tasks[tid].task.status == "done" and flow.next_due(state, RULES) is not None
    with pytest.raises(flow.Rejected) as finished:
        flow.done(state, closing, "care/0/10")
    assert finished.value.code == "task_done"
    unknown = fact("done", T0, done={**done, "task_id": "nope", "outcome": "ok"})
    with pytest.raises(flow.Rejected) as missing:
        flow.done(state, unknown, "care/0/11")
    assert missing.value.code == "unknown_task"


def test_the_segments_section_is_optional_and_validated() -> None:
    without = RuleSet.from_text(default_text().split("\nsegments:")[0])
    assert without.segments == SegmentRules() and without.version == RuleSet.default().version
    with pytest.raises(RuleSetError, match="leave"):
        RuleSet.from_text("segments: {at_risk: {complaints: {enter: 2, leave: 2}}}")
    with pytest.raises(RuleSetError, match="silence"):
        RuleSet.from_text(
            "segments: {strategies: [{id: x, segment: vip, trigger: no_order, owner: r}]}"
        )
