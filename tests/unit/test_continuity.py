"""streams.continuity: a record after skipped offsets is held back and the skip read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.continuity import Continuity, filtered

A, B, LOG = TP("in", 0), TP("in", 1), TP("t-changelog", 0)


async def batch(*records: tuple[TP, int]) -> AsyncIterator[tuple[TP, Any]]:
    for tp, offset in records:
        yield tp, SimpleNamespace(offset=offset)


async def run(continuity: Continuity, *records: tuple[TP, int]) -> tuple[list, list, list]:
    seeks: list[tuple[TP, int]] = []
    refetched: list[tuple[TP, int, int]] = []

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    out = [
        (tp, m.offset)
        async for tp, m in filtered(
            batch(*records), continuity, seek, lambda *a: refetched.append(a)
        )
    ]
    return out, seeks, refetched


async def test_a_jump_is_held_back_and_read_again() -> None:
    c = Continuity(exempt=lambda topic: topic.endswith("-changelog"))
    out, seeks, refetched = await run(c, (A, 5), (A, 6), (B, 0), (A, 9), (A, 10), (B, 1))
    assert out == [(A, 5), (A, 6), (B, 0), (B, 1)]  # 9 and 10 wait for 7 and 8
    assert seeks == [(A, 7)] and refetched == [(A, 7, 9)]

    out, seeks, _ = await run(c, (A, 7), (A, 8), (A, 9), (A, 10))
    assert out == [(A, 7), (A, 8), (A, 9), (A, 10)] and seeks == []


async def test_offsets_missing_from_the_log_after_a_seek_back_are_passed() -> None:
    c = Continuity()
    await run(c, (A, 0))
    out, seeks, _ = await run(c, (A, 4))
    assert out == [] and seeks == [(A, 1)]
    out, seeks, _ = await run(c, (A, 4), (A, 5))  # the broker still starts at 4: 1..3 gone
    assert out == [(A, 4), (A, 5)] and seeks == []


async def test_rebalances_and_changelogs_start_afresh() -> None:
    c = Continuity(exempt=lambda topic: topic.endswith("-changelog"))
    await run(c, (A, 10), (LOG, 3))
    out, _, _ = await run(c, (LOG, 9))  # compacted: jumps are normal
    assert out == [(LOG, 9)]
    c.forget([A])  # a rebalance sought A to its committed offset
    out, seeks, _ = await run(c, (A, 2), (A, 3))
    assert out == [(A, 2), (A, 3)] and seeks == []
    out, _, _ = await run(c, (A, 1))  # a seek back (re-read) is passed as well
    assert out == [(A, 1)]
