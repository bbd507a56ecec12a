"""``ordertriage worker`` with deliberate faults, for tests only (production code has no hooks).

- an order whose id starts with ``POISON-`` makes the order agent raise on every attempt (as a
  bug in classification would): the record must be retried a bounded number of times, then
  dead-lettered as ``processing_error``;
- an order whose id starts with ``STALL-`` makes the order agent wait forever: the stream
  stalls while the worker stays up, which the stall metric and ``/healthz`` must report.

The faults wrap the order agent's handling of a created order (``on_created``), the narrowest
hook that survives changes to the classification functions' signatures.
Run as ``python -m tests.integration.faulty_worker worker`` with the usual environment.
"""

from __future__ import annotations

import asyncio

from streams.agents import orders
from streams.cli import main
from streams.records import EnrichedOrder

_on_created = orders.on_created


async def on_created(enriched: EnrichedOrder) -> None:
    order_id = enriched.event.order.order_id
    if order_id.startswith("POISON-"):
        raise RuntimeError(f"injected fault classifying {order_id}")
    if order_id.startswith("STALL-"):
        await asyncio.Event().wait()  # never set: the agent is stuck, the process is alive
    await _on_created(enriched)


orders.on_created = on_created  # type: ignore[assignment]

if __name__ == "__main__":
    main()
