"""The rule set: classification standards plus custom rules, as versioned, validated data.

One YAML file holds value tiers per currency, VIP thresholds, the product type mapping, the
priority matrix, the custom rules and the customer feedback section (``feedback:``). Its
version is ``label@hash``: the hash covers the parsed content (not comments or formatting), so
equal labels cannot hide an edit.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from schemas.events import CustomerSegment, Priority, ValueTier
from streams.classify.conditions import Condition, parse, suggest, validated
from streams.classify.feedback_rules import FeedbackRules
from streams.classify.lifecycle import Lifecycle
from streams.classify.segment_rules import SegmentRules
from streams.classify.sla import Sla

#: Placeholders a notification message may use (``$order_id``), checked on load.
MESSAGE_FIELDS = (
    "order_id",
    "amount",
    "currency",
    "region",
    "channel",
    "customer_id",
    "customer_type",
    "customer_segment",
    "primary_product_type",
    "priority",
    "value_tier",
    "status",
    "previous_status",
    "item_count",
    "rule_id",
    "team",
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TierThresholds(_Strict):
    """An order is ``high`` at or above ``high``, ``medium`` at or above ``medium``."""

    high: Decimal = Field(gt=0)
    medium: Decimal = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> TierThresholds:
        if self.medium >= self.high:
            raise ValueError(f"medium ({self.medium}) must be below high ({self.high})")
        return self


class ValueTiers(_Strict):
    default: TierThresholds = TierThresholds(high=Decimal(10000), medium=Decimal(1000))
    by_currency: dict[str, TierThresholds] = Field(default_factory=dict)

    def for_currency(self, currency: str) -> TierThresholds:
        return self.by_currency.get(currency, self.default)


class VipThresholds(_Strict):
    """Lifetime spend (per currency, never summed across currencies) that makes a VIP."""

    lifetime_spend: Decimal = Field(default=Decimal(100000), gt=0)
    by_currency: dict[str, Decimal] = Field(default_factory=dict)

    def for_currency(self, currency: str) -> Decimal:
        return self.by_currency.get(currency, self.lifetime_spend)


class ProductTypeMapping(_Strict):
    """Maps items to a product type by SKU prefix or by an item attribute; first match wins."""

    type: str = Field(min_length=1)
    sku_prefix: str | None = Field(default=None, min_length=1)
    attribute: str | None = Field(default=None, min_length=1)
    equals: str | None = None

    @model_validator(mode="after")
    def _one_matcher(self) -> ProductTypeMapping:
        by_attribute = self.attribute is not None and self.equals is not None
        if (self.sku_prefix is not None) == by_attribute:
            raise ValueError("give either sku_prefix, or attribute and equals")
        return self


def _default_matrix() -> dict[ValueTier, dict[CustomerSegment, Priority]]:
    vip, new, regular = CustomerSegment.VIP, CustomerSegment.NEW, CustomerSegment.REGULAR
    p1, p2, p3, p4 = Priority.P1, Priority.P2, Priority.P3, Priority.P4
    return {
        ValueTier.HIGH: {vip: p1, regular: p2, new: p2},
        ValueTier.MEDIUM: {vip: p2, regular: p3, new: p3},
        ValueTier.LOW: {vip: p2, regular: p4, new: p4},
    }


class Notify(_Strict):
    role: str = Field(min_length=1)
    severity: Literal["info", "warning", "high", "critical"] = "warning"
    kind: str | None = Field(default=None, description="notification kind; default the rule id")
    message: str = Field(min_length=1, description="string.Template text: $order_id, $amount")

    @field_validator("message")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        template = Template(value)
        if not template.is_valid():
            raise ValueError("invalid placeholder; write $name or ${name}, and $$ for a dollar")
        for name in template.get_identifiers():
            if name not in MESSAGE_FIELDS:
                hint = suggest(name, MESSAGE_FIELDS)
                raise ValueError(f"unknown placeholder ${name}{hint}")
        return value


class Actions(_Strict):
    tags: list[str] = Field(default_factory=list)
    priority: Priority | None = Field(default=None, description="set the priority")
    raise_priority: Priority | None = Field(default=None, description="raise to at least")
    notify: Notify | None = None
    team: str | None = Field(default=None, min_length=1, description="route to this team")

    @model_validator(mode="after")
    def _does_something(self) -> Actions:
        if not (self.tags or self.priority or self.raise_priority or self.notify or self.team):
            raise ValueError("a rule needs at least one action: tags, priority, notify, team")
        return self


class Rule(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    when: Any
    then: Actions

    _condition: Condition = PrivateAttr()

    @field_validator("when")
    @classmethod
    def _parse_when(cls, value: object) -> object:
        return validated(value)

    def model_post_init(self, context: Any, /) -> None:
        self._condition = parse(self.when)  # parsed once per rule set, not per order

    @property
    def condition(self) -> Condition:
        return self._condition

    @property
    def notification_kind(self) -> str | None:
        return (self.then.notify.kind or self.id) if self.then.notify else None


class RuleSet(_Strict):
    """Everything the classifier decides with. ``RuleSet.default()`` is the shipped file."""

    label: str = Field(default="custom", min_length=1, max_length=64)
    value_tiers: ValueTiers = ValueTiers()
    vip: VipThresholds = VipThresholds()
    product_types: list[ProductTypeMapping] = Field(default_factory=list)
    priority_matrix: dict[ValueTier, dict[CustomerSegment, Priority]] = Field(
        default_factory=_default_matrix
    )
    rules: list[Rule] = Field(default_factory=list)
    lifecycle: Lifecycle = Lifecycle()
    slas: list[Sla] = Field(default_factory=list)
    feedback: FeedbackRules = FeedbackRules()
    segments: SegmentRules = SegmentRules()

    @field_validator("priority_matrix")
    @classmethod
    def _complete(
        cls, value: dict[ValueTier, dict[CustomerSegment, Priority]]
    ) -> dict[ValueTier, dict[CustomerSegment, Priority]]:
        for tier in ValueTier:
            for segment in CustomerSegment:
                if segment not in value.get(tier, {}):
                    raise ValueError(f"missing priority for tier {tier.value}, {segment.value}")
        return value

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        for kind, ids in (("rule", [r.id for r in self.rules]), ("sla", [s.id for s in self.slas])):
            twice = sorted({i for i in ids if ids.count(i) > 1})
            if twice:
                raise ValueError(f"{kind} id {twice[0]!r} is used twice")
        return self

    # Computed once: classification reads them for every event.
    _version: str = PrivateAttr()
    _compiled: list[tuple[Rule, Condition]] = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        # The segments section at its defaults is left out of the hash: a rule set written
        # before customer care means the same with them, so it keeps its published version.
        exclude = {"label"} | ({"segments"} if self.segments == SegmentRules() else set())
        canonical = json.dumps(self.model_dump(mode="json", exclude=exclude), sort_keys=True)
        self._version = f"{self.label}@{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"
        self._compiled = [(rule, rule.condition) for rule in self.rules]

    def __hash__(self) -> int:
        return hash(self._version)

    @property
    def version(self) -> str:
        """``label@hash``; the hash covers the parsed content, not comments or layout."""
        return self._version

    @property
    def compiled(self) -> list[tuple[Rule, Condition]]:
        """Rules with their parsed conditions, in order."""
        return self._compiled

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @classmethod
    def from_text(cls, text: str, source: str = "<rules>") -> RuleSet:
        """Parse and validate YAML; raise :class:`RuleSetError` naming file, rule and field."""
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RuleSetError(source, [f"not valid YAML: {exc}"]) from None
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise RuleSetError(source, ["expected a mapping at the top level"])
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RuleSetError(source, _describe(exc, data)) from None

    @classmethod
    def from_file(cls, path: Path) -> RuleSet:
        try:
            text = path.read_text()
        except OSError as exc:
            raise RuleSetError(str(path), [f"cannot read: {exc.strerror}"]) from None
        return cls.from_text(text, str(path))

    @classmethod
    def default(cls) -> RuleSet:
        return cls.from_text(default_text(), DEFAULT_RULES)


DEFAULT_RULES = "streams/classify/default_rules.yaml"


def default_text() -> str:
    """The shipped, commented default rule set (reproduces the documented behaviour)."""
    return resources.files("streams.classify").joinpath("default_rules.yaml").read_text()


class RuleSetError(ValueError):
    """An invalid rule set; ``problems`` are one line each, naming the rule id and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: invalid rule set\n" + "\n".join(f"  - {p}" for p in problems))


def _describe(exc: ValidationError, data: dict[str, Any]) -> list[str]:
    problems = []
    top_fields = list(RuleSet.model_fields)
    for error in exc.errors():
        loc = list(error["loc"])
        where = []
        if len(loc) >= 2 and loc[0] in ("rules", "slas") and isinstance(loc[1], int):
            items = data.get(str(loc[0])) or []
            item = items[loc[1]] if loc[1] < len(items) else None
            item_id = item.get("id") if isinstance(item, dict) else None
            kind = "rule" if loc[0] == "rules" else "sla"
            where.append(f"{kind} {item_id!r}" if item_id else f"{loc[0]}[{loc[1]}]")
            loc = loc[2:]
        field = ".".join(str(p) for p in loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden" and loc:
            name = str(loc[-1])
            parent: list[str] = top_fields if len(loc) == 1 and not where else []
            message = f"unknown field {name!r}{suggest(name, parent or _siblings(loc, where))}"
        where.append(f"field {field}" if field else "")
        problems.append(f"{', '.join(w for w in where if w)}: {message}")
    return problems


def _siblings(loc: list[Any], where: list[str]) -> list[str]:
    """Known field names next to an unknown one, for a 'did you mean' hint."""
    models: dict[str, type[BaseModel]] = {
        "then": Actions,
        "notify": Notify,
        "value_tiers": ValueTiers,
        "vip": VipThresholds,
        "default": TierThresholds,
        "feedback": FeedbackRules,
        "segments": SegmentRules,
    }
    parent = str(loc[-2]) if len(loc) >= 2 else ("rule" if where else "")
    if parent == "rule" or (len(loc) == 1 and where):
        return list(Rule.model_fields)
    model = models.get(parent)
    return list(model.model_fields) if model else []
