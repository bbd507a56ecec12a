"""Phone numbers and e-mail addresses inside free text, masked before the text travels on.

Pure and greedy on purpose: a mistyped or foreign number is personal data too, so anything
that looks like a phone (7 to 15 digits, optionally grouped by spaces, hyphens or brackets,
optionally with a ``+`` country code) is masked; dates, times, amounts and ids are not.
"""

from __future__ import annotations

import re

EMAIL_MASK = "[email]"
PHONE_MASK = "[phone]"

# ASCII local part and domain (what mail systems accept), either @ or the full-width at sign.
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]+\s?[@\uff20]\s?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# A run of digits grouped by single spaces, hyphens or brackets; not glued to an ASCII word
# (order ids like SO-20261202-0001), and Chinese text around it is fine (电话13800138000).
_PHONE = re.compile(
    r"(?<![A-Za-z0-9_\-+.])"
    r"(?:\+|00|\uff10\uff10)?\(?\d[\d\s\-()\uff08\uff09]{5,22}\d"
    r"(?![A-Za-z0-9_]|[.,]\d)"
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Fewer digits is a quantity or a short id; more than 15 (E.164's maximum) is masked anyway:
#: two numbers side by side are still two phone numbers.
_MIN_DIGITS = 7


def _phone(match: re.Match[str]) -> str:
    found = match.group(0)
    if sum(c.isdigit() for c in found) < _MIN_DIGITS or _ISO_DATE.match(found):
        return found
    return PHONE_MASK


def mask_text(text: str) -> str:
    """``text`` with every e-mail address and phone-like number replaced by a fixed token."""
    masked = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE.sub(_phone, masked)


def mask_optional(text: str | None) -> str | None:
    return None if text is None else mask_text(text)
