"""The one ledger verdict every stateful agent uses: first, our replay, or a duplicate."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.classify.ledger import Seen, by_identity, by_watermark


def test_an_id_not_recorded_is_applied_for_the_first_time() -> None:
    assert by_identity(None, "orders.created/0/7") is Seen.FIRST


def test_the_same_record_read_again_is_our_replay() -> None:
    assert by_identity("orders.created/0/7", "orders.created/0/7") is Seen.REPLAY


def test_the_same_id_from_another_record_is_an_upstream_duplicate() -> None:
    assert by_identity("orders.created/0/7", "orders.created/0/9") is Seen.DUPLICATE
    assert by_identity(3, 4) is Seen.DUPLICATE  # offsets work as positions too


@given(st.integers(min_value=-1, max_value=10**12), st.integers(min_value=0, max_value=10**12))
def test_a_watermark_absorbed_every_offset_up_to_it_and_none_after(
    watermark: int, offset: int
) -> None:
    seen = by_watermark(watermark, offset)
    assert seen is (Seen.FIRST if offset > watermark else Seen.REPLAY)
    assert seen is not Seen.DUPLICATE  # an aggregate cannot tell; identities do that
