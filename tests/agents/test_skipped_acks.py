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


def test_records_skipped_by_a_stopped_flow_or_an_old_generation_are_released_not_acked() -> None:
    # The conductor (which knows the acking topics) does not run in the test context.
    with patch.object(ot.app.topics, "acks_enabled_for", lambda topic: True):
        check_acks()


def check_acks() -> None:
    app = ot.app
    consumer = app.consumer
    tp = TP(INPUT, 0)
    generation = app.consumer_generation_id
    app.flow_control.suspend()  # a rebalance, or shutting down
    try:
        stopped = message(5, generation)
        consumer._unacked_messages.add(stopped)
        assert Event(app, None, None, {}, stopped).ack() is False
        assert stopped.acked and stopped not in consumer._unacked_messages
    finally:
        app.flow_control.resume()
    stale = message(6, generation - 1)
    assert Event(app, None, None, {}, stale).ack() is False
    assert 5 not in consumer._acked.get(tp, []) and 6 not in consumer._acked.get(tp, [])
    current = message(7, generation)
    Event(app, None, None, {}, current).ack()
    assert 7 in consumer._acked[tp]  # processed in the current generation: acked as Faust does
