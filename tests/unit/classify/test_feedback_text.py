"""Normalization and language detection: total over Unicode, script share decides."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.classify.feedback.text import (
    MAX_CLASSIFY_CHARS,
    clean,
    detect_language,
    normalize,
)


def test_full_width_becomes_half_width_and_case_folds() -> None:
    assert normalize("ＡＰＰ闪退，ＯＫ？１２３") == "app闪退,ok?123"


def test_control_and_format_characters_are_dropped_and_spaces_collapse() -> None:
    assert clean("a\x00b\u200bc\t\n  d\x7f") == "abc d"


def test_long_text_is_cut_not_rejected() -> None:
    assert len(clean("x" * (MAX_CLASSIFY_CHARS * 3))) == MAX_CLASSIFY_CHARS


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("净水器滤芯卡口跟机器对不上，根本装不进去", "zh"),
        ("The kettle leaks from the base", "en"),
        ("快递 three days late 还没到", "mixed"),
        ("退款 still pending after two weeks", "mixed"),
        # A brand or acronym inside Chinese text does not make it mixed.
        ("APP更新以后一打开就闪退，已经卸载重装了还是不行", "zh"),
        ("👍👍👍", "other"),
        ("12345 !!!", "other"),
        ("", "other"),
    ],
)
def test_language_by_script_share(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_mixed_share_is_a_parameter() -> None:
    text = "我们订阅的系统最近导出报表一直报错，请尽快 fix it"
    assert detect_language(text, mixed_share=0.05) == "mixed"
    assert detect_language(text, mixed_share=0.3) == "zh"


@given(st.text())
def test_any_unicode_normalizes_and_gets_a_language(text: str) -> None:
    normalized = normalize(text)
    assert normalized == normalized.strip()
    assert "\x00" not in normalized
    normalized.encode("utf-8")  # no lone surrogates survive
    assert detect_language(text) in ("zh", "en", "mixed", "other")


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1).map(lambda s: "\ud800" + s))
def test_lone_surrogates_are_dropped(text: str) -> None:
    normalize(text).encode("utf-8")
