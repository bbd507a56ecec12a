"""streams.runtime.continuity: a record after skipped offsets is held back and read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from streams.runtime import continuity as guards
from streams.runtime.continuity import Continuity, FetchState, filtered

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


async def test_a_seek_rewinds_partitions_with_nothing_committed_and_sets_the_bases() -> None:
    """aiokafka's ``seek_to_committed`` leaves partitions with no (or a 0) committed offset
    where the fetcher left them; records Faust dropped mid-batch were then never delivered."""
    from aiokafka import TopicPartition
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    committed_tp, unset_tp, zero_tp = (TopicPartition("in", p) for p in range(3))
    changelog_tp = TopicPartition("app-orders-changelog", 0)
    rewound: list[TopicPartition] = []

    class FakeConsumer:
        async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
            return {committed_tp: 7, unset_tp: None, zero_tp: 0, changelog_tp: None}

        async def seek_to_beginning(self, *tps: TopicPartition) -> None:
            rewound.extend(tps)

        async def beginning_offsets(self, tps: list[TopicPartition]) -> dict:
            return {tp: 2 for tp in tps}  # retention deleted offsets 0 and 1

    class FakeApp:  # the patch looks up the bookkeeping of the app its consumer serves
        pass

    app = FakeApp()
    continuity = Continuity(exempt=lambda topic: topic.endswith("-changelog"))
    guards._GUARDS[app] = guards._Guard(continuity, lambda tp, missing, seen: None)  # type: ignore[index]
    guards._patch_faust()
    thread = object.__new__(AIOKafkaConsumerThread)
    thread.app = app  # type: ignore[assignment]
    thread._ensure_consumer = lambda: FakeConsumer()  # type: ignore[method-assign]

    async def call_thread(fn: Any) -> Any:
        return await fn()

    thread.call_thread = call_thread  # type: ignore[method-assign]
    result = await thread.seek_to_committed()
    assert result[committed_tp] == 7
    assert sorted(rewound) == [unset_tp, zero_tp]  # changelogs are Faust recovery's business
    assert continuity.commit_base == {TP("in", 0): 7, TP("in", 1): 2, TP("in", 2): 2}
    assert continuity.expected == continuity.commit_base


def test_commits_start_where_the_last_one_ended() -> None:
    c = Continuity()
    c.restart({A: 10})
    assert not c.may_commit(A, [11, 12])  # Faust would commit 13: offset 10 never processed
    assert c.may_commit(A, [10, 11, 12])
    c.committed(A, 13)
    assert not c.may_commit(A, [14]) and c.may_commit(A, [13, 14])
    assert c.may_commit(B, [5])  # nothing known about B (no seek recorded): Faust decides


async def test_a_jump_at_the_start_is_sought_back_to_the_committed_offset() -> None:
    c = Continuity()
    c.restart({A: 10})
    out, seeks, _ = await run(c, (A, 12))  # 10 and 11 were dropped before reaching us
    assert out == [] and seeks == [(A, 10)]
    out, _, _ = await run(c, (A, 10), (A, 11), (A, 12))
    assert out == [(A, 10), (A, 11), (A, 12)]


async def test_offsets_gone_from_the_log_move_the_commit_base_along() -> None:
    c = Continuity()
    c.restart({A: 10})
    await run(c, (A, 15))
    out, seeks, _ = await run(c, (A, 15))  # the log really starts at 15
    assert out == [(A, 15)] and seeks == []
    assert c.may_commit(A, [15])


async def test_a_record_the_stream_skipped_is_sought_back_to_before_the_next_fetch() -> None:
    """Released records (flow stopped, no rebalance after) would otherwise block every commit
    of their partition for good: the acked offsets after them never start at the base."""
    c = Continuity(exempt=lambda topic: topic.endswith("-changelog"))
    c.restart({A: 0, B: 0})
    await run(c, (A, 0), (A, 1), (A, 2), (B, 0))
    c.release(A, 1)
    c.release(A, 0)
    c.release(LOG, 4)  # changelogs are exempt
    assert not c.may_commit(A, [2])
    out, seeks, _ = await run(c, (A, 0), (A, 1), (A, 2), (B, 1))
    assert seeks == [(A, 0)] and out == [(A, 0), (A, 1), (A, 2), (B, 1)]
    _, seeks, _ = await run(c, (A, 3))
    assert seeks == []  # taken once


async def test_a_release_already_covered_by_a_commit_is_not_read_again() -> None:
    c = Continuity()
    c.restart({A: 0})
    await run(c, *((A, o) for o in range(5)))
    c.release(A, 3)
    c.committed(A, 5)  # re-read and committed after a seek in between
    _, seeks, _ = await run(c, (A, 5))
    assert seeks == []
    c.release(B, 2)
    c.forget([B])  # revoked: the next owner starts from the committed offset
    _, seeks, _ = await run(c, (B, 7))
    assert seeks == []


def test_a_commit_that_lands_after_a_seek_moves_the_base_up() -> None:
    """Sought to 21 while a commit of 29 was in flight: Faust then records acks from 29 only."""
    c = Continuity()
    c.restart({A: 21})
    assert not c.may_commit(A, [29, 30])
    assert c.may_commit(A, [29, 30], committed=29) and c.commit_base[A] == 29
    assert not c.may_commit(B, [5], committed=None) or B not in c.commit_base


async def tail_run(
    continuity: Continuity,
    positions: dict[TP, int],
    *records: tuple[TP, int],
    stops: int = 0,
) -> tuple[list, list]:
    """One batch whose client positions are ``positions`` after it; ``stops`` flow stops
    happen while it is read (Faust cuts the batch short then)."""
    seeks: list[tuple[TP, int]] = []
    epochs = iter([0, stops])

    async def seek(tp: TP, offset: int) -> None:
        seeks.append((tp, offset))

    state = FetchState(positions=lambda: positions, epoch=lambda: next(epochs))
    out = [
        (tp, m.offset)
        async for tp, m in filtered(batch(*records), continuity, seek, lambda *a: None, state)
    ]
    return out, seeks


async def test_records_dropped_at_the_end_of_a_partition_are_read_again() -> None:
    """Faust returned 5..11 from the client and dropped 8..11 (the flow stopped): no later
    record shows the jump, so the client's position does."""
    c = Continuity()
    c.restart({A: 5, B: 0})
    out, seeks = await tail_run(c, {A: 12, B: 1}, (A, 5), (A, 6), (A, 7), (B, 0), stops=1)
    assert out == [(A, 5), (A, 6), (A, 7), (B, 0)] and seeks == [(A, 8)]
    # Dropped again by another stop: sought back again, never given up.
    out, seeks = await tail_run(c, {A: 12, B: 1}, stops=1)
    assert seeks == [(A, 8)]
    out, seeks = await tail_run(c, {A: 12, B: 1}, (A, 8), (A, 9), (A, 10), (A, 11))
    assert out == [(A, 8), (A, 9), (A, 10), (A, 11)] and seeks == []
    assert c.expected[A] == 12 and A not in c.refetching


async def test_a_tail_without_records_is_passed_after_one_seek_back() -> None:
    """Compacted away (or markers): the client moves past offsets that hold nothing. One seek
    back to make sure; then the stream goes on from the position, as for a jump."""
    c = Continuity()
    c.restart({A: 3})
    _, seeks = await tail_run(c, {A: 6})  # not interrupted, but first seen: look again
    assert seeks == [(A, 3)]
    _, seeks = await tail_run(c, {A: 6})
    assert seeks == [] and c.expected[A] == 6 and c.commit_base[A] == 6


async def test_positions_at_the_next_offset_or_of_changelogs_need_nothing() -> None:
    c = Continuity(exempt=lambda topic: topic.endswith("-changelog"))
    c.restart({A: 4, LOG: 0})
    _, seeks = await tail_run(c, {A: 4, LOG: 90, B: 7}, stops=1)  # B: never sought, unknown
    assert seeks == []


async def test_positions_read_from_a_real_client_find_the_gaps_as_faust_partitions() -> None:
    """client_positions reads aiokafka's partition states directly (its keys are aiokafka's
    tuples): partitions without a position are left out, and a gap comes back as a Faust TP."""
    from aiokafka.consumer.subscription_state import SubscriptionState
    from aiokafka.structs import TopicPartition

    subscription = SubscriptionState()
    subscription.assign_from_user({TopicPartition("in", 0), TopicPartition("in", 1)})
    subscription.seek(TopicPartition("in", 0), 12)  # "in"[1] has no position yet
    consumer = SimpleNamespace(
        _thread=SimpleNamespace(_consumer=SimpleNamespace(_subscription=subscription))
    )
    positions = guards.client_positions(consumer)
    assert positions == {A: 12} and B not in positions
    c = Continuity()
    c.restart({A: 8, B: 0})
    gaps = c.tail_gaps(positions, interrupted=True)
    assert gaps == {A: 8} and all(type(tp) is TP for tp in gaps)
    assert c.tail_gaps(positions, interrupted=True, skip={A}) == {}
    assert guards.client_positions(SimpleNamespace()) == {}
