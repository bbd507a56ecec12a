"""Which changelog records recovery keeps: those whose input offset the group committed."""

from __future__ import annotations

from streams.changelog import CommittedOffsets, input_header, parse_input_header


def test_the_input_header_round_trips() -> None:
    header = input_header("t1.orders.status-changed", 3, 1234)
    assert parse_input_header(header) == ("t1.orders.status-changed", 3, 1234)


def test_records_of_committed_input_are_kept_the_rest_skipped() -> None:
    offsets = CommittedOffsets("unused:9092", "group")
    offsets.offsets = {("in", 0): 10}
    assert offsets.committed(input_header("in", 0, 9))  # processed and committed
    assert not offsets.committed(input_header("in", 0, 10))  # will be processed again
    assert not offsets.committed(input_header("in", 1, 0))  # nothing committed there yet


def test_unknown_committed_offsets_filter_nothing() -> None:
    offsets = CommittedOffsets("unused:9092", "group")
    assert offsets.offsets is None
    assert offsets.committed(input_header("in", 0, 10**9))


async def test_offsets_are_read_again_at_every_rebalance() -> None:
    reads: list[int] = []
    offsets = CommittedOffsets("unused:9092", "group")

    async def fetch() -> dict[tuple[str, int], int]:
        reads.append(1)
        return {("in", 0): len(reads)}

    offsets._fetch = fetch  # type: ignore[method-assign]
    first: set[object] = set()
    await offsets.refresh(first)
    await offsets.refresh(first)  # another table of the same rebalance
    assert offsets.offsets == {("in", 0): 1}
    await offsets.refresh(set())  # the next rebalance, whatever its generation id
    assert offsets.offsets == {("in", 0): 2}
