"""streams.runtime.continuity on the real app: a record Faust skips is released, never acked."""

from __future__ import annotations

from unittest.mock import patch

from faust.events import Event
from faust.types import TP
from faust.types.tuples import ConsumerMessage as Message

from tests.agents.conftest import ot

INPUT = ot.topics.created.get_topic_name()


def message(offset: int, generation: int) -> Message:
    return Message(
        topic=INPUT,
        partition=0,
        offset=offset,
        timestamp=0.0,
        timestamp_type=0,
        headers=None,
        key=None,
        value=b"{}",
        checksum=None,
        generation_id=generation,
    )


def test_records_a_stream_skipped_are_released_and_processed_ones_acked_whenever() -> None:
    # The conductor (which knows the acking topics) does not run in the test context.
    with patch.object(ot.app.topics, "acks_enabled_for", lambda topic: True):
        check_acks()


def check_acks() -> None:
    """The stream tracks every record it hands to the agent (after its own skip check: flow
    stopped, older generation); an untracked one was skipped. A record processed before a
    rebalance began and acked during it is acked: re-checking the flow at ack time released it,
    and its partition never committed again."""
    app = ot.app
    consumer, continuity = app.consumer, ot.continuity
    tp = TP(INPUT, 0)
    generation = app.consumer_generation_id
    skipped = message(5, generation - 1)  # the stream skipped it: never tracked
    consumer._unacked_messages.add(skipped)
    assert Event(app, None, None, {}, skipped).ack() is False
    assert skipped.acked and skipped not in consumer._unacked_messages
    assert 5 not in consumer._acked.get(tp, []) and continuity.released[tp] == 5
    app.flow_control.suspend()  # a rebalance begins while the agent finishes a record
    try:
        processed = message(6, generation)
        processed.tracked = True
        Event(app, None, None, {}, processed).ack()
    finally:
        app.flow_control.resume()
    assert 6 in consumer._acked[tp]
    continuity.released.clear()
