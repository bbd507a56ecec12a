"""streams.classify.rules and .conditions: loading, validation messages, evaluation, versions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.events import Priority
from streams.classify.conditions import ConditionError, evaluate, parse
from streams.classify.rules import RuleSet, RuleSetError, default_text
from tests.unit.conftest import classify, make_customer, make_item, make_order


def rules_with(body: str, head: str = "label: t") -> RuleSet:
    return RuleSet.from_text(f"{head}\nrules:\n{body}", "t.yaml")


def problems(text: str) -> list[str]:
    with pytest.raises(RuleSetError) as caught:
        RuleSet.from_text(text, "t.yaml")
    assert str(caught.value).startswith("t.yaml: invalid rule set")
    return caught.value.problems


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules: [{id: r1, when: {quanity: {gte: 5}}, then: {tags: [a]}}]",
            "rule 'r1', field when: quanity: unknown fact 'quanity'; did you mean 'quantity'?",
        ),
        (
            "rules: [{id: r1, when: {amount: {gte: 5}}, then: {tagz: [a]}}]",
            "rule 'r1', field then.tagz: unknown field 'tagz'; did you mean 'tags'?",
        ),
        (
            "rules: [{id: r1, when: {customer_type: enterprize}, then: {tags: [a]}}]",
            "'enterprize' is not a customer_type; one of enterprise, individual;"
            " did you mean 'enterprise'?",
        ),
        (
            "rules: [{id: r1, when: {region: {gte: 5}}, then: {tags: [a]}}]",
            "operator 'gte' does not apply to region (text)",
        ),
        (
            "rules: [{id: r1, when: {amount: {gte: lots}}, then: {tags: [a]}}]",
            "amount compares with a number, got 'lots'",
        ),
        (
            "rules: [{id: r1, when: {all: []}, then: {tags: [a]}}]",
            "'all' needs a non-empty list of conditions",
        ),
        (
            "rules: [{id: r1, when: {status: new, region: east}, then: {tags: [a]}}]",
            "a condition is a mapping with exactly one key",
        ),
        (
            "rules: [{id: r1, when: {status: new}, then: {}}]",
            "a rule needs at least one action",
        ),
        (
            "rules: [{id: r1, when: {status: new},"
            ' then: {notify: {role: x, message: "$ordr_id"}}}]',
            "unknown placeholder $ordr_id; did you mean 'order_id'?",
        ),
        (
            "rules: [{id: r1, when: {status: new}, then: {priority: P9}}]",
            "rule 'r1', field then.priority",
        ),
        (
            "rules: [{id: a, when: {status: new}, then: {tags: [x]}},"
            " {id: a, when: {status: new}, then: {tags: [y]}}]",
            "rule id 'a' is used twice",
        ),
        ("valu_tiers: {}", "field valu_tiers: unknown field 'valu_tiers'; did you mean"),
        ("value_tiers: {default: {high: 10, medium: 20}}", "medium (20) must be below high"),
        ("priority_matrix: {high: {vip: P1}}", "missing priority for tier high"),
        ("rules: [oops", "not valid YAML"),
        ("- a list", "expected a mapping at the top level"),
    ],
)
def test_invalid_rule_sets_name_rule_field_and_suggestion(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_version_ignores_comments_and_formatting_but_not_content() -> None:
    base = RuleSet.from_text(default_text())
    reformatted = RuleSet.from_text(
        "# a comment\n" + default_text().replace("{high: 10000,", "{ high: 10000 ,")
    )
    assert base.version == reformatted.version
    edited = RuleSet.from_text(
        default_text().replace("lifetime_spend: 100000", "lifetime_spend: 90000")
    )
    assert edited.version != base.version
    assert edited.version.startswith("default@")


def test_the_shipped_file_is_the_default() -> None:
    assert RuleSet.default().version == RuleSet.from_text(default_text()).version
    assert [r.id for r in RuleSet.default().rules][:5] == [
        "high-value",
        "vip-customer",
        "new-customer",
        "bulk",
        "multi-category",
    ]


def test_rules_run_in_order_and_see_earlier_tags_and_priority() -> None:
    rules = rules_with(
        """
  - id: big
    when: {quantity: {gte: 10}}
    then: {tags: [big], raise_priority: P2}
  - id: big-and-urgent
    when: {all: [{tags: {contains: big}}, {priority: P2}]}
    then: {tags: [escalate], team: desk}
  - id: never-lowered
    when: {tags: big}
    then: {raise_priority: P3}
"""
    )
    record = classify(make_order(items=[make_item(quantity=12)]), rules=rules)
    assert record.tags == ["big", "escalate"]
    assert record.priority is Priority.P2  # raised to P2; a later "raise to P3" never lowers
    assert record.team == "desk"
    assert record.rules_fired == ["big", "big-and-urgent", "never-lowered"]
    assert record.reasons["rule:big"] == "quantity >= 10 (quantity=12)"
    assert "raised to P2 by rule big" in record.reasons["priority"]
    assert record.reasons["team"] == "routed to desk by rule big-and-urgent"


def test_set_priority_can_lower_and_reasons_say_so() -> None:
    rules = rules_with("  - id: calm\n    when: {customer_segment: new}\n    then: {priority: P4}")
    record = classify(make_order(total="20000"), rules=rules)
    assert record.priority is Priority.P4
    assert "set to P4 by rule calm" in record.reasons["priority"]


def test_not_any_in_and_list_operators() -> None:
    rules = rules_with(
        """
  - id: r
    when:
      any:
        - all: [{region: {in: [north, south]}}, {not: {channel: marketplace}}]
        - product_types: {contains_any: [furniture, toys]}
    then: {tags: [hit]}
"""
    )
    north = make_order(region="north")
    market = make_order(region="north", channel="marketplace")
    sofa = make_order(items=[make_item("furniture")], channel="marketplace")
    assert classify(north, rules=rules).tags == ["hit"]
    assert classify(market, rules=rules).tags == []
    assert classify(sofa, rules=rules).tags == ["hit"]


def test_vip_flag_fact_and_enterprise_segment_rule() -> None:
    rules = rules_with("  - id: v\n    when: {customer_vip: true}\n    then: {tags: [flagged]}")
    assert classify(make_order(customer=make_customer(vip=True)), rules=rules).tags == ["flagged"]
    assert classify(make_order(), rules=rules).tags == []


numbers = st.decimals(min_value=-(10**6), max_value=10**6, places=2)
OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
}


@given(st.sampled_from(sorted(OPS)), numbers, numbers)
def test_number_comparisons_match_python(op: str, actual: Decimal, bound: Decimal) -> None:
    condition = parse({"amount": {op: str(bound)}})
    held, why = evaluate(condition, {"amount": actual})
    assert held is OPS[op](actual, bound)
    assert why == [f"{condition.describe()} (amount={actual})"]  # type: ignore[union-attr]


@given(st.booleans(), st.booleans(), st.booleans())
def test_boolean_structure_matches_python(a: bool, b: bool, c: bool) -> None:
    tree = {
        "any": [{"all": [{"customer_vip": a}, {"not": {"customer_vip": b}}]}, {"customer_vip": c}]
    }
    held, _ = evaluate(parse(tree), {"customer_vip": True})
    assert held is ((a and not b) or c)


def test_parse_errors_point_into_the_tree() -> None:
    with pytest.raises(ConditionError) as caught:
        parse({"all": [{"status": "new"}, {"any": [{"region": {"between": [1, 2]}}]}]})
    assert caught.value.path == "all[1].any[0].region.between"
