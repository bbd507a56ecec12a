"""streams.classify.dimensions: value tier, priority, product types; default tag rules."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from schemas.events import CustomerSegment, Item, Priority, ValueTier
from streams.classify import dimensions
from streams.classify.rules import ProductTypeMapping, RuleSet, TierThresholds, ValueTiers
from tests.unit.conftest import DEFAULT_RULES, classify, make_customer, make_item, make_order

TIER_RANK = {ValueTier.LOW: 0, ValueTier.MEDIUM: 1, ValueTier.HIGH: 2}
PRIORITY_RANK = {Priority.P1: 1, Priority.P2: 2, Priority.P3: 3, Priority.P4: 4}

amounts = st.decimals(min_value=0, max_value=10**12, places=4)
positive = st.decimals(min_value=Decimal("0.0001"), max_value=10**9, places=4)
currencies = st.sampled_from(["CNY", "USD", "EUR", "JPY"])
items = st.builds(
    make_item,
    product_type=st.sampled_from(["computers", "electronics", "furniture", "groceries"]),
    unit_price=st.decimals(min_value=Decimal("0.01"), max_value=10**5, places=2),
    quantity=st.integers(min_value=1, max_value=100),
)
item_lists = st.lists(items, min_size=1, max_size=8)


@st.composite
def configs(draw: st.DrawFn) -> RuleSet:
    a, b = draw(positive), draw(positive)
    assume(a != b)
    thresholds = TierThresholds(high=max(a, b), medium=min(a, b))
    if draw(st.booleans()):
        return RuleSet(value_tiers=ValueTiers(default=thresholds))
    return RuleSet(value_tiers=ValueTiers(by_currency={draw(currencies): thresholds}))


@given(amounts, amounts, currencies, configs())
def test_larger_amount_never_gets_lower_tier(
    a: Decimal, b: Decimal, currency: str, config: RuleSet
) -> None:
    low, high = sorted([a, b])
    tier_low, _ = dimensions.value_tier(low, currency, config)
    tier_high, _ = dimensions.value_tier(high, currency, config)
    assert TIER_RANK[tier_low] <= TIER_RANK[tier_high]


@pytest.mark.parametrize(
    ("amount", "tier"),
    [
        ("0", ValueTier.LOW),
        ("999.9999", ValueTier.LOW),
        ("1000", ValueTier.MEDIUM),
        ("1000.00", ValueTier.MEDIUM),
        ("9999.9999", ValueTier.MEDIUM),
        ("10000", ValueTier.HIGH),
        ("10000.0001", ValueTier.HIGH),
    ],
)
def test_default_tier_boundaries(amount: str, tier: ValueTier) -> None:
    got, reason = dimensions.value_tier(Decimal(amount), "CNY", DEFAULT_RULES)
    assert got is tier
    assert amount in reason


def test_tier_override_applies_to_its_currency_only() -> None:
    config = RuleSet(
        value_tiers=ValueTiers(
            by_currency={"USD": TierThresholds(high=Decimal(1500), medium=Decimal(150))}
        )
    )
    assert dimensions.value_tier(Decimal(1500), "USD", config)[0] is ValueTier.HIGH
    assert dimensions.value_tier(Decimal(1500), "CNY", config)[0] is ValueTier.MEDIUM
    assert dimensions.value_tier(Decimal(149), "USD", config)[0] is ValueTier.LOW


def expected_priority(tier: ValueTier, segment: CustomerSegment) -> Priority:
    high, vip = tier is ValueTier.HIGH, segment is CustomerSegment.VIP
    if high and vip:
        return Priority.P1
    if high != vip:
        return Priority.P2
    if tier is ValueTier.MEDIUM:
        return Priority.P3
    return Priority.P4


@pytest.mark.parametrize(("tier", "segment"), list(itertools.product(ValueTier, CustomerSegment)))
def test_priority_matrix(tier: ValueTier, segment: CustomerSegment) -> None:
    got, reason = dimensions.priority(tier, segment, DEFAULT_RULES)
    assert got is expected_priority(tier, segment)
    assert reason


@pytest.mark.parametrize("segment", list(CustomerSegment))
@pytest.mark.parametrize("tier", list(ValueTier))
def test_priority_never_worse_when_tier_rises_or_vip(
    tier: ValueTier, segment: CustomerSegment
) -> None:
    rank = PRIORITY_RANK[dimensions.priority(tier, segment, DEFAULT_RULES)[0]]
    for higher in ValueTier:
        if TIER_RANK[higher] >= TIER_RANK[tier]:
            assert PRIORITY_RANK[dimensions.priority(higher, segment, DEFAULT_RULES)[0]] <= rank
    assert PRIORITY_RANK[dimensions.priority(tier, CustomerSegment.VIP, DEFAULT_RULES)[0]] <= rank


def value_by_type(order_items: list[Item]) -> dict[str, Decimal]:
    value: dict[str, Decimal] = {}
    for item in order_items:
        value[item.product_type] = (
            value.get(item.product_type, Decimal(0)) + item.unit_price * item.quantity
        )
    return value


@given(item_lists, st.data())
def test_primary_type_is_largest_share_and_order_independent(
    order_items: list[Item], data: st.DataObject
) -> None:
    types, primary, reason = dimensions.product_types(order_items, DEFAULT_RULES)
    value = value_by_type(order_items)
    assert value[primary] == max(value.values())
    assert primary == min(t for t in value if value[t] == value[primary])
    assert types == sorted(set(types)) == sorted(value)
    assert reason.startswith(primary)
    shuffled = data.draw(st.permutations(order_items))
    assert dimensions.product_types(shuffled, DEFAULT_RULES) == (types, primary, reason)


def test_primary_type_by_value_not_by_count() -> None:
    order_items = [
        make_item("groceries", "10.00", quantity=30),
        make_item("computers", "7800.00"),
        make_item("groceries", "5.00", quantity=2),
    ]
    types, primary, reason = dimensions.product_types(order_items, DEFAULT_RULES)
    assert types == ["computers", "groceries"]
    assert primary == "computers"
    assert reason == "computers is 96.2% of the item value"


def test_primary_type_tie_goes_to_alphabetically_first() -> None:
    order_items = [make_item("software", "50"), make_item("furniture", "25", quantity=2)]
    assert dimensions.product_types(order_items, DEFAULT_RULES)[1] == "furniture"
    assert dimensions.product_types(order_items[::-1], DEFAULT_RULES)[1] == "furniture"


@given(item_lists, st.booleans(), st.integers(min_value=0, max_value=3))
def test_default_tag_rules_fire_iff_their_condition_holds(
    order_items: list[Item], vip: bool, earlier: int
) -> None:
    order = make_order(items=order_items, customer=make_customer(vip=vip))
    stats = None
    if earlier:
        from streams.classify.customers import CustomerStats

        stats = CustomerStats(order_count=earlier)
    record = classify(order, stats=stats)
    expected = {
        "high-value": record.value_tier is ValueTier.HIGH,
        "vip": record.customer_segment is CustomerSegment.VIP,
        "new-customer": record.customer_segment is CustomerSegment.NEW,
        "bulk": sum(i.quantity for i in order_items) >= 50,
        "multi-category": len({i.product_type for i in order_items}) > 1,
    }
    assert record.tags == sorted(tag for tag, holds in expected.items() if holds)
    for tag in record.tags:
        assert f"{tag}: rule " in record.reasons["tags"]


def test_bulk_boundary_is_inclusive() -> None:
    at = make_order(items=[make_item(quantity=30), make_item(quantity=20)])
    below = make_order(items=[make_item(quantity=49)])
    assert "bulk" in classify(at).tags
    assert "bulk" not in classify(below).tags
    assert classify(at).reasons["rule:bulk"] == "quantity >= 50 (quantity=50)"


def test_product_type_mapping_by_sku_prefix_and_attribute() -> None:
    rules = RuleSet(
        product_types=[
            ProductTypeMapping(sku_prefix="SUB-", type="subscription"),
            ProductTypeMapping(attribute="category", equals="tv", type="electronics"),
        ]
    )
    tv = Item.model_validate(
        {"sku": "X-1", "product_type": "misc", "quantity": 1, "unit_price": "10", "category": "tv"}
    )
    sub = make_item("software", "50", sku="SUB-9")
    other = make_item("furniture", "1")
    types, primary, _ = dimensions.product_types([tv, sub, other], rules)
    assert types == ["electronics", "furniture", "subscription"]
    assert primary == "subscription"
