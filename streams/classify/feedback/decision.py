"""What the feedback classifier decided about one message: a light module (no numpy or
scikit-learn), so the records that carry a decision import cheaply."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from schemas.events import Priority
from streams.classify.feedback.text import Language


class FeedbackDecision(BaseModel):
    """What the classifier decided about one message, and why."""

    model_config = ConfigDict(frozen=True)

    category: str
    confidence: float = Field(description="calibrated probability of `category`")
    needs_review: bool = Field(description="confidence below the rules file's review_threshold")
    language: Language
    priority: Priority = Field(description="default priority of the category (rules file)")
    model_version: str
    rules_version: str
    reasons: list[str] = Field(description="rules that fired, then the strongest model features")
    scores: dict[str, float] = Field(description="calibrated probability per category")
