"""Changelog partitions paused at the client after recovery, in the right generation only."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka.consumer.subscription_state import SubscriptionState
from aiokafka.structs import TopicPartition
from faust.types import TP

from streams.runtime import changelog_pause

ORDERS = TopicPartition("orders-changelog", 0)
WINDOWS = TopicPartition("windows-changelog", 1)
INPUT = TopicPartition("orders.created", 0)


def client(generation: int, *tps: TopicPartition) -> SimpleNamespace:
    subscription = SubscriptionState()
    subscription.assign_from_user(set(tps))
    return SimpleNamespace(
        _subscription=subscription, _coordinator=SimpleNamespace(generation=generation)
    )


def paused(c: SimpleNamespace) -> set[TopicPartition]:
    result: set[TopicPartition] = c._subscription.paused_partitions()
    return result


async def test_pauses_the_given_partitions_it_owns_in_the_same_generation() -> None:
    c = client(7, ORDERS, WINDOWS, INPUT)
    other = TopicPartition("orders-changelog", 3)  # moved away meanwhile
    assert changelog_pause._pause_in_generation(c, [ORDERS, WINDOWS, other], 7) == 2
    assert paused(c) == {ORDERS, WINDOWS}


async def test_a_newer_generation_keeps_its_partitions_for_its_own_recovery() -> None:
    c = client(8, ORDERS, INPUT)
    assert changelog_pause._pause_in_generation(c, [ORDERS], 7) == 0
    assert paused(c) == set()


async def test_no_assignment_pauses_nothing() -> None:
    c = SimpleNamespace(
        _subscription=SubscriptionState(), _coordinator=SimpleNamespace(generation=7)
    )
    assert changelog_pause._pause_in_generation(c, [ORDERS], 7) == 0


async def test_the_partitions_are_paused_in_the_consumer_thread() -> None:
    """aiokafka's client belongs to Faust's consumer thread: the pause runs there."""
    c = client(7, ORDERS, WINDOWS, INPUT)
    calls: list[object] = []

    async def call_thread(fun, *args):  # type: ignore[no-untyped-def]
        calls.append(fun)
        return fun(*args)

    app = SimpleNamespace(
        consumer=SimpleNamespace(
            _thread=SimpleNamespace(_ensure_consumer=lambda: c, call_thread=call_thread)
        ),
    )
    tps = [TP(tp.topic, tp.partition) for tp in (ORDERS, WINDOWS)]
    assert await changelog_pause.pause_changelogs(app, tps, 7) == 2  # type: ignore[arg-type]
    assert paused(c) == {ORDERS, WINDOWS} and calls == [changelog_pause._pause_in_generation]
    assert await changelog_pause.pause_changelogs(app, [], 7) == 0  # type: ignore[arg-type]
