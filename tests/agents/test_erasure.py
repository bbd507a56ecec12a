"""The customer stage seals contact fields under the customer's data key and erases on request."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.events import CustomerErased, ErasureRequested, OrderCreated
from streams.privacy.contact import CONTACT_FIELDS, open_contact, seal_transit
from streams.privacy.crypto import CUSTOMER, SealError, parse
from streams.records import EnrichedOrder
from streams.topics import ERASE_HEADER
from tests.agents.builders import BY_CUSTOMER, CUSTOMER_HISTORY, source, source_header
from tests.agents.conftest import Outputs, deliver, ot
from tests.integration.events import created, dumps

pytestmark = pytest.mark.timeout(30)


def sealed_order(order_id: str, customer_id: str) -> bytes:
    """What the ingest stage forwards: the order with its contact fields under transit."""
    event = OrderCreated.model_validate_json(dumps(created(order_id, customer_id, "100.00")))
    return seal_transit(event, ot.keyring).model_dump_json().encode()


def erase_request(customer_id: str) -> bytes:
    request = ErasureRequested(
        event_id="erase-1",
        occurred_at=datetime.now(UTC),
        customer_id=customer_id,
        requested_by="dpo",
    )
    return request.model_dump_json().encode()


async def test_contact_fields_are_sealed_per_customer_and_erasure_shreds_them(
    outputs: Outputs,
) -> None:
    orders = [("SO-1", "C-1", 0), ("SO-2", "C-1", 1), ("SO-3", "C-2", 2)]
    async with CUSTOMER_HISTORY.test_context() as agent:
        for order_id, cid, offset in orders:
            await deliver(
                agent,
                sealed_order(order_id, cid),
                topic=BY_CUSTOMER,
                key=cid.encode(),
                offset=offset,
                headers=source_header(source(order_id, offset=offset)),
            )
        sent: list[EnrichedOrder] = outputs.values("enriched")
        key_1 = ot.keyring.unwrap(ot.tables.customer_keys["C-1"].wrapped or "", "C-1")
        customer = sent[0].event.order.customer
        assert {parse(getattr(customer, f))[:2] for f in CONTACT_FIELDS} == {(CUSTOMER, "1")}  # type: ignore[index]
        assert open_contact(customer, key_1)["email"] == "wei.zhang@example.com"

        await deliver(
            agent,
            erase_request("C-1"),
            topic=BY_CUSTOMER,
            key=b"C-1",
            offset=10,
            headers=[(ERASE_HEADER, b"1")],
        )
        assert ot.tables.customer_keys["C-1"].wrapped is None
        assert ot.tables.customers.get("C-1") is None
        assert not [k for k in ot.tables.customer_orders if k.startswith("C-1/")]
        assert ot.tables.customers["C-2"].order_count == 1  # others unaffected
        (audit,) = outputs.values("erasures")
        assert isinstance(audit, CustomerErased) and audit.records_deleted == 4
        assert (audit.data_key_version, audit.requested_by) == (1, "dpo")
        assert audit.tables == ["customer-keys", "customers", "customer-orders", "customer-care"]
        (told,) = outputs.values("customer_care")  # care tombstones its own table
        assert (told.fact.kind, told.fact.customer_id) == ("erased", "C-1")
        assert b"wei" not in audit.model_dump_json().encode().lower()

        # A replay of an order counted before the erasure brings nothing back.
        await deliver(
            agent,
            sealed_order("SO-1", "C-1"),
            topic=BY_CUSTOMER,
            key=b"C-1",
            offset=0,
            headers=source_header(source("SO-1", offset=0)),
        )
        assert len(outputs.values("enriched")) == 3 and ot.tables.customers.get("C-1") is None
        # A replay of the request: nothing more to delete, the audit again under the same id.
        await deliver(
            agent,
            erase_request("C-1"),
            topic=BY_CUSTOMER,
            key=b"C-1",
            offset=10,
            headers=[(ERASE_HEADER, b"1")],
        )
        assert [a.event_id for a in outputs.values("erasures")] == ["erase-1", "erase-1"]
        assert len(outputs.values("customer_care")) == 2
        # A later order of the same id starts over under a new data key.
        await deliver(
            agent,
            sealed_order("SO-4", "C-1"),
            topic=BY_CUSTOMER,
            key=b"C-1",
            offset=11,
            headers=source_header(source("SO-4", offset=11)),
        )
    assert ot.tables.customer_keys["C-1"].version == 2
    assert ot.tables.customers["C-1"].order_count == 1
    with pytest.raises(SealError):  # the old order's fields stay shut to the new key
        new_key = ot.keyring.unwrap(ot.tables.customer_keys["C-1"].wrapped or "", "C-1")
        open_contact(customer, new_key)
    assert outputs.kwargs("deadletter") == []


async def test_a_malformed_erasure_request_is_dead_lettered(outputs: Outputs) -> None:
    async with CUSTOMER_HISTORY.test_context() as agent:
        await deliver(
            agent, b"not a request", topic=BY_CUSTOMER, key=b"C-1", headers=[(ERASE_HEADER, b"1")]
        )
    (letter,) = outputs.dead_letters()
    assert letter.code == "processing_error" and letter.value == b"not a request"
    assert outputs.values("erasures") == [] and ot.tables.customer_keys.get("C-1") is None
