"""The standard dimensions, one function each; each returns its value and the reason for it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from schemas.events import CustomerSegment, Item, Priority, ValueTier
from streams.classify.rules import ProductTypeMapping, RuleSet


def item_type(item: Item, mappings: list[ProductTypeMapping]) -> str:
    """The rule set's mapping (SKU prefix or item attribute) first, else the item's own type."""
    for m in mappings:
        if m.sku_prefix is not None and item.sku.startswith(m.sku_prefix):
            return m.type
        if m.attribute is not None and str((item.model_extra or {}).get(m.attribute)) == m.equals:
            return m.type
    return item.product_type


def product_types(items: list[Item], rules: RuleSet) -> tuple[list[str], str, str]:
    """All product types, and the primary one: the largest share of the order's value."""
    value: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        value[item_type(item, rules.product_types)] += item.unit_price * item.quantity
    # Ties go to the alphabetically first type, so the answer never depends on item order.
    primary = min(value, key=lambda t: (-value[t], t))
    total = sum(value.values(), Decimal(0))
    share = (value[primary] / total * 100).quantize(Decimal("0.1")) if total else Decimal(100)
    return sorted(value), primary, f"{primary} is {share}% of the item value"


def value_tier(amount: Decimal, currency: str, rules: RuleSet) -> tuple[ValueTier, str]:
    t = rules.value_tiers.for_currency(currency)
    if amount >= t.high:
        return ValueTier.HIGH, f"total {amount} {currency} >= high threshold {t.high}"
    if amount >= t.medium:
        return ValueTier.MEDIUM, f"total {amount} {currency} >= medium threshold {t.medium}"
    return ValueTier.LOW, f"total {amount} {currency} < medium threshold {t.medium}"


def segment(
    *, vip_flag: bool, prior_orders: int, lifetime_spend: Decimal, currency: str, rules: RuleSet
) -> tuple[CustomerSegment, str]:
    """VIP by upstream flag or lifetime spend, else new on the first order, else regular."""
    threshold = rules.vip.for_currency(currency)
    if vip_flag:
        return CustomerSegment.VIP, "flagged vip by the upstream system"
    if lifetime_spend >= threshold:
        return (
            CustomerSegment.VIP,
            f"lifetime spend {lifetime_spend} {currency} >= vip threshold {threshold}",
        )
    if prior_orders == 0:
        return CustomerSegment.NEW, "first order of this customer"
    return (
        CustomerSegment.REGULAR,
        f"{prior_orders} earlier orders, lifetime spend {lifetime_spend} {currency}"
        f" < vip threshold {threshold}",
    )


def priority(tier: ValueTier, seg: CustomerSegment, rules: RuleSet) -> tuple[Priority, str]:
    """The priority matrix's cell for (value tier, segment); rules may raise or set it later."""
    value = rules.priority_matrix[tier][seg]
    return value, f"priority matrix: {tier.value} value, {seg.value} customer -> {value.value}"
