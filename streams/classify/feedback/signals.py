"""The rules half of the blend: keyword and channel/rating signals as per-category logits.

Compiled once per rule set; scoring a message is a few regex searches and substring tests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streams.classify.feedback_rules import FeedbackRules


@dataclass(frozen=True)
class RuleScore:
    """Per category the summed weight of what fired, and what fired (``keyword:...``)."""

    bonus: dict[str, float]
    fired: list[str]
    keyword_hits: dict[str, list[str]]


def _english(word: str) -> re.Pattern[str]:
    # Whole words, with the common inflections: "charge" also matches "charged", "charges".
    return re.compile(rf"(?<![a-z0-9]){re.escape(word)}(?:s|es|d|ed|ing)?(?![a-z0-9])")


class CompiledRules:
    """A :class:`FeedbackRules` ready to score normalized (case-folded) text."""

    def __init__(self, rules: FeedbackRules) -> None:
        self.rules = rules
        self._zh = {cat: kw.zh for cat, kw in rules.keywords.items()}
        self._en = {cat: [(w, _english(w)) for w in kw.en] for cat, kw in rules.keywords.items()}

    def hits(self, text: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for category in self.rules.keywords:
            words = [w for w in self._zh[category] if w in text]
            words += [w for w, pattern in self._en[category] if pattern.search(text)]
            if words:
                found[category] = words
        return found

    def score(self, text: str, channel: str | None, rating: int | None) -> RuleScore:
        """``text`` is normalized; ``channel`` and ``rating`` may be missing (no signal)."""
        bonus = dict.fromkeys(self.rules.categories, 0.0)
        fired: list[str] = []
        keyword_hits = self.hits(text)
        for category, words in keyword_hits.items():
            keywords = self.rules.keywords[category]
            bonus[category] += keywords.weight * min(len(words), keywords.max_hits)
            fired.extend(f"keyword:{category}:{w}" for w in words[: keywords.max_hits])
        for signal in self.rules.signals:
            if signal.channels and channel not in signal.channels:
                continue
            if signal.min_rating is not None and (rating is None or rating < signal.min_rating):
                continue
            if signal.max_rating is not None and (rating is None or rating > signal.max_rating):
                continue
            if signal.with_keyword_of and signal.with_keyword_of not in keyword_hits:
                continue
            bonus[signal.category] += signal.weight
            fired.append(f"signal:{signal.id}")
        return RuleScore(bonus=bonus, fired=fired, keyword_hits=keyword_hits)
