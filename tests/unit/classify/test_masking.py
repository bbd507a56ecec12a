"""Phones and e-mails in free text are masked; what only looks a little like them is not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.classify.masking import EMAIL_MASK, PHONE_MASK, mask_optional, mask_text


@pytest.mark.parametrize(
    "text",
    [
        "138-0013-8000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "13800138000",
        "0086 138 0013 8000",
        "+86-10-5555-0101",
        "(010) 5555-0101",
        "010-55550101",
        "+1 (415) 555-0100",
        "+44 20 7946 0958",
        # Invalid numbers are personal data too: a digit missing, one too many, a bad prefix.
        "138-0013-800",
        "138001380001",
        "100-0000-0000",
        "1234567",
    ],
)
def test_phone_numbers_are_masked_alone_and_inside_text(text: str) -> None:
    assert mask_text(text) == PHONE_MASK
    assert mask_text(f"请联系我{text}谢谢") == f"请联系我{PHONE_MASK}谢谢"
    assert mask_text(f"call me on {text}, thanks") == f"call me on {PHONE_MASK}, thanks"
    assert text not in mask_text(f"电话:{text}。")


@pytest.mark.parametrize(
    "text",
    ["wei.zhang@example.com", "a+tag@mail.example.cn", "li_na@163.com", "wei\uff20example.com"],
)
def test_email_addresses_are_masked(text: str) -> None:
    assert mask_text(f"邮箱 {text} 或者") == f"邮箱 {EMAIL_MASK} 或者"


@pytest.mark.parametrize(
    "text",
    [
        "order SO-20261202-0001 arrived",
        "paid 12800.00 CNY for 3 items",
        "delivered 2026-12-02 at 14:30",
        "model v1.2.3456789",
        "sku ABC-1234567",
        "123456",
        "rated 5 of 5",
        "发票抬头开错了,多扣了两百块钱",
    ],
)
def test_dates_amounts_ids_and_words_are_kept(text: str) -> None:
    assert mask_text(text) == text


def test_two_numbers_and_an_address_in_one_message() -> None:
    text = "打138 0013 8000或13900139000,或发邮件到 wei@example.com"
    assert mask_text(text) == f"打{PHONE_MASK}或{PHONE_MASK},或发邮件到 {EMAIL_MASK}"
    assert mask_optional(None) is None


@given(st.from_regex(r"1[3-9]\d{9}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_any_chinese_mobile_in_any_grouping_is_masked(number: str, sep: str) -> None:
    grouped = sep.join((number[:3], number[3:7], number[7:]))
    masked = mask_text(f"我的手机{grouped}请回电")
    assert number[3:] not in masked.replace(sep, "") and PHONE_MASK in masked
