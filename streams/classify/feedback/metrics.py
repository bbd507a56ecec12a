"""Evaluation figures for labelled feedback: what ``ordertriage feedback evaluate`` prints.

Plain Python over lists, so the numbers are easy to check by hand in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scored:
    """One labelled message and the classifier's answer."""

    label: str
    category: str
    confidence: float
    needs_review: bool
    language: str


def per_class(
    labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    out = {}
    for name in classes:
        tp = sum(1 for t, p in zip(labels, predicted, strict=True) if t == name and p == name)
        fp = sum(1 for t, p in zip(labels, predicted, strict=True) if t != name and p == name)
        fn = sum(1 for t, p in zip(labels, predicted, strict=True) if t == name and p != name)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out[name] = {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}
    return out


def macro_f1(labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> float:
    """Mean F1 over the classes that occur in ``labels`` (absent ones would only add zeros)."""
    table = per_class(labels, predicted, classes)
    present = [c for c in classes if table[c]["support"] > 0]
    return sum(table[c]["f1"] for c in present) / len(present) if present else 0.0


def confusion(
    labels: Sequence[str], predicted: Sequence[str], classes: Sequence[str]
) -> list[list[int]]:
    """Rows: true class; columns: predicted class; both in ``classes`` order."""
    index = {name: i for i, name in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for t, p in zip(labels, predicted, strict=True):
        if t in index and p in index:
            matrix[index[t]][index[p]] += 1
    return matrix


def expected_calibration_error(scored: Sequence[Scored], bins: int = 10) -> float:
    """Weighted mean |accuracy - confidence| over equal-width confidence bins."""
    if not scored:
        return 0.0
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [
            s for s in scored if low < s.confidence <= high or (b == 0 and s.confidence == 0)
        ]
        if members:
            accuracy = sum(s.label == s.category for s in members) / len(members)
            mean_conf = sum(s.confidence for s in members) / len(members)
            total += len(members) / len(scored) * abs(accuracy - mean_conf)
    return total


def report(scored: Sequence[Scored], classes: Sequence[str]) -> dict[str, Any]:
    """Every figure of the evaluate command, JSON-ready."""
    labels = [s.label for s in scored]
    predicted = [s.category for s in scored]
    routed = [s for s in scored if not s.needs_review]
    by_language: dict[str, float] = {}
    counts: dict[str, int] = {}
    for language in sorted({s.language for s in scored}):
        subset = [s for s in scored if s.language == language]
        counts[language] = len(subset)
        by_language[language] = macro_f1(
            [s.label for s in subset], [s.category for s in subset], classes
        )
    correct_routed = sum(s.label == s.category for s in routed)
    return {
        "messages": len(scored),
        "accuracy": sum(t == p for t, p in zip(labels, predicted, strict=True)) / len(scored)
        if scored
        else 0.0,
        "macro_f1": macro_f1(labels, predicted, classes),
        "per_class": per_class(labels, predicted, classes),
        "classes": list(classes),
        "confusion": confusion(labels, predicted, classes),
        "coverage": len(routed) / len(scored) if scored else 0.0,
        "review_share": 1 - len(routed) / len(scored) if scored else 0.0,
        "routed_precision": correct_routed / len(routed) if routed else 0.0,
        "ece": expected_calibration_error(scored),
        "per_language_macro_f1": by_language,
        "per_language_messages": counts,
    }
