"""``ordertriage worker`` with deliberate faults, for tests only (production code has no hooks).

- an order whose id starts with ``POISON-`` makes classification raise, on every attempt:
  the record must be retried a bounded number of times, then dead-lettered;
- an order whose id starts with ``STALL-`` makes the order agent wait forever: the stream
  stalls while the worker stays up, which the stall metric and ``/healthz`` must report.

Run as ``python -m tests.integration.faulty_worker worker`` with the usual environment.
"""

from __future__ import annotations

import asyncio
from typing import Any

from streams.agents import orders
from streams.cli import main
from streams.records import EnrichedOrder

_classify_created = orders.classify_created
_on_created = orders.on_created


def classify_created(created: Any, *args: Any, **kwargs: Any) -> Any:
    if created.order.order_id.startswith("POISON-"):
        raise RuntimeError(f"injected fault classifying {created.order.order_id}")
    return _classify_created(created, *args, **kwargs)


async def on_created(enriched: EnrichedOrder) -> None:
    if enriched.event.order.order_id.startswith("STALL-"):
        await asyncio.Event().wait()  # never set: the agent is stuck, the process is alive
    await _on_created(enriched)


orders.classify_created = classify_created  # type: ignore[assignment]
orders.on_created = on_created  # type: ignore[assignment]

if __name__ == "__main__":
    main()
