"""People's corrections of an order's classification (``orders.corrections``).

A correction is a fact of the order: a person said what one dimension is. It is kept in the
order's facts (``OrderFacts.corrections``), so every later classification of the order (a
status change, a rule switch, a scheduled review, a complaint linked) applies it over what the
rules decide, and a rule change never silently undoes a person's decision. The engine applies
it (``streams.classify.engine``); this module validates one against the rule set's vocabulary
and describes what it changed for the classified record, which is what accuracy is counted
from (``streams.classify.accuracy``).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from schemas.events import (
    AppliedCorrection,
    ClassifiedOrder,
    CorrectionDimension,
    CustomerSegment,
    Item,
    OrderCorrection,
    Priority,
    ValueTier,
)
from streams.classify.dimensions import item_type
from streams.classify.rules import RuleSet

D = CorrectionDimension


class Override(BaseModel):
    """One dimension's value as a person set it, stored with the order's facts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    value: str | list[str]
    by: str
    reason: str | None = None
    occurred_at: datetime

    @property
    def shown(self) -> str:
        return ",".join(sorted(self.value)) if isinstance(self.value, list) else self.value

    def why(self, rules_said: str) -> str:
        """The reason the record gives for the dimension, the rules' own reason kept."""
        reason = f": {self.reason}" if self.reason else ""
        return f"corrected to {self.shown or '-'} by {self.by}{reason} (the rules: {rules_said})"


def vocabulary(dimension: CorrectionDimension, rules: RuleSet, items: list[Item]) -> set[str]:
    """The values a person may give ``dimension`` under ``rules``.

    Product types: the rule set's mappings and the order's own item types; tags and teams:
    those the rules (and the feedback routing, for teams) can set.
    """
    if dimension is D.VALUE_TIER:
        return {t.value for t in ValueTier}
    if dimension is D.PRIORITY:
        return {p.value for p in Priority}
    if dimension is D.CUSTOMER_SEGMENT:
        return {s.value for s in CustomerSegment}
    if dimension is D.PRIMARY_PRODUCT_TYPE:
        return {m.type for m in rules.product_types} | {
            item_type(i, rules.product_types) for i in items
        }
    if dimension is D.TAGS:
        return {tag for rule in rules.rules for tag in rule.then.tags}
    return {r.then.team for r in rules.rules if r.then.team} | set(rules.feedback.routing.teams)


def check(correction: OrderCorrection, rules: RuleSet, items: list[Item]) -> str | None:
    """Why ``correction`` cannot be applied (the dead-letter reason), or None."""
    dimension, value = correction.dimension, correction.value
    if (dimension is D.TAGS) != isinstance(value, list):
        shape = "a list of tags" if dimension is D.TAGS else "one value, not a list"
        return f"{dimension.value}: the value must be {shape}"
    known = vocabulary(dimension, rules, items)
    given = value if isinstance(value, list) else [value]
    unknown = sorted(set(given) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        return (
            f"{dimension.value}: {', '.join(unknown)} not in the vocabulary of rules"
            f" {rules.version} (allowed: {allowed})"
        )
    return None


def override(correction: OrderCorrection) -> Override:
    value = correction.value
    return Override(
        event_id=correction.event_id,
        value=sorted(set(value)) if isinstance(value, list) else value,
        by=correction.corrected_by,
        reason=correction.reason,
        occurred_at=correction.occurred_at,
    )


def shown(record: ClassifiedOrder, dimension: str) -> str:
    """A dimension's value as text (tags comma-separated, no team ``-``)."""
    value = getattr(record, dimension)
    if isinstance(value, list):
        return ",".join(value) or "-"
    return "-" if value is None else str(getattr(value, "value", value))


def corrected_by(decided_by: str) -> str | None:
    """The person whose earlier correction decided a value, or None (the rules did)."""
    prefix = "correction by "
    return decided_by[len(prefix) :] if decided_by.startswith(prefix) else None


def applied(
    before: ClassifiedOrder, decided_by: str, correction: OrderCorrection
) -> AppliedCorrection:
    """What the correction changed: the value before, what had decided it, and who."""
    return AppliedCorrection(
        event_id=correction.event_id,
        dimension=correction.dimension,
        value=override(correction).shown or "-",
        decided=shown(before, correction.dimension.value),
        decided_by=decided_by,
        decided_version=before.rules_version,
        corrected_by=correction.corrected_by,
        reason=correction.reason,
    )
