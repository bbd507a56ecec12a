"""Retraining on the shipped data with the shipped rules reproduces the shipped model."""

from __future__ import annotations

from streams.classify.feedback import artifact
from streams.classify.feedback.train import Example, train
from streams.classify.rules import RuleSet
from tests.unit.classify.conftest import read_jsonl


def test_retraining_reproduces_the_shipped_version() -> None:
    ruleset = RuleSet.default()
    examples = [
        Example(r["text"], r["label"], r["channel"], r["rating"], r["id"])
        for r in read_jsonl("train.jsonl")
    ]
    model = train(examples, ruleset.feedback, ruleset.version)
    assert model.version == artifact.load().version, "run `ordertriage feedback train`"
