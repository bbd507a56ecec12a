"""The ``feedback:`` section of the rules file: categories, keywords, signals, the threshold.

Parsed with pydantic as part of :class:`streams.classify.rules.RuleSet`, so a rule set's version
covers it and ``ordertriage rules validate`` checks it like every other section.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.events import Priority
from streams.classify.sla import Duration

DEFAULT_CATEGORIES = (
    "product_issue",
    "service_issue",
    "delivery_issue",
    "billing_issue",
    "suggestion",
    "praise",
)
Channel = Literal["app", "email", "phone", "chat", "review", "other"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Keywords(_Strict):
    """Words that point at one category; English ones match whole words, Chinese ones anywhere.

    ``weight`` is in logit units of the blend: each matching keyword adds it (up to
    ``max_hits`` keywords per category), so 1.0 is a nudge and 3.0 nearly decides alone.
    """

    weight: float = Field(default=1.0, ge=-10, le=10)
    max_hits: int = Field(default=2, ge=1, le=10)
    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)

    @field_validator("zh", "en")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if any(not word.strip() for word in value):
            raise ValueError("a keyword cannot be empty")
        return [word.strip().casefold() for word in value]


class Signal(_Strict):
    """A rule on the channel and rating: fires when every given condition holds.

    ``with_keyword_of``: also needs a keyword of that category (a 5-star review with praise
    words). A negative ``weight`` argues against the category (a 1-star rating is no praise).
    """

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    category: str = Field(min_length=1)
    weight: float = Field(ge=-10, le=10)
    channels: list[Channel] = Field(default_factory=list)
    min_rating: int | None = Field(default=None, ge=1, le=5)
    max_rating: int | None = Field(default=None, ge=1, le=5)
    with_keyword_of: str | None = None

    @model_validator(mode="after")
    def _has_condition(self) -> Signal:
        if not (self.channels or self.min_rating or self.max_rating or self.with_keyword_of):
            raise ValueError("a signal needs channels, min_rating, max_rating or with_keyword_of")
        return self


Language = Literal["zh", "en"]


def _both() -> list[Language]:
    return ["zh", "en"]


class Member(_Strict):
    """A person feedback can be assigned to (the id the notifier's config knows them by)."""

    id: str = Field(min_length=1)
    languages: list[Language] = Field(default_factory=_both)


class Team(_Strict):
    """Who handles a category: its members, and how one of them is chosen.

    ``round_robin`` takes members in turn; ``least_open`` the one with the fewest open items;
    ``by_language`` those who read the message's language (mixed: either), then least open.
    """

    role: str = Field(min_length=1, description="recipient_role of the team's notifications")
    strategy: Literal["round_robin", "least_open", "by_language"] = "least_open"
    members: list[Member] = Field(min_length=1)
    lead: str | None = Field(default=None, description="role that hears escalations")


class Routing(_Strict):
    """Category -> team; the review queue for ``needs_review``; account managers by customer."""

    categories: dict[str, str] = Field(default_factory=dict, description="category -> team")
    teams: dict[str, Team] = Field(default_factory=dict)
    review_role: str = Field(default="feedback_triage", min_length=1)
    #: customer_id -> member id: their feedback goes to that person (VIP customers' managers).
    account_managers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_teams(self) -> Routing:
        for category, team in self.categories.items():
            if team not in self.teams:
                raise ValueError(f"category {category!r} goes to unknown team {team!r}")
        return self


class FeedbackSla(_Strict):
    """Response clocks for feedback of some priorities: first response, then resolution.

    Acknowledged or responded stops the first-response clock; resolved stops resolution;
    reopened starts resolution again. Each step of ``ladder`` fires once per clock (the first
    goes to the assignee's team role, then escalations), like the order SLAs.
    """

    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    priorities: list[Priority] = Field(min_length=1)
    first_response: Duration
    resolution: Duration
    escalate_after: Duration | None = None
    ladder: list[str] = Field(
        min_length=1, description="roles; `team` is the assigned team's role, `lead` its lead"
    )


def _default_priorities() -> dict[str, Priority]:
    return {
        "product_issue": Priority.P3,
        "service_issue": Priority.P3,
        "delivery_issue": Priority.P3,
        "billing_issue": Priority.P2,
        "suggestion": Priority.P4,
        "praise": Priority.P4,
    }


class FeedbackRules(_Strict):
    """What the feedback classifier decides with, besides its trained model."""

    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES), min_length=2)
    review_threshold: float = Field(
        default=0.6, gt=0, lt=1, description="below this confidence: needs_review"
    )
    mixed_language_share: float = Field(
        default=0.1, gt=0, lt=0.5, description="minority script share that makes text mixed"
    )
    min_text_units: int = Field(
        default=2,
        ge=0,
        le=50,
        description="fewer Han characters plus Latin words than this: needs_review (ok, 嗯)",
    )
    keywords: dict[str, Keywords] = Field(default_factory=dict)
    signals: list[Signal] = Field(default_factory=list)
    priority: dict[str, Priority] = Field(
        default_factory=_default_priorities, description="default priority per category"
    )
    #: Categories that tag the order ``has-complaint`` and, on a high-value or VIP order, are
    #: raised one priority step.
    complaints: list[str] | None = Field(
        default=None, description="default: product_issue, service_issue, delivery_issue"
    )
    routing: Routing = Field(default_factory=Routing)
    slas: list[FeedbackSla] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_categories(self) -> FeedbackRules:
        known = set(self.categories)
        if len(known) != len(self.categories):
            raise ValueError("a category is listed twice")
        used = [*self.keywords, *self.priority, *(self.complaints or ()), *self.routing.categories]
        used += [s.category for s in self.signals]
        used += [s.with_keyword_of for s in self.signals if s.with_keyword_of]
        for name in used:
            if name not in known:
                raise ValueError(f"unknown category {name!r}; categories are {sorted(known)}")
        ids = [s.id for s in self.signals]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"signal id {twice[0]!r} is used twice")
        return self

    def is_complaint(self, category: str) -> bool:
        defaults = ("product_issue", "service_issue", "delivery_issue")
        return category in (defaults if self.complaints is None else self.complaints)

    def signature(self) -> str:
        """A hash of what the model's calibration depends on (categories, keywords, signals).

        The model records it, not the rule set's version: editing routing, SLAs, priorities,
        the threshold or any order rule then needs no retraining."""
        body = self.model_dump(mode="json", include={"categories", "keywords", "signals"})
        canonical = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return f"fbr-{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    def priority_of(self, category: str) -> Priority:
        return self.priority.get(category, Priority.P3)
