"""The README's and docs' tables and examples are generated from, or checked against, the code;
the README stays short and its links to docs/ resolve."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import yaml

from streams.classify.conditions import FACTS, OPERATORS
from streams.classify.lifecycle import CATEGORIES, TRANSITIONS
from streams.classify.rules import RuleSet
from streams.settings import markdown_table

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").exists())
DOCS = ROOT / "docs"
README_PATH = ROOT / "README.md"
README = README_PATH.read_text()
LIFECYCLE = (DOCS / "lifecycle.md").read_text()
RULES = (DOCS / "rules.md").read_text()

#: A markdown link or image: [text](target) with an optional #anchor; external links excluded.
LINK = re.compile(r"!?\[[^\]]*\]\((?!https?://|mailto:)([^)#\s]*)(?:#([^)\s]*))?\)")


def test_configuration_table_is_the_settings_output() -> None:
    page = (DOCS / "configuration.md").read_text()
    assert markdown_table() in page, "run `python -m streams.settings`, paste the table there"


def test_status_table_matches_the_state_machine() -> None:
    for status, targets in TRANSITIONS.items():
        allowed = ", ".join(sorted(t.value for t in targets)) or "(final)"
        assert f"| {status.value} | {allowed} | {CATEGORIES[status].value} |" in LIFECYCLE


def test_example_shows_the_builtin_rules_version() -> None:
    assert f'"rules_version": "{RuleSet.default().version}"' in README


def test_rules_file_example_loads(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", RULES, re.S)
    assert block is not None
    path = tmp_path / "rules.yaml"
    path.write_text(block.group(1))
    config = RuleSet.from_file(path)
    assert config.value_tiers.for_currency("USD").high == Decimal(1500)
    assert config.version.startswith("q4-2026@")
    assert config.rules[0].then.team == "regional-desk"
    assert yaml.safe_load(block.group(1))["label"] == "q4-2026"


def test_readme_stays_short() -> None:
    size = len(README_PATH.read_bytes())
    assert size < 16_000, f"README.md is {size} bytes; move detail to a page under docs/"


def test_readme_links_every_doc_and_each_link_exists() -> None:
    linked = {target for target, _ in LINK.findall(README) if target.startswith("docs/")}
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")}
    assert {t for t in linked if t.endswith(".md")} >= pages, "link every docs/*.md page"
    for target in linked:
        assert (ROOT / target).is_file(), f"README links to missing {target}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def test_relative_links_in_readme_and_docs_resolve() -> None:
    """Every relative link and image of README.md and docs/*.md points at an existing file,
    and every #anchor into a markdown page names one of its headings."""
    for page in [README_PATH, *sorted(DOCS.glob("*.md"))]:
        text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for target, anchor in LINK.findall(text):
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name}: link to missing {target}"
            if anchor and path.suffix == ".md":
                assert anchor in anchors(path), f"{page.name}: no heading #{anchor} in {target}"


def test_rules_doc_lists_every_fact_and_operator() -> None:
    for name, fact in FACTS.items():
        kind = fact.kind + (f" ({', '.join(fact.choices)})" if fact.choices else "")
        assert f"| `{name}` | {kind} | {fact.doc} |" in RULES, f"fact {name} in docs/rules.md"
    for kind, operators in OPERATORS.items():
        assert f"| {kind} | {' '.join(f'`{o}`' for o in operators)} |" in RULES, kind
