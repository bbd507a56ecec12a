"""``ordertriage top``: a live terminal summary of the output topics, for people without Grafana.

Reads ``orders.classified``, ``orders.notifications`` and ``orders.deadletter`` (no consumer
group, so it disturbs nothing) and shows orders per second, the mix per value tier and
priority, the latest notifications, dead letters per reason and people's corrections.
``--once`` reads what is there, prints one summary and exits (for scripts and tests).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from streams.classify import breakdowns
from streams.kafka.io import records
from streams.settings import Settings
from streams.topics import CLASSIFIED, DEADLETTER, NOTIFICATIONS

#: The live mix shown (``streams.classify.breakdowns``), as fields of a classified record.
MIX = tuple(breakdowns.DIMENSIONS[d] for d in breakdowns.LIVE_MIX[:2])
RATE_WINDOW_SECONDS = 10.0


class Top:
    def __init__(self) -> None:
        self.orders = 0
        self.classified = 0
        self.mix: dict[str, Counter[str]] = {d: Counter() for d in MIX}
        self.notified: Counter[str] = Counter()
        self.latest: deque[str] = deque(maxlen=8)
        self.dead: Counter[str] = Counter()
        #: People's corrections seen (cause ``corrected``), per dimension (docs/corrections.md).
        self.corrected: Counter[str] = Counter()
        self.created_at: deque[float] = deque()  # record timestamps (s) of recent orders
        self.first: float | None = None
        self.last: float | None = None

    def add(self, topic: str, timestamp_ms: int, value: bytes | None, headers: list) -> None:
        ts = timestamp_ms / 1000
        if topic.endswith(CLASSIFIED):
            record = orjson.loads(value or b"{}")
            self.classified += 1
            if record.get("cause") == "order-created":
                self.orders += 1
                for d in MIX:
                    self.mix[d][record[d]] += 1
                self.first = ts if self.first is None else min(self.first, ts)
                self.last = ts if self.last is None else max(self.last, ts)
                self.created_at.append(ts)
            elif record.get("cause") == "corrected" and record.get("correction"):
                self.corrected[record["correction"]["dimension"]] += 1
        elif topic.endswith(NOTIFICATIONS):
            n = orjson.loads(value or b"{}")
            self.notified[n["kind"]] += 1
            self.latest.appendleft(f"{n['priority']} {n['recipient_role']}: {n['message']}")
        elif topic.endswith(DEADLETTER):
            reason = dict(headers).get("ordertriage.dlq.reason_code", b"?").decode()
            self.dead[reason] += 1

    def rate(self, now: float | None) -> float:
        """Orders/s: over the last 10 s (live), or over the records' time span (``now=None``)."""
        if now is None:
            span = (self.last or 0) - (self.first or 0)
            return self.orders / span if span > 0 else float(self.orders)
        while self.created_at and self.created_at[0] < now - RATE_WINDOW_SECONDS:
            self.created_at.popleft()
        return len(self.created_at) / RATE_WINDOW_SECONDS

    def render(self, now: float | None) -> Group:
        head = (
            f"orders {self.orders} | orders/s {self.rate(now):.1f} | classified records"
            f" {self.classified} | notifications {sum(self.notified.values())}"
            f" | dead letters {sum(self.dead.values())}"
            f" | corrections {sum(self.corrected.values())}"
        )
        grid = Table.grid(padding=(0, 4))
        tables = []
        columns = {
            **self.mix,
            "notifications": self.notified,
            "dead letters": self.dead,
            "corrections": self.corrected,
        }
        for d, counts in columns.items():
            t = Table(title=d.replace("_", " "), show_header=False, box=None)
            for value, count in sorted(counts.items()):
                share = f"{100 * count / self.orders:.0f}%" if d in MIX and self.orders else ""
                t.add_row(value, str(count), share)
            tables.append(t)
        grid.add_row(*tables)
        notes = "\n".join(self.latest) or "(none yet)"
        return Group(head, Panel(grid, title="mix"), Panel(notes, title="latest notifications"))


async def run(settings: Settings, once: bool, from_beginning: bool, console: Console) -> Top:
    top = Top()
    names = [settings.topic(t) for t in (CLASSIFIED, NOTIFICATIONS, DEADLETTER)]
    feed = records(
        settings.bootstrap,
        names,
        from_beginning=from_beginning or once,
        idle_timeout=3.0 if once else None,
    )
    if once:
        async for r in feed:
            top.add(r.topic, r.timestamp, r.value, list(r.headers))
        console.print(top.render(None))
        return top

    async def consume() -> None:
        async for r in feed:
            top.add(r.topic, r.timestamp, r.value, list(r.headers))

    reader = asyncio.create_task(consume())
    try:
        with Live(top.render(time.time()), console=console, auto_refresh=False) as live:
            while not reader.done():  # redraw on a clock, so the rate falls when input stops
                live.update(top.render(time.time()), refresh=True)
                await asyncio.wait({reader}, timeout=0.5)
        await reader  # surfaces a consumer error
    finally:
        reader.cancel()
    return top


def main(settings: Settings, once: bool, from_beginning: bool) -> None:
    asyncio.run(run(settings, once, from_beginning, Console()))
