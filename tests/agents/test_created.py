"""The ingest agent: ``orders.created`` -> validated -> ``orders-by-customer``."""

from __future__ import annotations

import pytest

from schemas.events import OrderCreated
from streams.privacy.contact import CONTACT_FIELDS
from streams.privacy.crypto import is_sealed
from streams.records import Source
from streams.runtime.deadletters import SOURCE_HEADER
from tests.agents.builders import (
    CREATED,
    INGEST,
)
from tests.agents.conftest import (
    Outputs,
    deliver,
)
from tests.integration.events import created, dumps

pytestmark = pytest.mark.timeout(30)


async def test_ingest_forwards_valid_order_keyed_by_customer(outputs: Outputs) -> None:
    raw = dumps(created("SO-1", "C-42", "199.00"))
    async with INGEST.test_context() as agent:
        message = await deliver(agent, raw, topic=CREATED, key=b"SO-1", partition=2)

    (sent,) = outputs.kwargs("by_customer")
    assert sent["key"] == b"C-42"
    assert_sealed_copy(sent["value"], raw)
    (name, header), *_ = sent["headers"]
    assert name == SOURCE_HEADER == "ordertriage.source"
    assert Source.model_validate_json(header) == Source(
        topic=CREATED, partition=2, offset=message.offset, timestamp=message.timestamp, key="SO-1"
    )
    assert outputs.kwargs("deadletter") == []


async def test_ingest_dead_letters_invalid_json(outputs: Outputs) -> None:
    raw = b'{"event_id": "E-1", "order": '
    async with INGEST.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1", partition=1)

    assert outputs.kwargs("by_customer") == []
    (letter,) = outputs.dead_letters()
    assert letter.code == "invalid_json"
    assert letter.value == raw
    assert letter.key == b"SO-1"
    assert letter.headers["error_class"] == "DecodeError"
    assert (letter.headers["source_topic"], letter.headers["source_partition"]) == (CREATED, "1")


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"", "empty_value"),
        (b"\xff\xfe{", "not_utf8"),
        (b"[1, 2]", "schema_violation"),
        (dumps({**created("SO-1", "C-1", "10"), "occurred_at": "yesterday"}), "schema_violation"),
    ],
    ids=["empty", "not-utf8", "json-array", "bad-field"],
)
async def test_ingest_dead_letters_each_decode_failure(
    outputs: Outputs, raw: bytes, code: str
) -> None:
    async with INGEST.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1")

    assert [letter.code for letter in outputs.dead_letters()] == [code]
    assert outputs.dead_letters()[0].value == raw
    assert outputs.kwargs("by_customer") == []


async def test_ingest_keeps_processing_after_a_bad_record(outputs: Outputs) -> None:
    bad = b"not json at all"
    good = dumps(created("SO-2", "C-7", "50.00"))
    async with INGEST.test_context() as agent:
        await deliver(agent, bad, topic=CREATED, key=b"SO-1")
        await deliver(agent, good, topic=CREATED, key=b"SO-2")

    assert [(d.code, d.value) for d in outputs.dead_letters()] == [("invalid_json", bad)]
    ((key, forwarded),) = [(s["key"], s["value"]) for s in outputs.kwargs("by_customer")]
    assert key == b"C-7"
    assert_sealed_copy(forwarded, good)


def assert_sealed_copy(forwarded: bytes, raw: bytes) -> None:
    """The order as produced, except its contact fields: sealed, and nowhere in clear."""
    sent, original = (OrderCreated.model_validate_json(v) for v in (forwarded, raw))
    contact = {"order": {"customer": set(CONTACT_FIELDS)}}
    assert sent.model_dump(exclude=contact) == original.model_dump(exclude=contact)
    for field in CONTACT_FIELDS:
        clear = getattr(original.order.customer, field)
        assert clear and clear.encode() not in forwarded
        assert is_sealed(getattr(sent.order.customer, field))
