"""Status changes a producer put on another partition than their order's take one hop there.

The agent tests run with one partition, so any other partition is a misrouted record (as
librdkafka's default partitioner or a null key makes them).
"""

from __future__ import annotations

import pytest

from streams.kafka.partitioning import Pattern
from streams.records import Source
from streams.runtime.deadletters import SOURCE_HEADER
from tests.agents.builders import ENRICHED, ORDER_BOOK, REROUTED, STATUS, enriched, wire
from tests.agents.conftest import Outputs, deliver, ot
from tests.integration.events import dumps, status

pytestmark = pytest.mark.timeout(30)


async def reroute(agent: object, raw: bytes, key: bytes | None, outputs: Outputs) -> dict:
    """Deliver ``raw`` on a wrong partition; return what the agent re-keyed, delivered back."""
    message = await deliver(agent, raw, topic=STATUS, key=key, partition=2)
    (sent,) = outputs.kwargs("status_rerouted")
    outputs.status_rerouted.reset_mock()
    await deliver(agent, sent["value"], topic=REROUTED, key=sent["key"], headers=sent["headers"])
    return {"message": message, **sent}


async def test_a_misrouted_status_change_is_rekeyed_then_applied_once(outputs: Outputs) -> None:
    ot.routing.seen.clear()
    confirm = dumps(status("SO-1", "new", "confirmed", event_id="S-1"))
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        sent = await reroute(agent, confirm, b"SO-1", outputs)

    assert sent["key"] == b"SO-1" and sent["value"] == confirm  # original bytes, order id key
    origin = Source.model_validate_json(dict(sent["headers"])[SOURCE_HEADER])
    assert (origin.topic, origin.partition, origin.offset) == (STATUS, 2, sent["message"].offset)
    assert [r.status.value for r in outputs.values("classified")] == ["new", "confirmed"]
    # Applied from where the user produced it: a replay of either copy is recognised.
    assert ot.tables.orders["SO-1"].applied["S-1"] == origin.position
    assert outputs.dead_letters() == []
    assert ot.routing.seen[(STATUS, Pattern.OTHER)] == 1  # 2 of 1 partitions: no known scheme


async def test_a_null_keyed_change_waits_on_its_orders_partition(outputs: Outputs) -> None:
    ot.routing.seen.clear()
    confirm = dumps(status("SO-7", "new", "confirmed"))
    async with ORDER_BOOK.test_context() as agent:
        await reroute(agent, confirm, None, outputs)
        (parked,) = ot.tables.parked["SO-7"].events
        assert (parked.source.partition, parked.parked_on) == (2, 0)
        await deliver(agent, wire(enriched("SO-7"), "enriched_order"), topic=ENRICHED)

    assert [r.status.value for r in outputs.values("classified")] == ["new", "confirmed"]
    assert ot.routing.seen[(STATUS, Pattern.NULL_KEY)] == 1


async def test_a_dead_letter_of_a_rerouted_change_names_the_users_record(
    outputs: Outputs,
) -> None:
    ship = dumps(status("SO-1", "new", "shipped"))  # not allowed from new
    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, wire(enriched("SO-1"), "enriched_order"), topic=ENRICHED)
        sent = await reroute(agent, ship, b"SO-1", outputs)

    (letter,) = outputs.dead_letters()
    assert letter.code == "invalid_transition" and letter.value == ship
    assert letter.headers["source_topic"] == STATUS
    assert letter.headers["source_partition"] == "2"
    assert letter.headers["source_offset"] == str(sent["message"].offset)
