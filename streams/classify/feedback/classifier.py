"""The feedback classifier: one call per message, rules and model blended, never raising.

    classifier = FeedbackClassifier.default()   # shipped model + the default rules file
    decision = classifier.classify("快递 three days late 还没到", channel="chat")
    decision.category, decision.confidence, decision.needs_review, decision.reasons

Pure: no Kafka, no HTTP, no metrics. The only I/O is loading the model artifact, in
:meth:`FeedbackClassifier.default` / :func:`streams.classify.feedback.artifact.load`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from schemas.events import FeedbackClassified, FeedbackReceived
from streams.classify.feedback import artifact
from streams.classify.feedback.decision import FeedbackDecision
from streams.classify.feedback.model import FeedbackModel, softmax
from streams.classify.feedback.signals import CompiledRules
from streams.classify.feedback.text import Language, detect_language, normalize, script_counts
from streams.classify.feedback_rules import FeedbackRules

_KNOWN_LANGUAGES = ("zh", "en", "mixed", "other")


class FeedbackClassifier:
    """A model and the feedback section of a rule set; build once, classify many."""

    def __init__(self, model: FeedbackModel, rules: FeedbackRules, rules_version: str) -> None:
        if list(model.classes) != list(rules.categories):
            raise ValueError(
                f"model {model.version} knows {model.classes}, the rules file lists"
                f" {rules.categories}; retrain with `ordertriage feedback train`"
            )
        self.model = model
        self.rules = rules
        self.rules_version = rules_version
        self._compiled = CompiledRules(rules)

    @classmethod
    def default(cls, model_dir: Path | None = None) -> FeedbackClassifier:
        """The shipped model (or one in ``model_dir``) with the default rules file."""
        from streams.classify.rules import RuleSet

        ruleset = RuleSet.default()
        return cls(artifact.load(model_dir), ruleset.feedback, ruleset.version)

    def classify(
        self,
        text: object,
        *,
        channel: str | None = None,
        rating: int | None = None,
        language: str | None = None,
    ) -> FeedbackDecision:
        """Classify one message; any input (even not a string) gives a decision, never raises.

        ``language`` given by the sender (zh, en, mixed) is kept; otherwise it is detected.
        """
        raw = text if isinstance(text, str) else ""
        normalized = normalize(raw)
        lang: Language = (
            language  # type: ignore[assignment]
            if language in _KNOWN_LANGUAGES
            else detect_language(raw, self.rules.mixed_language_share)
        )
        if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
            rating = None
        rules = self._compiled.score(normalized, channel, rating)
        rows = self.model.features([normalized])
        logits = self.model.logits(rows)[0]
        bonus = np.array([rules.bonus[c] for c in self.model.classes])
        probs = softmax(self.model.model_scale * logits + self.model.rule_scale * bonus)
        best = int(np.argmax(probs))
        category = self.model.classes[best]
        confidence = float(probs[best])
        reasons = list(rules.fired)
        reasons += [f"model:{f}" for f in self.model.strongest(rows[0], best)]
        too_short = sum(script_counts(normalized)) < self.rules.min_text_units
        if not normalized:
            reasons.append("empty text after normalization")
        elif too_short:
            reasons.append(f"too short: under {self.rules.min_text_units} words or characters")
        return FeedbackDecision(
            category=category,
            confidence=round(confidence, 4),
            needs_review=confidence < self.rules.review_threshold or too_short,
            language=lang,
            priority=self.rules.priority_of(category),
            model_version=self.model.version,
            rules_version=self.rules_version,
            reasons=reasons,
            scores={c: round(float(p), 4) for c, p in zip(self.model.classes, probs, strict=True)},
        )


def classify_event(classifier: FeedbackClassifier, event: FeedbackReceived) -> FeedbackDecision:
    """Classify a validated ``feedback.received`` event (its channel, rating and language)."""
    return classifier.classify(
        event.text, channel=event.channel.value, rating=event.rating, language=event.language
    )


def classified_record(
    event: FeedbackReceived, decision: FeedbackDecision, classified_at: datetime
) -> FeedbackClassified:
    """The ``feedback.classified`` record, with ``team``/``assignee`` left to routing."""
    return FeedbackClassified(
        feedback_id=event.feedback_id,
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        classified_at=classified_at,
        customer_id=event.customer_id,
        order_id=event.order_id,
        channel=event.channel,
        category=decision.category,
        confidence=decision.confidence,
        needs_review=decision.needs_review,
        language=decision.language,
        scores=decision.scores,
        model_version=decision.model_version,
        rules_version=decision.rules_version,
        reasons=decision.reasons,
        priority=decision.priority,
    )
