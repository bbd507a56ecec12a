"""streams.classify.customers (history per customer) and the segment it implies."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from schemas.events import CustomerSegment, Order
from streams.classify import dimensions
from streams.classify.customers import CustomerSnapshot, CustomerStats, apply_order, counted_at
from streams.classify.rules import RuleSet, VipThresholds
from tests.unit.conftest import DEFAULT_RULES, make_customer, make_order

VIP_AT_1000 = RuleSet(vip=VipThresholds(lifetime_spend=Decimal(1000)))


def segment(
    stats: CustomerStats | None, order: Order, rules: RuleSet = DEFAULT_RULES
) -> tuple[CustomerStats, CustomerSnapshot, CustomerSegment, str]:
    """Count ``order`` in, then segment the customer the way the order book does."""
    after, snap = apply_order(stats, order)
    seg, reason = dimensions.segment(
        vip_flag=order.customer.vip,
        prior_orders=snap.prior_orders,
        lifetime_spend=snap.lifetime_spend,
        currency=order.currency,
        rules=rules,
    )
    return after, snap, seg, reason


def test_first_order_is_new() -> None:
    stats, snap, seg, _ = segment(None, make_order(total="120.00"))
    assert seg is CustomerSegment.NEW
    assert snap.prior_orders == 0
    assert snap.lifetime_spend == Decimal("120.00")
    assert snap.customer_id == "C-1"
    assert stats == CustomerStats(order_count=1, lifetime_spend={"CNY": Decimal("120.00")})


def test_empty_stats_behave_like_none() -> None:
    order = make_order(total="5")
    assert apply_order(CustomerStats(), order) == apply_order(None, order)


def test_third_order_sees_the_first_two() -> None:
    stats: CustomerStats | None = None
    for n, total in enumerate(["100.10", "200.20", "300.30"], start=1):
        stats, snap, seg, reason = segment(stats, make_order(f"SO-{n}", total=total))
    assert snap.prior_orders == 2
    assert seg is CustomerSegment.REGULAR
    assert snap.lifetime_spend == Decimal("600.60")
    assert stats.order_count == 3
    assert "2 earlier orders" in reason


def test_vip_flag_makes_vip_even_on_first_order() -> None:
    order = make_order(total="1", customer=make_customer(vip=True))
    _, snap, seg, _ = segment(None, order)
    assert seg is CustomerSegment.VIP
    assert snap.prior_orders == 0


def test_reaching_the_spend_threshold_makes_vip() -> None:
    stats, _, first, _ = segment(None, make_order(total="600"), VIP_AT_1000)
    assert first is CustomerSegment.NEW
    _, exactly, seg, _ = segment(stats, make_order("SO-2", total="400"), VIP_AT_1000)
    assert seg is CustomerSegment.VIP
    assert exactly.lifetime_spend == Decimal(1000)
    _, _, below, _ = segment(stats, make_order("SO-2", total="399.9999"), VIP_AT_1000)
    assert below is CustomerSegment.REGULAR


def test_single_order_at_threshold_is_vip_not_new() -> None:
    assert segment(None, make_order(total="1000"), VIP_AT_1000)[2] is CustomerSegment.VIP


def test_threshold_per_currency() -> None:
    rules = RuleSet(vip=VipThresholds(by_currency={"USD": Decimal(100)}))
    usd = segment(None, make_order(total="100", currency="USD"), rules)[2]
    cny = segment(None, make_order(total="100", currency="CNY"), rules)[2]
    assert usd is CustomerSegment.VIP
    assert cny is CustomerSegment.NEW


def test_currencies_are_never_summed_together() -> None:
    stats, _, _, _ = segment(None, make_order(total="700", currency="CNY"), VIP_AT_1000)
    usd = make_order("SO-2", total="700", currency="USD")
    stats, snap, seg, _ = segment(stats, usd, VIP_AT_1000)
    assert stats.lifetime_spend == {"CNY": Decimal(700), "USD": Decimal(700)}
    assert snap.lifetime_spend == Decimal(700)
    assert seg is CustomerSegment.REGULAR  # 1400 in total, but never in one currency


def test_stats_are_immutable_inputs() -> None:
    before, _ = apply_order(None, make_order(total="10"))
    apply_order(before, make_order("SO-2", total="20"))
    assert before == CustomerStats(order_count=1, lifetime_spend={"CNY": Decimal(10)})


orders = st.lists(
    st.tuples(
        st.sampled_from(["CNY", "USD", "EUR"]),
        st.decimals(min_value=0, max_value=10**9, places=2),
    ),
    min_size=1,
    max_size=20,
)


@given(orders)
def test_history_counts_orders_and_sums_per_currency(history: list[tuple[str, Decimal]]) -> None:
    stats: CustomerStats | None = None
    expected: dict[str, Decimal] = {}
    for n, (currency, total) in enumerate(history):
        order = make_order(f"SO-{n}", total=total, currency=currency)
        stats, snap = apply_order(stats, order)
        expected[currency] = expected.get(currency, Decimal(0)) + total
        assert snap.prior_orders == n
        assert snap.lifetime_spend == expected[currency]
    assert stats is not None
    assert stats.order_count == len(history)
    assert stats.lifetime_spend == expected


def test_recent_snapshots_stay_until_their_offsets_are_committed() -> None:
    stats, first = apply_order(None, make_order(total="10.00"), offset=4)
    stats, second = apply_order(stats, make_order(total="5.00"), offset=9, committed=4)
    assert stats.last_offset == 9 and set(stats.recent) == {4, 9}
    assert counted_at(stats, 4) == first and counted_at(stats, 9) == second
    assert counted_at(stats, 10) is None  # not counted yet
    stats, _ = apply_order(stats, make_order(total="1.00"), offset=12, committed=10)
    assert set(stats.recent) == {12}  # 4 and 9 can no longer be replayed
    assert CustomerStats.model_validate_json(stats.model_dump_json()) == stats
