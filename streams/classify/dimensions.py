"""One function per classification dimension; each returns its value and the reason for it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from schemas.events import CustomerSegment, Item, Priority, ValueTier
from streams.classify.config import ClassificationConfig


def product_types(items: list[Item]) -> tuple[list[str], str, str]:
    """All product types, and the primary one: the largest share of the order's value."""
    value: dict[str, Decimal] = defaultdict(Decimal)
    for item in items:
        value[item.product_type] += item.unit_price * item.quantity
    # Ties go to the alphabetically first type, so the answer never depends on item order.
    primary = min(value, key=lambda t: (-value[t], t))
    total = sum(value.values(), Decimal(0))
    share = (value[primary] / total * 100).quantize(Decimal("0.1")) if total else Decimal(100)
    return sorted(value), primary, f"{primary} is {share}% of the item value"


def value_tier(
    amount: Decimal, currency: str, config: ClassificationConfig
) -> tuple[ValueTier, str]:
    t = config.tiers_for(currency)
    if amount >= t.high:
        return ValueTier.HIGH, f"total {amount} {currency} >= high threshold {t.high}"
    if amount >= t.medium:
        return ValueTier.MEDIUM, f"total {amount} {currency} >= medium threshold {t.medium}"
    return ValueTier.LOW, f"total {amount} {currency} < medium threshold {t.medium}"


def priority(tier: ValueTier, segment: CustomerSegment) -> tuple[Priority, str]:
    """P1 = high value and vip; P2 = high value or vip; P3 = medium value; P4 otherwise."""
    high, vip = tier is ValueTier.HIGH, segment is CustomerSegment.VIP
    if high and vip:
        return Priority.P1, "high value and vip customer"
    if high:
        return Priority.P2, "high value"
    if vip:
        return Priority.P2, "vip customer"
    if tier is ValueTier.MEDIUM:
        return Priority.P3, "medium value"
    return Priority.P4, "low value, not vip"


def tags(
    tier: ValueTier,
    segment: CustomerSegment,
    types: list[str],
    items: list[Item],
    config: ClassificationConfig,
) -> tuple[list[str], str]:
    found: dict[str, str] = {}
    if tier is ValueTier.HIGH:
        found["high-value"] = "high value tier"
    if segment is CustomerSegment.VIP:
        found["vip"] = "vip customer"
    if segment is CustomerSegment.NEW:
        found["new-customer"] = "first order"
    quantity = sum(i.quantity for i in items)
    if quantity >= config.bulk_quantity:
        found["bulk"] = f"{quantity} units >= {config.bulk_quantity}"
    if len(types) > 1:
        found["multi-category"] = f"{len(types)} product types"
    reason = "; ".join(f"{k}: {v}" for k, v in sorted(found.items())) or "no tag applies"
    return sorted(found), reason
