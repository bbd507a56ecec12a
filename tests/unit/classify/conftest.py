"""One shipped classifier per test session: loading is cheap, importing scikit-learn is not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streams.classify.feedback.classifier import FeedbackClassifier

DATA = Path(__file__).resolve().parents[3] / "streams" / "classify" / "feedback" / "data"


def read_jsonl(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def classifier() -> FeedbackClassifier:
    return FeedbackClassifier.default()
