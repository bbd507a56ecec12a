"""An erasure request (on ``<app>-orders-by-customer``) -> delete the customer's key and
records -> publish the audit event. Run by the customer-history agent, which owns the tables."""

from __future__ import annotations

from datetime import UTC, datetime

from faust.types.tuples import Message

from schemas.events import CustomerErased, ErasureRequested
from streams.agents.care import send as to_care
from streams.app import Worker
from streams.classify.care import CareFact
from streams.privacy.contact import CustomerKey
from streams.runtime.deadletters import source_of


class Erasure:
    def __init__(self, w: Worker) -> None:
        self.w = w

    async def erase(self, message: Message) -> None:
        """Crypto-shred the customer's data key and tombstone their records, then audit.

        Idempotent: a replay deletes nothing more and re-sends the same audit record (its id
        is the request's). Orders stay in the order book (they are the business's records)
        with their contact fields sealed under the deleted key: unreadable from now on.
        """
        request = ErasureRequested.model_validate_json(message.value)
        tables = self.w.tables
        cid = request.customer_id
        key = tables.customer_keys.get(cid)
        erased: list[str] = []
        deleted = 0
        if key is None or key.wrapped is not None or key.erased_offset != message.offset:
            tables.customer_keys[cid] = CustomerKey(
                version=key.version if key is not None else 0, erased_offset=message.offset
            )
            erased.append("customer-keys")
            deleted += 1
        if tables.customers.get(cid) is not None:
            del tables.customers[cid]
            erased.append("customers")
            deleted += 1
        counted = [k for k in list(tables.customer_orders.keys()) if k.startswith(f"{cid}/")]
        for seen_key in counted:
            del tables.customer_orders[seen_key]
        if counted:
            erased.append("customer-orders")
            deleted += len(counted)
        # Customer care owns its table: told by a fact on its own topic (same key, same
        # partition), it tombstones the customer's care state.
        fact = CareFact(kind="erased", customer_id=cid, occurred_at=request.occurred_at)
        await to_care(self.w, fact, source_of(message))
        erased.append("customer-care")
        await self.w.topics.erasures.send(
            key=cid.encode(),
            value=CustomerErased(
                event_id=request.event_id,
                customer_id=cid,
                requested_by=request.requested_by,
                requested_at=request.occurred_at,
                erased_at=datetime.now(UTC),
                data_key_version=key.version if key is not None and key.wrapped else None,
                tables=erased,
                records_deleted=deleted,
            ),
        )
