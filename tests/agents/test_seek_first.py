"""streams.runtime.seek_first on the real app: a resumed stream partition waits for its seek."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

import pytest
from faust.types import TP

from tests.agents.conftest import ot

STREAM = TP(ot.topics.status_changed.get_topic_name(), 0)
CHANGELOG = TP(ot.tables.orders.changelog_topic.get_topic_name(), 0)


@pytest.fixture(autouse=True)
def _consumer_flow_restored() -> Iterator[None]:
    consumer = ot.app.consumer
    active, paused = set(consumer._get_active_partitions()), set(consumer._paused_partitions)
    yield
    consumer._set_active_tps(active)
    consumer._paused_partitions.clear()
    consumer._paused_partitions.update(paused)


async def test_stream_partitions_resumed_after_a_rebalance_deliver_only_after_their_seek() -> None:
    """Faust's recovery resumes the stream partitions, then awaits the seek to their committed
    offsets; in between, aiokafka handed over records it had prefetched before the rebalance,
    past one the rebalance dropped (scale-1-4-1: status changes applied out of order)."""
    consumer = ot.app.consumer
    active = consumer._get_active_partitions()
    seen_at_seek: list[bool] = []

    async def seek_to_committed() -> dict[TP, int]:
        seen_at_seek.append(STREAM in active)
        return {STREAM: 7}

    with (
        patch.object(consumer, "assignment", lambda: {STREAM, CHANGELOG}),
        patch.object(consumer, "seek_to_committed", seek_to_committed),
    ):
        consumer.pause_partitions({STREAM, CHANGELOG})  # a rebalance began
        consumer.resume_partitions({STREAM, CHANGELOG})  # recovery ends: Faust's order
        assert CHANGELOG in active and STREAM not in active
        consumer.on_buffer_drop(STREAM)  # its agent's queue drained meanwhile: still paused
        assert STREAM not in active
        await consumer.perform_seek()
    assert seen_at_seek == [False]
    assert STREAM in active and STREAM not in consumer._paused_partitions
    assert consumer._read_offset[STREAM] == 7  # Faust's own bookkeeping of the seek


async def test_a_partition_revoked_before_its_seek_is_not_resumed() -> None:
    consumer = ot.app.consumer
    active = consumer._get_active_partitions()

    async def seek_to_committed() -> dict[TP, int]:
        return {}

    with patch.object(consumer, "seek_to_committed", seek_to_committed):
        consumer.pause_partitions({STREAM})
        consumer.resume_partitions({STREAM})
        with patch.object(consumer, "assignment", lambda: set()):  # revoked meanwhile
            await consumer.perform_seek()
    assert STREAM not in active
    with (
        patch.object(consumer, "assignment", lambda: {STREAM}),
        patch.object(consumer, "seek_to_committed", seek_to_committed),
    ):
        await consumer.perform_seek()  # a later seek has nothing left to resume
    assert STREAM not in active


async def test_a_rebalance_between_the_resume_and_the_seek_cancels_the_resume() -> None:
    """Its own recovery resumes and seeks again; resuming after the old seek would let records
    flow in the middle of the new rebalance."""
    consumer, app = ot.app.consumer, ot.app
    active = consumer._get_active_partitions()

    async def seek_to_committed() -> dict[TP, int]:
        return {STREAM: 7}

    with (
        patch.object(consumer, "assignment", lambda: {STREAM}),
        patch.object(consumer, "seek_to_committed", seek_to_committed),
    ):
        consumer.pause_partitions({STREAM})
        consumer.resume_partitions({STREAM})
        consumer.pause_partitions({STREAM})  # a revoke
        await consumer.perform_seek()
        assert STREAM not in active

        async def seek_during_a_new_generation() -> dict[TP, int]:
            app.consumer_generation_id += 1
            return {STREAM: 7}

        consumer.resume_partitions({STREAM})
        generation = app.consumer_generation_id
        try:
            with patch.object(consumer, "seek_to_committed", seek_during_a_new_generation):
                await consumer.perform_seek()
        finally:
            app.consumer_generation_id = generation
        assert STREAM not in active
