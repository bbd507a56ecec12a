"""Replay recorded order events through a rule set, and compare two rule sets' outcomes.

This is what ``ordertriage rules diff`` runs: the same core as the live agents, on a list of
events, with no Kafka and no state outside this process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import (
    ClassifiedOrder,
    OrderCorrection,
    OrderCreated,
    StatusCategory,
    StatusChanged,
)
from streams.classify.corrections import check, override, shown
from streams.classify.customers import CustomerStats, apply_order
from streams.classify.engine import classify_created, classify_status_change
from streams.classify.facts import OrderFacts
from streams.classify.lifecycle import InvalidTransition
from streams.classify.rules import RuleSet

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPEN = (StatusCategory.NEW, StatusCategory.IN_PROGRESS)


@dataclass
class Replay:
    """Final classification per order after replaying events, plus what was refused."""

    rules: RuleSet
    orders: dict[str, ClassifiedOrder] = field(default_factory=dict)
    facts: dict[str, OrderFacts] = field(default_factory=dict)
    customers: dict[str, CustomerStats] = field(default_factory=dict)
    parked: dict[str, list[StatusChanged]] = field(default_factory=dict)
    refused: int = 0
    #: (order id, dimension) -> the value the latest correction gave: what the score is
    #: against. Never applied here: the replay shows what the rules alone decide.
    corrections: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, event: OrderCreated | StatusChanged | OrderCorrection) -> None:
        if isinstance(event, OrderCreated):
            self._created(event)
        elif isinstance(event, OrderCorrection):
            self._correction(event)
        else:
            self._status(event)

    def _created(self, event: OrderCreated) -> None:
        order = event.order
        if order.order_id in self.orders:
            self.refused += 1
            return
        cid = order.customer.customer_id
        self.customers[cid], snapshot = apply_order(self.customers.get(cid), order)
        facts = OrderFacts.of(event, snapshot)
        self.facts[order.order_id] = facts
        self.orders[order.order_id] = classify_created(
            facts, self.rules, event_id=event.event_id, occurred_at=event.occurred_at, now=EPOCH
        ).classification
        for change in sorted(self.parked.pop(order.order_id, []), key=lambda c: c.occurred_at):
            self._status(change)

    def _correction(self, event: OrderCorrection) -> None:
        """Kept as the worker keeps it: for a known order, within the rules' vocabulary."""
        facts = self.facts.get(event.order_id)
        if facts is None or check(event, self.rules, facts.items) is not None:
            self.refused += 1
            return
        self.corrections[(event.order_id, event.dimension.value)] = override(event).shown or "-"

    def _status(self, change: StatusChanged) -> None:
        current = self.orders.get(change.order_id)
        if current is None:
            self.parked.setdefault(change.order_id, []).append(change)
            return
        try:
            self.orders[change.order_id] = classify_status_change(
                current, self.facts[change.order_id], change, self.rules, now=EPOCH
            ).classification
        except InvalidTransition:
            self.refused += 1


def replay(
    events: Iterable[OrderCreated | StatusChanged | OrderCorrection], rules: RuleSet
) -> Replay:
    result = Replay(rules)
    for event in events:
        result.add(event)
    return result


class Change(BaseModel):
    model_config = ConfigDict(frozen=True)

    order_id: str
    open: bool = Field(description="still open: a publish reclassifies it live")
    old: str
    new: str


class DimensionDiff(BaseModel):
    dimension: str
    changed: int
    changed_open: int
    examples: list[Change]


class RulesDiff(BaseModel):
    """How ``new`` would classify the replayed orders differently from ``old``."""

    old_version: str
    new_version: str
    orders: int
    open_orders: int
    refused_events: int
    dimensions: list[DimensionDiff]
    notifications_on_publish: int = Field(
        description="notifications a publish would send now (open orders, rules newly true)"
    )
    notification_examples: list[Change]
    corrections: CorrectionScore | None = Field(
        default=None, description="the new rules against people's corrections, when recorded"
    )


class CorrectionScore(BaseModel):
    """How each rule set fares against what people said (``orders.corrections``).

    A person who corrected one dimension of an order looked at it: the dimensions they left
    alone count as confirmed. ``fixed``: corrections the new rules decide themselves (the
    old did not); ``broken``: values people corrected or confirmed that the old rules had
    right and the new rules change.
    """

    corrections: int
    reviewed_orders: int
    old_right: int = Field(description="corrected values the old rules decide themselves")
    new_right: int = Field(description="corrected values the new rules decide themselves")
    fixed: int
    broken: int
    examples_fixed: list[Change]
    examples_broken: list[Change]


DIMENSIONS = ("value_tier", "customer_segment", "primary_product_type", "tags", "priority", "team")


def diff(old: Replay, new: Replay, *, examples: int = 5) -> RulesDiff:
    dims = []
    for dimension in DIMENSIONS:
        changes = [
            Change(
                order_id=oid,
                open=before.status_category in OPEN,
                old=shown(before, dimension),
                new=shown(new.orders[oid], dimension),
            )
            for oid, before in old.orders.items()
            if shown(before, dimension) != shown(new.orders[oid], dimension)
        ]
        dims.append(
            DimensionDiff(
                dimension=dimension,
                changed=len(changes),
                changed_open=sum(c.open for c in changes),
                examples=changes[:examples],
            )
        )
    notes: list[Change] = []
    total = 0
    for oid, before in old.orders.items():
        after = new.orders[oid]
        if before.status_category not in OPEN:
            continue
        newly = [
            r
            for r in after.rules_fired
            if r not in before.rules_fired and (rule := new.rules.rule(r)) and rule.then.notify
        ]
        total += len(newly)
        if newly:
            notes.append(
                Change(
                    order_id=oid,
                    open=True,
                    old=",".join(before.rules_fired) or "-",
                    new=",".join(newly),
                )
            )
    return RulesDiff(
        corrections=score(old, new, examples=examples) if new.corrections else None,
        old_version=old.rules.version,
        new_version=new.rules.version,
        orders=len(old.orders),
        open_orders=sum(o.status_category in OPEN for o in old.orders.values()),
        refused_events=old.refused,
        dimensions=dims,
        notifications_on_publish=total,
        notification_examples=notes[:examples],
    )


def score(old: Replay, new: Replay, *, examples: int = 5) -> CorrectionScore:
    """``new`` and ``old`` against the corrections recorded in the replayed events."""
    known = {k: v for k, v in new.corrections.items() if k[0] in old.orders}
    reviewed = sorted({oid for oid, _ in known})
    old_right = new_right = fixed = broken = 0
    fixes: list[Change] = []
    breaks: list[Change] = []
    for oid in reviewed:
        for dimension in DIMENSIONS:
            was, now = shown(old.orders[oid], dimension), shown(new.orders[oid], dimension)
            truth = known.get((oid, dimension), was)
            if (oid, dimension) in known:
                old_right += was == truth
                new_right += now == truth
            if now == truth and was != truth:
                fixed += 1
                fixes.append(Change(order_id=oid, open=False, old=was, new=f"{dimension}={now}"))
            elif was == truth and now != truth:
                broken += 1
                breaks.append(Change(order_id=oid, open=False, old=was, new=f"{dimension}={now}"))
    return CorrectionScore(
        corrections=len(known),
        reviewed_orders=len(reviewed),
        old_right=old_right,
        new_right=new_right,
        fixed=fixed,
        broken=broken,
        examples_fixed=fixes[:examples],
        examples_broken=breaks[:examples],
    )
