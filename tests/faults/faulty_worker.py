"""``ordertriage worker`` with deliberate faults, for tests only (production code has no hooks).

- an order whose id starts with ``POISON-`` makes the order agent raise on every attempt (as a
  bug in classification would): the record must be retried a bounded number of times, then
  dead-lettered as ``processing_error``;
- an order whose id starts with ``STALL-`` makes the order agent wait forever: the stream
  stalls while the worker stays up, which the stall metric and ``/healthz`` must report.

- the created order named by ``FAULT_HALF_ORDER`` kills the worker (SIGKILL, once:
  ``FAULT_MARKER`` records it) between two table writes of one event: the customer's new totals
  reach the changelog, the record of which event counted the order does not (it is taken out of
  the producer's buffer, as a crash between the two sends would lose it), nothing is committed.
  The replay of the uncommitted input must repair the missing record without counting twice.

``kill -USR1 PID`` prints every asyncio task's await chain and the consumer's partition state
to the worker's log (how the lost-records-after-a-rebalance bug was found).

The first two wrap the order agent's handling of a created order (``OrderBook.on_created``),
the narrowest hook that survives changes to the classification functions' signatures.
Run as ``python -m tests.faults.faulty_worker worker`` with the usual environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

from faust import App

from schemas.events import OrderCreated
from streams import agents
from streams.agents.customers import CustomerHistory
from streams.agents.orders import OrderBook
from streams.app import Worker
from streams.classify.customers import CustomerSnapshot
from streams.cli.main import main
from streams.records import EnrichedOrder, Source

_on_created = OrderBook.on_created
_forward = CustomerHistory.forward
_register = agents.register


async def on_created(self: OrderBook, enriched: EnrichedOrder, offset: int) -> None:
    order_id = enriched.event.order.order_id
    if order_id.startswith("POISON-"):
        raise RuntimeError(f"injected fault classifying {order_id}")
    if order_id.startswith("STALL-"):
        await asyncio.Event().wait()  # never set: the agent is stuck, the process is alive
    await _on_created(self, enriched, offset)


async def forward(
    self: CustomerHistory, created: OrderCreated, customer: CustomerSnapshot, source: Source
) -> None:
    marker = Path(os.environ.get("FAULT_MARKER", "/nonexistent/marker"))
    order_id = created.order.order_id
    if order_id == os.environ.get("FAULT_HALF_ORDER") and not marker.exists():  # noqa: ASYNC240
        marker.write_text(created.event_id)  # noqa: ASYNC240
        buffer = self.w.app.producer.buffer
        second = self.w.tables.customer_orders.changelog_topic.get_topic_name()
        kept = []
        while not buffer.pending.empty():
            fut = buffer.pending.get_nowait()
            if fut.message.channel.get_topic_name() != second:
                kept.append(fut)
        for fut in kept:
            buffer.pending.put_nowait(fut)
        await buffer.flush()
        # Acknowledged by the broker (a FutureMessage resolves to its RecordMetadata).
        sent = await asyncio.wait_for(asyncio.gather(*kept), timeout=30)
        marker.write_text(  # noqa: ASYNC240 - the test reads where the half landed
            "\n".join(f"{m.topic} {m.partition} {m.offset}" for m in sent)
        )
        os.kill(os.getpid(), signal.SIGKILL)
    await _forward(self, created, customer, source)


def register(w: Worker) -> agents.Agents:
    """The worker's agents, plus the SIGUSR1 diagnostics task."""
    registered = _register(w)
    w.app.task(dump_tasks_on_sigusr1(w.app))
    return registered


def dump_tasks_on_sigusr1(app: App) -> Callable[[], Awaitable[None]]:
    """``kill -USR1 PID`` prints every asyncio task's stack to stderr (diagnosing hangs)."""

    async def install() -> None:
        install_dump(app)

    return install


def install_dump(app: App) -> None:
    import io
    import sys

    def dump() -> None:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            out.write(f"TASK {task.get_name()}\n")
            coro = task.get_coro()
            while coro is not None:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is not None:
                    code = frame.f_code
                    out.write(f"    {code.co_filename}:{frame.f_lineno} {code.co_name}\n")
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        import gc
        import types

        for obj in gc.get_objects():
            if isinstance(obj, types.CoroutineType | types.AsyncGeneratorType):
                frame = getattr(obj, "cr_frame", None) or getattr(obj, "ag_frame", None)
                if frame is not None and "/streams/" in frame.f_code.co_filename:
                    out.write(f"CORO {frame.f_code.co_filename}:{frame.f_lineno}\n")
                    inner = getattr(obj, "cr_await", None) or getattr(obj, "ag_await", None)
                    while inner is not None:
                        out.write(f"    awaits {inner!r}\n"[:300])
                        inner = getattr(inner, "cr_await", None)
        c = app.consumer
        out.write(f"ASSIGNED {sorted(c.assignment())}\n")
        out.write(f"PAUSED {sorted(getattr(c, '_paused_partitions', set()))}\n")
        out.write(f"ACTIVE {getattr(c, '_active_partitions', None)}\n")
        out.write(f"FLOW {app.flow_control.is_active()} can_resume {c.can_resume_flow.is_set()}\n")
        out.write(f"COMMITTED {dict(getattr(c, '_committed_offset', {}))}\n")
        out.write(f"ACKED {dict((k, v[:5]) for k, v in getattr(c, '_acked', {}).items())}\n")
        out.write(f"READ {dict(getattr(c, '_read_offset', {}))}\n")
        try:
            kc = c._thread._ensure_consumer()
            assignment = kc._subscription.subscription.assignment
            for tp in sorted(c.assignment()):
                if "status" in tp.topic or "ticks" in tp.topic or "enriched" in tp.topic:
                    st = assignment.state_value(tp)
                    out.write(
                        f"TPSTATE {tp.topic}/{tp.partition}"
                        f" pos={st.position if st.has_valid_position else None}"
                        f" paused={st.paused} reset={st.awaiting_reset} hw={st.highwater}"
                        f" read={c._read_offset.get(tp)} committed={c._committed_offset.get(tp)}\n"
                    )
        except Exception as exc:
            out.write(f"TPSTATE failed {exc!r}\n")
        sys.stderr.write(out.getvalue())

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


OrderBook.on_created = on_created  # type: ignore[method-assign]
CustomerHistory.forward = forward  # type: ignore[method-assign]
agents.register = register

if __name__ == "__main__":
    main()
