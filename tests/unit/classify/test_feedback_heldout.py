"""The shipped classifier on feedback written apart from its training data (held out).

``tests/data/feedback/heldout.jsonl`` was written by another author who never saw the training
or dev data (its README says how). The issue's targets are asserted, so a retrained model or a
rules change that generalises worse fails here, not in production.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from streams.cli.main import main

HELDOUT = Path(__file__).parents[2] / "data" / "feedback" / "heldout.jsonl"


def test_held_out_feedback_meets_the_targets() -> None:
    result = CliRunner().invoke(main, ["feedback", "evaluate", "--jsonl", str(HELDOUT), "--json"])
    assert result.exit_code == 0, result.output
    figures = orjson.loads(result.output)
    assert figures["messages"] >= 360 and figures["skipped"] == 0
    assert figures["macro_f1"] >= 0.90, figures["per_class"]
    assert figures["routed_precision"] >= 0.95
    assert figures["review_share"] <= 0.25
