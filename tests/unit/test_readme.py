"""The README's tables and examples are generated from, or checked against, the code."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

from streams.classify.lifecycle import CATEGORIES, TRANSITIONS
from streams.classify.rules import RuleSet
from streams.settings import markdown_table

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_configuration_table_is_the_settings_output() -> None:
    assert markdown_table() in README, "run `python -m streams.settings` and paste the table"


def test_status_table_matches_the_state_machine() -> None:
    for status, targets in TRANSITIONS.items():
        allowed = ", ".join(sorted(t.value for t in targets)) or "(final)"
        assert f"| {status.value} | {allowed} | {CATEGORIES[status].value} |" in README


def test_example_shows_the_builtin_rules_version() -> None:
    assert f'"rules_version": "{RuleSet.default().version}"' in README


def test_rules_file_example_loads(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", README, re.S)
    assert block is not None
    path = tmp_path / "rules.yaml"
    path.write_text(block.group(1))
    config = RuleSet.from_file(path)
    assert config.value_tiers.for_currency("USD").high == Decimal(1500)
    assert config.version.startswith("q4-2026@")
    assert config.rules[0].then.team == "regional-desk"
    assert yaml.safe_load(block.group(1))["label"] == "q4-2026"
