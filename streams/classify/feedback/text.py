"""Text normalization and language detection: the same steps at training and at run time.

Everything here is total over ``str``: any Unicode, lone surrogates included, gives a result and
never raises, because the classifier must not crash an agent on a strange message.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["zh", "en", "mixed", "other"]

#: Characters classified at most; longer text is cut (the event model rejects it earlier).
MAX_CLASSIFY_CHARS = 20_000
_SPACE = re.compile(r"\s+")
_LATIN_WORD = re.compile(r"[a-z][a-z']*")
_ACRONYM = re.compile(r"\b[A-Z]{2,5}\b")


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF
        or 0x3400 <= code <= 0x4DBF
        or 0x20000 <= code <= 0x2A6DF
        or 0xF900 <= code <= 0xFAFF
    )


def clean(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to half-width), no control characters.

    Control, format and surrogate characters are dropped; tabs and line breaks become spaces.
    """
    text = text[: MAX_CLASSIFY_CHARS * 2]
    # Lone surrogates cannot be normalized; drop them first.
    text = "".join(ch for ch in text if not 0xD800 <= ord(ch) <= 0xDFFF)
    text = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in "\t\n\r\f\v":
            kept.append(" ")
        elif category not in ("Cc", "Cf", "Cs", "Co", "Cn"):
            kept.append(ch)
    return _SPACE.sub(" ", "".join(kept)).strip()[:MAX_CLASSIFY_CHARS]


def normalize(text: str) -> str:
    """What the model and the keyword rules see: :func:`clean`, then case-folded."""
    return clean(text).casefold()


def script_counts(text: str) -> tuple[int, int]:
    """(Han characters, Latin words) of cleaned text; acronyms (APP, CRM, TV) are not English."""
    han = sum(1 for ch in text if _is_han(ch))
    words = len(_LATIN_WORD.findall(_ACRONYM.sub(" ", text).casefold()))
    return han, words


def detect_language(text: str, mixed_share: float = 0.1) -> Language:
    """zh, en or mixed by script share: a Han character and a Latin word count one each.

    ``mixed`` when the smaller script has at least ``mixed_share`` of the units; ``other`` when
    there is neither (emoji only, digits, other scripts). No downloaded model is involved.
    """
    han, words = script_counts(clean(text))
    total = han + words
    if total == 0:
        return "other"
    if min(han, words) / total >= mixed_share:
        return "mixed"
    return "zh" if han > words else "en"
