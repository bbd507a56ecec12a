"""The first three agents chained, each one's outputs fed to the next one's input."""

from __future__ import annotations

import pytest

from schemas.events import ClassifiedOrder
from tests.agents.builders import (
    BY_CUSTOMER,
    CREATED,
    CUSTOMER_HISTORY,
    ENRICHED,
    INGEST,
    ORDER_BOOK,
    STATUS,
    wire,
)
from tests.agents.conftest import (
    Outputs,
    deliver,
)
from tests.integration.events import created, dumps, status

pytestmark = pytest.mark.timeout(30)


async def test_pipeline_from_created_to_classified(outputs: Outputs) -> None:
    raw = dumps(created("SO-1", "C-1", "12800.00", vip=True))
    confirm = dumps(status("SO-1", "new", "confirmed"))
    async with INGEST.test_context() as agent:
        await deliver(agent, raw, topic=CREATED, key=b"SO-1")
    (by_customer,) = outputs.kwargs("by_customer")

    async with CUSTOMER_HISTORY.test_context() as agent:
        await deliver(
            agent,
            by_customer["value"],
            topic=BY_CUSTOMER,
            key=by_customer["key"],
            headers=by_customer["headers"],
        )
    (forwarded,) = outputs.kwargs("enriched")

    async with ORDER_BOOK.test_context() as agent:
        await deliver(agent, confirm, topic=STATUS, key=b"SO-1")  # overtakes its order
        await deliver(
            agent,
            wire(forwarded["value"], "enriched_order"),
            topic=ENRICHED,
            key=forwarded["key"],
        )

    records: list[ClassifiedOrder] = outputs.values("classified")
    assert [(r.status.value, r.priority.value) for r in records] == [
        ("new", "P1"),
        ("confirmed", "P1"),
    ]
    assert sorted(n.kind for n in outputs.values("notifications")) == [
        "high_value_order",
        "vip_order",
    ]
    assert outputs.kwargs("deadletter") == []
