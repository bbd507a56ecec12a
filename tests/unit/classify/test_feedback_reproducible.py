"""Retraining on the shipped data with the shipped rules reproduces the shipped model.

Equal up to float rounding, not bit for bit: the solver's last bits differ between CPUs (the
same lock gave another content hash on another machine of the same kind), so the check
compares what the model is made of, with a tolerance far below what changes a decision.
"""

from __future__ import annotations

import numpy as np

from streams.classify.feedback import artifact
from streams.classify.feedback.train import Example, train
from streams.classify.rules import RuleSet
from tests.unit.classify.conftest import read_jsonl


def test_retraining_reproduces_the_shipped_model() -> None:
    ruleset = RuleSet.default()
    examples = [
        Example(r["text"], r["label"], r["channel"], r["rating"], r["id"])
        for r in read_jsonl("train.jsonl")
    ]
    model, shipped = train(examples, ruleset.feedback), artifact.load()
    hint = "run `ordertriage feedback train`"
    fresh, old = model.metadata(), shipped.metadata()
    fresh_scales, old_scales = fresh.pop("calibration"), old.pop("calibration")
    assert fresh == old, hint
    for key, value in fresh_scales.items():
        assert abs(value - old_scales[key]) <= 1e-4 * max(1.0, abs(value)), hint
    for name, array in model.arrays().items():
        np.testing.assert_allclose(array, shipped.arrays()[name], rtol=1e-4, atol=1e-6)
