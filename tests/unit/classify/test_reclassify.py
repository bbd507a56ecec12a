"""Re-evaluating orders under a new rule set, and the back-test that predicts it."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from schemas.events import ClassifiedOrder, OrderCreated, StatusChanged
from streams.classify import engine
from streams.classify.backtest import diff, replay
from streams.classify.notify import newly_fired
from streams.classify.rules import RuleSet, default_text
from streams.cli.main import main
from tests.unit.conftest import (
    FACTS,
    NOW,
    change_status,
    classify,
    make_created,
    make_order,
    make_status_change,
    notifications_for,
)


def with_rules(extra: str) -> str:
    """The shipped rule file with ``extra`` rules appended to its rules list."""
    head, tail = default_text().split("\n# The order state machine", 1)
    return f"{head.rstrip()}\n{extra}\n# The order state machine{tail}"


def redo(*args: object, **kwargs: object) -> ClassifiedOrder | None:
    outcome = engine.reclassify(*args, **kwargs)  # type: ignore[arg-type]
    return outcome.classification if outcome else None


LOWER_TIERS = RuleSet.from_text(
    default_text()
    .replace("label: default", "label: v2")
    .replace("default: {high: 10000, medium: 1000}", "default: {high: 5000, medium: 2000}")
)


def test_reclassify_changes_what_the_rules_change_and_says_why() -> None:
    before = classify(make_order(total="6000"))
    after = redo(before, FACTS["SO-1"], LOWER_TIERS, now=NOW)
    assert after is not None
    assert (before.value_tier.value, after.value_tier.value) == ("medium", "high")
    assert after.cause == "reclassified"
    assert after.event_id == f"rules:{LOWER_TIERS.version}"
    assert after.reasons["rules"] == f"rules {before.rules_version} -> {LOWER_TIERS.version}"
    assert after.status == before.status
    # Only what became true notifies: high_value_order now, nothing for the new customer.
    kinds = [n.kind for n in notifications_for(before, after, rules=LOWER_TIERS)]
    assert kinds == ["high_value_order"]


def test_unchanged_orders_are_not_republished() -> None:
    before = classify(make_order(total="12000"))  # high under both
    assert redo(before, FACTS["SO-1"], LOWER_TIERS, now=NOW) is None
    assert redo(before, FACTS["SO-1"], RuleSet.default(), now=NOW) is None


def test_status_change_reruns_rules_and_notifies_only_new_rules() -> None:
    created = classify(make_order(total="12000"))
    confirmed = change_status(created, make_status_change("new", "confirmed"))
    assert newly_fired(created, confirmed) == []
    cancelled = change_status(confirmed, make_status_change("confirmed", "cancelled"))
    assert newly_fired(confirmed, cancelled) == ["order-cancelled"]
    note = notifications_for(confirmed, cancelled)[0]
    assert note.message == "Order SO-1 (12000 CNY) was cancelled after confirmed"
    assert note.rule_id == "order-cancelled" and note.kind == "order_cancelled"


def events() -> list[OrderCreated | StatusChanged]:
    out: list[OrderCreated | StatusChanged] = []
    for n, total in enumerate(["1500", "6000", "12000", "300"]):
        out.append(make_created(make_order(f"SO-{n}", total=total), event_id=f"E-{n}"))
    out.append(make_status_change("new", "confirmed", order_id="SO-1", event_id="S-1"))
    # SO-2's changes arrive before... nothing: SO-3 is walked to completion.
    walk = ["new", "confirmed", "processing", "shipped", "delivered", "completed"]
    for i, (a, b) in enumerate(itertools.pairwise(walk)):
        out.append(make_status_change(a, b, order_id="SO-3", event_id=f"S3-{i}"))
    return out


def test_backtest_diff_predicts_reclassification() -> None:
    old, new = replay(events(), RuleSet.default()), replay(events(), LOWER_TIERS)
    result = diff(old, new)
    tier = next(d for d in result.dimensions if d.dimension == "value_tier")
    assert tier.changed == 2 and tier.changed_open == 2  # 1500 medium->low, 6000 medium->high
    assert {(c.order_id, c.old, c.new) for c in tier.examples} == {
        ("SO-0", "medium", "low"),
        ("SO-1", "medium", "high"),
    }
    assert result.open_orders == 3 and result.orders == 4
    assert result.notifications_on_publish == 1  # SO-1 becomes high value
    # And the diff's "new" side is what reclassify produces from the old state.
    for oid, before in old.orders.items():
        live = redo(before, old.facts[oid], LOWER_TIERS, now=NOW)
        expected = new.orders[oid]
        got = live or before
        assert (got.value_tier, got.tags, got.priority) == (
            expected.value_tier,
            expected.tags,
            expected.priority,
        )


def test_status_before_its_order_is_applied_in_replay() -> None:
    early = make_status_change("new", "confirmed", order_id="SO-9", event_id="S-9")
    created = make_created(make_order("SO-9"), event_id="E-9")
    result = replay([early, created], RuleSet.default())
    assert result.orders["SO-9"].status.value == "confirmed"


def test_cli_validate_and_diff_from_an_events_file(tmp_path: Path) -> None:
    old, new = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old.write_text(default_text())
    new.write_text(
        default_text().replace(
            "default: {high: 10000, medium: 1000}", "default: {high: 5000, medium: 2000}"
        )
    )
    lines = tmp_path / "events.jsonl"
    lines.write_text("".join(e.model_dump_json() + "\n" for e in events()) + "not json\n")
    runner = CliRunner()
    ok = runner.invoke(main, ["rules", "validate", str(new)])
    assert ok.exit_code == 0 and "valid" in ok.output
    result = runner.invoke(
        main, ["rules", "diff", str(old), str(new), "--events", str(lines), "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["orders"] == 4
    assert next(d for d in body["dimensions"] if d["dimension"] == "value_tier")["changed"] == 2
    table = runner.invoke(main, ["rules", "diff", str(old), str(new), "--events", str(lines)])
    assert "value_tier" in table.output and "1 undecodable" in table.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [{id: x, when: {amont: 1}, then: {tags: [a]}}]")
    bad = runner.invoke(main, ["rules", "validate", str(broken)])
    assert bad.exit_code == 2
    assert "did you mean 'amount'?" in bad.output


def test_scheduled_review_applies_time_based_rules() -> None:
    stale = RuleSet.from_text(
        with_rules("""
  - id: stalled
    description: Open for three days.
    when: {all: [{age_hours: {gte: 72}}, {status_category: {in: [new, in_progress]}}]}
    then:
      tags: [stalled]
      notify: {role: sales_manager, message: "Order $order_id is open for 3 days"}
""")
    )
    created = classify(make_order(total="300"), rules=stale)
    assert "stalled" not in created.tags  # age 0 at creation
    later = NOW + timedelta(hours=71)
    assert redo(created, FACTS["SO-1"], stale, now=later, review_at=later) is None
    review = NOW + timedelta(hours=72)
    after = redo(created, FACTS["SO-1"], stale, now=review, review_at=review)
    assert after is not None and "stalled" in after.tags
    assert after.event_id == f"review:{review.isoformat()}"
    assert after.reasons["rule:stalled"].startswith("age_hours >= 72 (age_hours=72.00)")
    assert [n.kind for n in notifications_for(created, after, rules=stale)] == ["stalled"]
