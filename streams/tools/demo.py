"""``make demo``: a worker, sample orders, and a live summary of what comes out.

Ctrl-C stops everything it started. ``--exit-when-done`` stops once every sample order is
classified (used to check the demo non-interactively).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter, deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import httpx
import orjson
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from streams.classify import breakdowns
from streams.kafka.io import produce, records
from streams.settings import get_settings
from streams.tools.sample import SampleStream, sample_feedback
from streams.topics import (
    CLASSIFIED,
    CORRECTIONS,
    DEADLETTER,
    FEEDBACK_CLASSIFIED,
    FOLLOWUP_DONE,
    FOLLOWUPS,
    NOTIFICATIONS,
)

#: Dimension -> the field of a classified record (JSON) it is read from.
DIMENSIONS = {d: breakdowns.DIMENSIONS[d] for d in breakdowns.LIVE_MIX}


class Summary:
    def __init__(self, orders: int) -> None:
        self.orders = orders
        self.mix: dict[str, Counter[str]] = {d: Counter() for d in DIMENSIONS}
        self.created = 0
        self.classified = 0
        self.notifications: deque[str] = deque(maxlen=8)
        self.notified: Counter[str] = Counter()
        self.dead: Counter[str] = Counter()
        self.first: float | None = None
        self.last: float | None = None
        self.status: dict[str, str] = {}
        self.feedback: dict[str, dict[str, object]] = {}  # feedback id -> latest record
        self.assigned: deque[str] = deque(maxlen=6)
        self.feedback_expected = 0
        self.tasks: dict[str, dict[str, object]] = {}  # task id -> latest record
        #: Open follow-ups the demo's "staff" will mark done (every third one).
        self.to_close: deque[dict[str, object]] = deque()
        #: Orders the demo's "staff" reviews and corrects (one in 15), and corrections seen.
        self.to_correct: deque[dict[str, Any]] = deque()
        self.corrected: Counter[str] = Counter()

    def add(self, topic: str, value: bytes | None, headers: list[tuple[str, bytes]]) -> None:
        now = time.monotonic()
        if topic.endswith(CLASSIFIED):
            record = orjson.loads(value or b"{}")
            self.first = self.first or now
            self.last = now
            self.classified += 1
            if record["cause"] == "order-created":
                self.created += 1
                if self.created % 15 == 0:
                    self.to_correct.append(record)
                for d, field in DIMENSIONS.items():
                    if d != "status":  # the current status of every order, below
                        self.mix[d][record[field]] += 1
            if record["cause"] == "corrected":
                self.corrected[record["correction"]["dimension"]] += 1
            self.status[record["order_id"]] = record["status"]
        elif topic.endswith(FEEDBACK_CLASSIFIED):
            record = orjson.loads(value or b"{}")
            if record["feedback_id"] not in self.feedback:
                who = (
                    "review queue"
                    if record["needs_review"]
                    else (f"{record['team']} / {record['assignee']}")
                )
                self.assigned.appendleft(
                    f"{record['feedback_id']} [bold]{record['category']}[/]"
                    f" ({record['confidence']:.0%}, {record['language']}) -> {who}"
                )
            self.feedback[record["feedback_id"]] = record
        elif topic.endswith(FOLLOWUPS):
            task = orjson.loads(value or b"{}")
            if task["task_id"] not in self.tasks and len(self.tasks) % 3 == 0:
                self.to_close.append(task)
            self.tasks[str(task["task_id"])] = task
        elif topic.endswith(NOTIFICATIONS):
            n = orjson.loads(value or b"{}")
            self.notified[n["kind"]] += 1
            self.notifications.appendleft(f"[bold]{n['recipient_role']}[/] <- {n['message']}")
        elif topic.endswith(DEADLETTER):
            reason = dict(headers).get("ordertriage.dlq.reason_code", b"?").decode()
            self.dead[reason] += 1

    def render(self) -> Group:
        self.mix["status"] = Counter(self.status.values())
        grid = Table.grid(padding=(0, 2))
        columns = []
        for d in DIMENSIONS:
            t = Table(title=d.replace("_", " "), show_header=False, box=None)
            for value, count in self.mix[d].most_common(6):
                t.add_row(value, str(count))
            columns.append(t)
        grid.add_row(*columns)
        rate = ""
        if self.first and self.last and self.last > self.first:
            rate = f" | {self.classified / (self.last - self.first):.0f} classified records/s"
        dead = ", ".join(f"{k} {v}" for k, v in sorted(self.dead.items())) or "none"
        head = (
            f"[bold]orders classified {self.created}/{self.orders}[/] | classified records"
            f" {self.classified}{rate} | notifications {sum(self.notified.values())}\n"
            f"dead letters (the sample mixes in ~3% bad records on purpose): {dead}"
        )
        notes = "\n".join(self.notifications) or "(none yet)"
        categories = Counter(str(r["category"]) for r in self.feedback.values())
        review = sum(1 for r in self.feedback.values() if r["needs_review"])
        feedback = (
            f"{len(self.feedback)} classified, {review} to review: "
            + ", ".join(f"{c} {n}" for c, n in categories.most_common())
            + "\n"
            + ("\n".join(self.assigned) or "(none yet)")
        )
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.notified.items())) or "none"
        states = Counter(str(t["status"]) for t in self.tasks.values())
        care = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none yet"
        return Group(
            head,
            Panel(grid, title="classification mix (orders)"),
            Panel(notes, title="latest notifications"),
            Panel(feedback, title="customer feedback (Chinese, English, mixed) -> who has it"),
            f"notifications per kind: {kinds}",
            f"customer follow-ups (customers.followups): {care}",
            "people's corrections (orders.corrections): "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.corrected.items())) or "none yet"),
        )

    def corrections(self, topic: str) -> list[tuple[str, bytes | None, bytes]]:
        """``orders.corrections`` for the orders picked for review: a reviewer raises the
        priority of one, says another is worth more, and so on (docs/corrections.md)."""
        out = []
        while self.to_correct:
            order = self.to_correct.popleft()
            n = int(order["priority"][1:])
            dimension, value, reason = (
                ("priority", f"P{n - 1}", "strategic account")
                if n > 1
                else ("value_tier", "high", "framework contract")
            )
            if order["value_tier"] == "low" and self.created % 2:
                dimension, value, reason = "value_tier", "medium", "repeat buyer, bigger orders due"
            fix = {
                "event_id": f"fix-{order['order_id']}",
                "schema_version": 1,
                "occurred_at": datetime.now(UTC).isoformat(),
                "order_id": order["order_id"],
                "dimension": dimension,
                "value": value,
                "corrected_by": "demo.reviewer",
                "reason": reason,
            }
            out.append((topic, str(order["order_id"]).encode(), orjson.dumps(fix)))
        return out

    def completions(self, topic: str) -> list[tuple[str, bytes | None, bytes]]:
        """``customers.followup-done`` for the follow-ups picked to close, as a person would."""
        out = []
        while self.to_close:
            task = self.to_close.popleft()
            done = {
                "event_id": f"done-{task['task_id']}",
                "schema_version": 1,
                "occurred_at": datetime.now(UTC).isoformat(),
                "task_id": task["task_id"],
                "customer_id": task["customer_id"],
                "done_by": "demo.staff",
                "outcome": f"{task['strategy_id']} done in the demo",
            }
            out.append((topic, str(task["customer_id"]).encode(), orjson.dumps(done)))
        return out


async def run(orders: int, rate: float, exit_when_done: bool) -> Summary:
    settings = get_settings()
    summary = Summary(orders)
    names = [
        settings.topic(t)
        for t in (CLASSIFIED, NOTIFICATIONS, DEADLETTER, FEEDBACK_CLASSIFIED, FOLLOWUPS)
    ]

    async def watch() -> None:
        async for record in records(settings.bootstrap, names, from_beginning=False):
            summary.add(record.topic, record.value, list(record.headers))

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(2)  # let the watcher's consumer take its "latest" positions
    seed = int(time.time()) % 1_000_000
    stream = SampleStream(orders, seed=seed, prefix=settings.topic_prefix)
    order_ids = [f"{stream.order_prefix}-{seed}-{n:07d}" for n in range(orders)]
    feedback = sample_feedback(
        order_ids, max(1, orders // 10), seed=seed, prefix=settings.topic_prefix
    )
    summary.feedback_expected = max(1, orders // 10)
    producer = asyncio.create_task(
        produce(settings.bootstrap, itertools.chain(stream, feedback), rate=rate)
    )
    with Live(summary.render(), refresh_per_second=4) as live:
        while True:
            await asyncio.sleep(0.25)
            live.update(summary.render())
            if done_records := summary.completions(settings.topic(FOLLOWUP_DONE)):
                await produce(settings.bootstrap, done_records)
            if fixes := summary.corrections(settings.topic(CORRECTIONS)):
                await produce(settings.bootstrap, fixes)
            idle = summary.last is not None and time.monotonic() - summary.last > 5
            fed = len(summary.feedback) >= summary.feedback_expected * 0.95
            done = producer.done() and summary.created >= orders * 0.95 and fed
            if exit_when_done and done and idle:
                break
    watcher.cancel()
    await producer
    return summary


def start_worker(log_path: Path) -> subprocess.Popen[bytes]:
    settings = get_settings()
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://{settings.web_host}:{settings.web_port}/readyz"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited ({proc.returncode}); see {log_path}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise SystemExit(f"the worker was not ready within 120s; see {log_path}")


def api_hint() -> str:
    """How to query the worker: the token's file (never the token) in a curl line."""
    settings = get_settings()
    base = f"http://{settings.web_host}:{settings.web_port}"
    if settings.api_token.get_secret_value():
        shell = "$ORDERTRIAGE_API_TOKEN"
    else:
        shell = f"$(cat {settings.api_token_file or settings.api_token_generated_file})"
    return f'HTTP API: curl -H "Authorization: Bearer {shell}" {base}/open-orders'


@click.command()
@click.option("--orders", default=int(os.environ.get("DEMO_ORDERS", "300")), show_default=True)
@click.option(
    "--rate",
    default=float(os.environ.get("DEMO_RATE", "40")),
    show_default=True,
    help="records per second",
)
@click.option("--exit-when-done", is_flag=True, default=bool(os.environ.get("DEMO_EXIT")))
def main(orders: int, rate: float, exit_when_done: bool) -> None:
    log_path = Path(".cache/demo-worker.log")
    log_path.parent.mkdir(exist_ok=True)
    print(f"starting a worker (log: {log_path}) ...", flush=True)
    proc = start_worker(log_path)
    print(api_hint(), flush=True)
    try:
        summary = asyncio.run(run(orders, rate, exit_when_done))
        print(
            f"done: {summary.created} orders, {summary.classified} classified records,"
            f" {sum(summary.notified.values())} notifications, {len(summary.feedback)} feedback"
            f" routed, dead letters {dict(summary.dead)}"
        )
    except KeyboardInterrupt:
        print("stopping ...")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
