"""People's corrections in the core: the engine keeps them, accuracy counts them, the
back-test scores a rule set against them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import ClassifiedOrder, OrderCorrection
from streams.classify import accuracy, corrections, engine
from streams.classify.backtest import diff, replay
from streams.classify.facts import OrderFacts
from streams.classify.rules import RuleSet, default_text
from tests.unit.conftest import (
    FACTS,
    NOW,
    change_status,
    classify,
    make_created,
    make_order,
    make_status_change,
)

RULES = RuleSet.default()
FACTS_ITEMS = make_order().items  # one electronics item


def fix(dimension: str, value: Any, *, order_id: str = "SO-1", by: str = "u-7", n: int = 1):
    return OrderCorrection(
        event_id=f"C-{n}",
        occurred_at=NOW,
        order_id=order_id,
        dimension=dimension,
        value=value,
        corrected_by=by,
        reason="checked with the customer",
    )


def corrected(
    record: ClassifiedOrder, dimension: str, value: Any, **kw: Any
) -> tuple[ClassifiedOrder, OrderFacts]:
    outcome, facts = engine.correct(
        record, FACTS[record.order_id], fix(dimension, value, **kw), RULES, now=NOW
    )
    FACTS[record.order_id] = facts
    return outcome.classification, facts


def test_a_corrected_tier_feeds_the_priority_matrix_and_the_rules() -> None:
    before = classify(make_order(total="500"))  # low value, new customer
    after, _ = corrected(before, "value_tier", "high")
    assert (before.value_tier.value, after.value_tier.value) == ("low", "high")
    assert after.priority < before.priority  # P-numbers: the matrix cell of a high tier
    assert "high-value" in after.tags  # the tag rule sees the corrected tier
    assert after.correction is not None
    assert (after.correction.decided, after.correction.decided_by) == ("low", "value_tiers")


def test_a_corrected_priority_holds_against_rules_that_raise_it() -> None:
    vip = classify(make_order(total="25000"))  # high value: the matrix and rules say P1 or P2
    after, facts = corrected(vip, "priority", "P4")
    assert after.priority.value == "P4"
    again = engine.classify(
        facts, after.status, RULES, cause="status-changed", event_id="x", occurred_at=NOW, now=NOW
    ).classification
    assert again.priority.value == "P4"
    assert again.reasons["priority"].startswith("corrected to P4 by u-7: checked with")


def test_the_correction_survives_status_changes_and_rule_switches() -> None:
    before = classify(make_order(total="500"))
    after, facts = corrected(before, "tags", ["bulk"])
    moved = change_status(after, make_status_change("new", "confirmed"))
    assert moved.tags == ["bulk"]
    lower = RuleSet.from_text(
        default_text().replace(
            "default: {high: 10000, medium: 1000}", "default: {high: 400, medium: 100}"
        )
    )
    switched = engine.reclassify(moved, facts, lower, now=NOW)
    assert switched is not None and switched.classification.value_tier.value == "high"
    assert switched.classification.tags == ["bulk"]  # the rules would add high-value


@pytest.mark.parametrize(
    ("dimension", "value", "problem"),
    [
        ("value_tier", "gold", "gold not in the vocabulary"),
        ("priority", "P9", "P9 not in the vocabulary"),
        ("tags", ["vip", "nonsense"], "nonsense not in the vocabulary"),
        ("tags", "vip", "must be a list of tags"),
        ("team", ["quality"], "must be one value"),
        ("team", "marketing", "marketing not in the vocabulary"),
        ("primary_product_type", "spaceships", "spaceships not in the vocabulary"),
    ],
)
def test_values_outside_the_vocabulary_are_refused(
    dimension: str, value: Any, problem: str
) -> None:
    found = corrections.check(fix(dimension, value), RULES, FACTS_ITEMS)
    assert found is not None and problem in found


def test_values_of_the_vocabulary_pass() -> None:
    for dimension, value in (
        ("value_tier", "medium"),
        ("tags", ["vip", "bulk"]),
        ("team", "quality"),
        ("primary_product_type", "electronics"),
        ("customer_segment", "vip"),
    ):
        assert corrections.check(fix(dimension, value), RULES, FACTS_ITEMS) is None


def test_the_contract_refuses_an_unknown_dimension_and_empty_values() -> None:
    with pytest.raises(ValidationError):
        fix("colour", "red")
    with pytest.raises(ValidationError):
        fix("priority", " ")


def test_accuracy_counts_rule_decisions_corrected_once_per_order_and_dimension() -> None:
    orders = [classify(make_order(f"SO-{n}", total="500")) for n in range(4)]
    first, _ = corrected(orders[0], "value_tier", "high", order_id="SO-0", by="u-1")
    second, _ = corrected(first, "value_tier", "medium", order_id="SO-0", by="u-2", n=2)
    same, _ = corrected(orders[1], "value_tier", "low", order_id="SO-1", n=3)
    cells: dict[str, Counter[str]] = {}
    for record in [*orders, first, second, same]:
        for name, value in accuracy.contributions(record):
            cells.setdefault(name, Counter())[value] += 1
    report = accuracy.summary(cells)
    assert report["orders"] == 4
    tier = report["dimensions"]["value_tier"]  # type: ignore[index]
    assert tier["corrected"] == 1 and tier["share_corrected"] == 0.25
    assert tier["overridden_corrections"] == 1 and tier["confirmed"] == 1
    assert tier["by_rule"] == {"value_tiers": 1}
    assert tier["confusion"] == {"low -> high": 1}
    assert tier["by_rules_version"] == {RULES.version: {"corrected": 1, "orders": 4, "share": 0.25}}


def test_rules_diff_scores_the_new_rules_against_corrections() -> None:
    events: list[Any] = [
        make_created(make_order(f"SO-{n}", total=t), event_id=f"E-{n}")
        for n, t in enumerate(["500", "700", "5000"])
    ]
    # People said SO-0 and SO-1 are medium (the rules: low), and looked at SO-2's tier
    # without changing it (they corrected its tags to what the rules had).
    events += [
        fix("value_tier", "medium", order_id="SO-0", n=1),
        fix("value_tier", "medium", order_id="SO-1", n=2),
        fix("tags", ["nonsense"], order_id="SO-1", n=3),  # the worker refuses it: not scored
    ]
    lower = RuleSet.from_text(
        default_text().replace(
            "default: {high: 10000, medium: 1000}", "default: {high: 4000, medium: 600}"
        )
    )
    old, new = replay(events, RULES), replay(events, lower)
    score = diff(old, new).corrections
    assert score is not None
    assert (score.corrections, score.reviewed_orders) == (2, 2)
    assert old.refused == 1
    assert (score.old_right, score.new_right) == (0, 1)  # 700 is medium now, 500 still low
    assert score.fixed == 1
    # SO-1 became medium: its priority follows the tier, a dimension people left alone.
    changed_alone = sum(
        corrections.shown(old.orders["SO-1"], d) != corrections.shown(new.orders["SO-1"], d)
        for d in ("priority", "tags", "customer_segment", "primary_product_type", "team")
    )
    assert score.broken == changed_alone
    assert diff(old, replay(events[:3], lower)).corrections is None
