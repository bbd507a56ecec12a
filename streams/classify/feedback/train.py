"""Training: fit the model on labelled feedback and calibrate the rules-plus-model blend.

Deterministic (fixed folds, a deterministic solver, float32 rounding before hashing), so the
same data and rules give the same model version. Reading files is the caller's job.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import StratifiedKFold

from streams.classify.feedback.model import FeedbackModel, FloatArray, fit_linear, softmax
from streams.classify.feedback.signals import CompiledRules
from streams.classify.feedback.text import normalize
from streams.classify.feedback_rules import FeedbackRules

#: Inverse regularization strength, tuned on the dev split (docs/feedback.md).
DEFAULT_C = 20.0
FOLDS = 5
SEED = 0


@dataclass(frozen=True)
class Example:
    """One labelled feedback line (the JSON lines of ``data/train.jsonl``)."""

    text: str
    label: str
    channel: str | None = None
    rating: int | None = None
    id: str = ""


def rule_bonuses(rules: FeedbackRules, examples: Sequence[Example]) -> FloatArray:
    """Rule logits per example, columns in ``rules.categories`` order."""
    compiled = CompiledRules(rules)
    rows = []
    for example in examples:
        bonus = compiled.score(normalize(example.text), example.channel, example.rating).bonus
        rows.append([bonus[c] for c in rules.categories])
    return np.array(rows, dtype=np.float64).reshape(len(examples), len(rules.categories))


def fit_scales(logits: FloatArray, bonus: FloatArray, truth: np.ndarray) -> tuple[float, float]:
    """Scales ``a``, ``b`` minimizing the log loss of ``softmax(a * logits + b * bonus)``."""

    def loss(params: np.ndarray) -> float:
        probs = softmax(params[0] * logits + params[1] * bonus)
        picked = probs[np.arange(len(truth)), truth]
        return float(-np.mean(np.log(np.clip(picked, 1e-12, None))))

    result = minimize(loss, x0=[1.0, 1.0], method="L-BFGS-B", bounds=[(0.05, 20), (0, 10)])
    return round(float(result.x[0]), 4), round(float(result.x[1]), 4)


def out_of_fold_logits(
    texts: Sequence[str], labels: Sequence[str], classes: Sequence[str], c: float
) -> FloatArray:
    """Each example scored by a model that never saw it: what calibration must see."""
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=SEED)
    out = np.zeros((len(texts), len(classes)))
    for train_idx, test_idx in folds.split(np.zeros(len(labels)), labels):
        model = fit_linear(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx], classes, c
        )
        out[test_idx] = model.logits(model.features([texts[i] for i in test_idx]))
    return out


def train(examples: Sequence[Example], rules: FeedbackRules, c: float = DEFAULT_C) -> FeedbackModel:
    """Fit on every example, calibrate on out-of-fold scores; raise ``ValueError`` on bad data."""
    classes = list(rules.categories)
    counts = Counter(e.label for e in examples)
    unknown = sorted(set(counts) - set(classes))
    if unknown:
        raise ValueError(f"labels not among the rules file's categories: {unknown}")
    scarce = [c for c in classes if counts[c] < FOLDS]
    if scarce:
        raise ValueError(f"every category needs at least {FOLDS} examples; too few: {scarce}")
    texts = [normalize(e.text) for e in examples]
    labels = [e.label for e in examples]
    model = fit_linear(texts, labels, classes, c)
    oof = out_of_fold_logits(texts, labels, classes, c)
    truth = np.array([classes.index(label) for label in labels])
    model_scale, rule_scale = fit_scales(oof, rule_bonuses(rules, examples), truth)
    meta = {
        "calibrated_with_rules": rules.signature(),
        "c": c,
        "examples": dict(sorted(counts.items())),
    }
    return dataclasses.replace(model, model_scale=model_scale, rule_scale=rule_scale, meta=meta)
