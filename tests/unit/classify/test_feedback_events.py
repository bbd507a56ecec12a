"""The feedback event models: the contract of issue 15 and its bad-input rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.events import (
    FEEDBACK_MAX_CHARS,
    FeedbackClassified,
    FeedbackReceived,
    FeedbackStatusChanged,
    Priority,
)

ISSUE_EXAMPLE: dict[str, Any] = {
    "event_id": "e-1",
    "schema_version": 1,
    "occurred_at": "2026-12-01T10:00:00+08:00",
    "feedback_id": "FB-1",
    "channel": "app",
    "customer_id": "C-42",
    "order_id": "SO-1001",
    "text": "净水器滤芯卡口跟机器对不上,根本装不进去",
    "rating": 2,
}


def received(**changes: Any) -> FeedbackReceived:
    return FeedbackReceived.model_validate({**ISSUE_EXAMPLE, **changes})


def test_the_issue_example_validates_and_optionals_may_be_missing() -> None:
    event = received()
    assert event.rating == 2 and event.order_id == "SO-1001" and event.language is None
    minimal = {k: v for k, v in ISSUE_EXAMPLE.items() if k not in ("order_id", "rating")}
    assert FeedbackReceived.model_validate(minimal).order_id is None


def test_unknown_fields_are_kept_like_the_order_events() -> None:
    assert received(source_system="crm").model_extra == {"source_system": "crm"}


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "\x00\x01 \x7f"])
def test_empty_or_whitespace_text_is_rejected(text: str) -> None:
    with pytest.raises(ValidationError, match="text is empty"):
        received(text=text)


def test_text_over_the_bound_is_rejected_with_its_length() -> None:
    received(text="好" * FEEDBACK_MAX_CHARS)
    with pytest.raises(ValidationError, match=f"20001 characters; at most {FEEDBACK_MAX_CHARS}"):
        received(text="好" * (FEEDBACK_MAX_CHARS + 1))
    with pytest.raises(ValidationError, match="1000000 characters"):
        received(text="x" * 1_000_000)


def test_control_characters_are_stripped_but_tabs_and_newlines_kept() -> None:
    assert received(text="坏了\x00\x1b[31m\x85\tline\nnext").text == "坏了[31m\tline\nnext"


@pytest.mark.parametrize(
    "changes",
    [
        {"channel": "fax"},
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"occurred_at": "2026-12-01T10:00:00"},
        {"language": "fr"},
        {"feedback_id": ""},
    ],
)
def test_bad_fields_are_rejected(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        received(**changes)


def test_status_change_needs_who_changed_it() -> None:
    base = {
        "event_id": "e-2",
        "occurred_at": "2026-12-01T11:00:00+08:00",
        "feedback_id": "FB-1",
        "status": "reopened",
    }
    with pytest.raises(ValidationError):
        FeedbackStatusChanged.model_validate(base)
    event = FeedbackStatusChanged.model_validate({**base, "changed_by": "agent-7"})
    assert event.status == "reopened"
    with pytest.raises(ValidationError):
        FeedbackStatusChanged.model_validate({**base, "changed_by": "a", "status": "closed"})


def test_classified_output_forbids_unknown_fields_and_bounds_confidence() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    fields: dict[str, Any] = {
        "feedback_id": "FB-1",
        "event_id": "e-1",
        "occurred_at": now,
        "classified_at": now,
        "customer_id": "C-42",
        "channel": "app",
        "category": "product_issue",
        "confidence": 0.93,
        "needs_review": False,
        "language": "zh",
        "scores": {"product_issue": 0.93},
        "model_version": "fb-1",
        "rules_version": "default@1",
        "reasons": [],
        "priority": Priority.P3,
    }
    event = FeedbackClassified(**fields)
    assert event.team is None and event.assignee is None
    with pytest.raises(ValidationError):
        FeedbackClassified(**{**fields, "confidence": 1.5})
    with pytest.raises(ValidationError):
        FeedbackClassified(**fields, text="no text in outputs")
