"""The rule condition language: a small declarative tree parsed from YAML, never ``eval``-ed.

A condition is a mapping with one key: ``all``/``any`` (a list of conditions), ``not`` (one
condition) or a fact name. A fact maps to a value (equality) or to operators, all of which
must hold::

    all:
      - customer_type: enterprise
      - quantity: {gte: 50}
      - region: {in: [east, north]}
      - tags: {contains: bulk}
      - not: {channel: marketplace}

Parsing checks every fact name, operator and value type, so a typo fails when the rule set
is loaded, not when an order happens to reach it. Evaluation returns the facts that decided,
with their values, so every fired rule can say why it fired.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from schemas.events import (
    CustomerSegment,
    CustomerType,
    Priority,
    Status,
    StatusCategory,
    ValueTier,
)

Fact = Decimal | int | str | bool | tuple[str, ...] | None


@dataclass(frozen=True)
class FactType:
    kind: str  # number | text | enum | flag | list
    doc: str
    choices: tuple[str, ...] = ()


def _enum(e: type[StrEnum], doc: str) -> FactType:
    return FactType("enum", doc, tuple(m.value for m in e))


#: Every fact a condition may test, with its type (docs/rules.md is checked against it).
FACTS: dict[str, FactType] = {
    "amount": FactType("number", "order total (`total_amount`)"),
    "currency": FactType("text", "ISO currency code"),
    "item_count": FactType("number", "number of line items"),
    "quantity": FactType("number", "total units over all items"),
    "product_types": FactType("list", "product types of the items (after mapping)"),
    "product_type_count": FactType("number", "number of distinct product types"),
    "primary_product_type": FactType("text", "product type with the largest share of value"),
    "channel": FactType("text", "sales channel"),
    "region": FactType("text", "sales region"),
    "customer_type": _enum(CustomerType, "upstream customer type"),
    "customer_vip": FactType("flag", "upstream vip flag"),
    "customer_segment": _enum(CustomerSegment, "segment from the customer's history"),
    "prior_orders": FactType("number", "orders of this customer before this one"),
    "complaints": FactType("number", "complaints (customer feedback) about this order"),
    "lifetime_spend": FactType("number", "customer's spend in this currency, this order included"),
    "age_hours": FactType(
        "number", "hours since the order was created, as of the event (or the review / switch)"
    ),
    "value_tier": _enum(ValueTier, "value tier from the thresholds"),
    "status": _enum(Status, "current status"),
    "status_category": _enum(StatusCategory, "category of the current status"),
    "priority": _enum(Priority, "priority so far (matrix, then earlier rules)"),
    "tags": FactType("list", "tags so far (earlier rules)"),
}

OPERATORS: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "lt", "lte", "gt", "gte", "in", "not_in"),
    "text": ("eq", "ne", "in", "not_in"),
    "enum": ("eq", "ne", "in", "not_in"),
    "flag": ("eq", "ne"),
    "list": ("contains", "not_contains", "contains_any", "empty"),
}
_SYMBOL = {"eq": "==", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


class ConditionError(ValueError):
    """A condition that does not parse; ``path`` points inside the condition tree."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Compare:
    fact: str
    op: str
    value: Any

    def describe(self) -> str:
        if self.op in _SYMBOL:
            return f"{self.fact} {_SYMBOL[self.op]} {_show(self.value)}"
        if self.op == "empty":
            return f"{self.fact} {'is' if self.value else 'is not'} empty"
        return f"{self.fact} {self.op.replace('_', ' ')} {_show(self.value)}"


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    part: Condition


Condition = Compare | AllOf | AnyOf | Not


def parse(node: object, path: str = "") -> Condition:
    """Build a condition tree from YAML data; raise :class:`ConditionError` naming the spot."""
    if not isinstance(node, Mapping) or len(node) != 1:
        raise ConditionError(
            path, "a condition is a mapping with exactly one key (all, any, not or a fact)"
        )
    ((key, value),) = node.items()
    key = str(key)
    here = f"{path}.{key}" if path else key
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ConditionError(here, f"{key!r} needs a non-empty list of conditions")
        parts = tuple(parse(v, f"{here}[{i}]") for i, v in enumerate(value))
        return AllOf(parts) if key == "all" else AnyOf(parts)
    if key == "not":
        return Not(parse(value, here))
    if key not in FACTS:
        raise ConditionError(here, f"unknown fact {key!r}{suggest(key, [*FACTS, 'all', 'any'])}")
    fact = FACTS[key]
    if not isinstance(value, Mapping):
        value = {"contains" if fact.kind == "list" else "eq": value}
    compares = tuple(_compare(key, fact, str(op), arg, here) for op, arg in value.items())
    if not compares:
        raise ConditionError(here, "no operator given")
    return compares[0] if len(compares) == 1 else AllOf(compares)


def validated(node: object) -> object:
    """``node`` unchanged if it parses; a ``ValueError`` pydantic reports otherwise."""
    try:
        parse(node)
    except ConditionError as exc:
        raise ValueError(str(exc)) from None
    return node


def _compare(name: str, fact: FactType, op: str, arg: object, path: str) -> Compare:
    allowed = OPERATORS[fact.kind]
    if op not in allowed:
        raise ConditionError(
            f"{path}.{op}",
            f"operator {op!r} does not apply to {name} ({fact.kind});"
            f" use one of {', '.join(allowed)}{suggest(op, allowed)}",
        )
    where = f"{path}.{op}"
    if op == "empty":
        if not isinstance(arg, bool):
            raise ConditionError(where, "'empty' takes true or false")
        return Compare(name, op, arg)
    if op in ("in", "not_in", "contains_any"):
        if not isinstance(arg, list) or not arg:
            raise ConditionError(where, f"{op!r} needs a non-empty list")
        return Compare(name, op, tuple(_value(name, fact, a, where) for a in arg))
    return Compare(name, op, _value(name, fact, arg, where))


def _value(name: str, fact: FactType, arg: object, path: str) -> Any:
    if fact.kind == "number":
        if isinstance(arg, bool) or not isinstance(arg, int | float | str | Decimal):
            raise ConditionError(path, f"{name} compares with a number, got {arg!r}")
        try:
            return Decimal(str(arg))
        except InvalidOperation:
            raise ConditionError(path, f"{name} compares with a number, got {arg!r}") from None
    if fact.kind == "flag":
        if not isinstance(arg, bool):
            raise ConditionError(path, f"{name} is true or false, got {arg!r}")
        return arg
    if isinstance(arg, bool) or not isinstance(arg, str | int):
        raise ConditionError(path, f"{name} compares with text, got {arg!r}")
    text = str(arg)
    if fact.kind == "enum" and text not in fact.choices:
        raise ConditionError(
            path,
            f"{text!r} is not a {name}; one of {', '.join(fact.choices)}"
            + suggest(text, fact.choices),
        )
    return text


def holds(condition: Condition, facts: Mapping[str, Fact]) -> bool:
    """Whether ``condition`` holds (the fast path: no explanation strings are built)."""
    if isinstance(condition, Compare):
        return _holds(condition, facts[condition.fact])
    if isinstance(condition, AllOf):
        return all(holds(part, facts) for part in condition.parts)
    if isinstance(condition, AnyOf):
        return any(holds(part, facts) for part in condition.parts)
    return not holds(condition.part, facts)


def evaluate(condition: Condition, facts: Mapping[str, Fact]) -> tuple[bool, list[str]]:
    """Whether ``condition`` holds, and the comparisons that decided it with actual values."""
    if isinstance(condition, Compare):
        actual = facts[condition.fact]
        held = _holds(condition, actual)
        return held, [f"{condition.describe()} ({condition.fact}={_show(actual)})"]
    if isinstance(condition, AllOf):
        why: list[str] = []
        for part in condition.parts:
            held, part_why = evaluate(part, facts)
            if not held:
                return False, part_why
            why.extend(part_why)
        return True, why
    if isinstance(condition, AnyOf):
        failed: list[str] = []
        for part in condition.parts:
            held, part_why = evaluate(part, facts)
            if held:
                return True, part_why
            failed.extend(part_why)
        return False, failed
    held, part_why = evaluate(condition.part, facts)
    return not held, [f"not ({'; '.join(part_why)})"]


def _holds(c: Compare, actual: Fact) -> bool:
    op = c.op
    want: Any = c.value
    if isinstance(actual, tuple):
        if op == "contains":
            return str(want) in actual
        if op == "not_contains":
            return str(want) not in actual
        if op == "contains_any":
            return any(str(w) in actual for w in want)
        return (not actual) is bool(want)  # empty
    if op == "eq":
        return bool(_norm(actual) == want)
    if op == "ne":
        return bool(_norm(actual) != want)
    if op == "in":
        return _norm(actual) in tuple(want)
    if op == "not_in":
        return _norm(actual) not in tuple(want)
    if actual is None:
        return False
    number = Decimal(actual) if isinstance(actual, int) else actual
    if not isinstance(number, Decimal):
        return False
    bound = Decimal(want)
    if op == "lt":
        return number < bound
    if op == "lte":
        return number <= bound
    if op == "gt":
        return number > bound
    return number >= bound  # gte


def _norm(actual: Fact) -> Fact:
    """Ints compare with the Decimals the parser produced; enums compare by value."""
    if isinstance(actual, int) and not isinstance(actual, bool):
        return Decimal(actual)
    return actual


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
