"""The ``ordertriage`` command: run the worker, produce sample orders, tail a topic."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import click
import orjson
from rich.console import Console
from rich.syntax import Syntax

from streams.cli.feedback import feedback
from streams.cli.notify import notify
from streams.cli.privacy import deadletters, privacy
from streams.cli.rules import explain, rules
from streams.cli.worker import worker
from streams.settings import get_settings

console = Console()


@click.group()
def main() -> None:
    """ordertriage: classify sales orders on a Kafka stream."""


@main.command("produce-sample")
@click.option("--count", default=100, show_default=True, help="orders to create")
@click.option("--rate", default=0.0, help="records per second (0 = as fast as possible)")
@click.option("--seed", type=int, default=None, help="seed (default: from the clock)")
@click.option("--bad-share", default=0.03, show_default=True, help="share of bad records")
def produce_sample(count: int, rate: float, seed: int | None, bad_share: float) -> None:
    """Produce a realistic, seeded stream of orders and status changes."""
    from streams.kafka.io import produce
    from streams.tools.sample import SampleStream

    settings = get_settings()
    seed = seed if seed is not None else int(time.time()) % 1_000_000
    stream = SampleStream(count, seed=seed, bad_share=bad_share, prefix=settings.topic_prefix)
    started = time.monotonic()
    sent = asyncio.run(produce(settings.bootstrap, stream, rate=rate))
    took = time.monotonic() - started
    console.print(
        f"produced {sent} records for {count} orders (seed {seed}) to {settings.bootstrap}"
        f" in {took:.1f}s"
    )


@main.command()
@click.argument("topic")
@click.option("--from-beginning", is_flag=True, help="start at the oldest record")
@click.option("--max", "max_records", type=int, default=None, help="stop after N records")
@click.option("--idle-timeout", type=float, default=None, help="stop after N idle seconds")
def tail(
    topic: str, from_beginning: bool, max_records: int | None, idle_timeout: float | None
) -> None:
    """Pretty-print the records of TOPIC (values as JSON, dead-letter reasons from headers)."""
    from streams.kafka.io import records

    settings = get_settings()

    async def run() -> None:
        seen = 0
        async for record in records(
            settings.bootstrap, [topic], from_beginning=from_beginning, idle_timeout=idle_timeout
        ):
            print_record(
                record.topic,
                record.partition,
                record.offset,
                record.timestamp,
                record.key,
                record.value,
                record.headers,
            )
            seen += 1
            if max_records is not None and seen >= max_records:
                return

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@main.command()
@click.option("--period", type=click.Choice(["day", "week"]), default="day", show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="directory for the HTML and CSV (default: ORDERTRIAGE_REPORT_DIR)",
)
@click.option(
    "--end",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z"]),
    default=None,
    help="end of the period, with offset (default: now)",
)
@click.option("--publish", is_flag=True, help="also publish the report event on orders.reports")
def report(period: str, out_dir: Path | None, end: datetime | None, publish: bool) -> None:
    """Write the report of the trailing day or week, read from the classified topic."""
    from streams.kafka.io import produce
    from streams.report.build import build
    from streams.report.figures import PeriodName
    from streams.topics import REPORTS

    settings = get_settings()
    name = cast(PeriodName, period)
    event = asyncio.run(build(settings, name, out_dir or settings.report_dir, end))
    if publish:
        record = (
            settings.topic(REPORTS),
            event.report_id.encode(),
            event.model_dump_json().encode(),
        )
        asyncio.run(produce(settings.bootstrap, [record]))
    console.print(
        f"{event.orders} orders, {event.start:%Y-%m-%d %H:%M} to {event.end:%Y-%m-%d %H:%M}"
        f" ({event.timezone})"
    )
    console.print(f"html: {event.html_path}\ncsv:  {event.csv_path}")


@main.command()
@click.option("--once", is_flag=True, help="read what is there, print one summary, exit")
@click.option("--from-beginning", is_flag=True, help="count from the oldest record")
def top(once: bool, from_beginning: bool) -> None:
    """Live summary of the output topics: orders/s, mix, notifications, dead letters."""
    from streams.tools import top as top_view

    with contextlib.suppress(KeyboardInterrupt):
        top_view.main(get_settings(), once, from_beginning)


def print_record(
    topic: str,
    partition: int,
    offset: int,
    timestamp: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]] | tuple[()],
) -> None:
    when = datetime.fromtimestamp(timestamp / 1000, UTC).isoformat(timespec="milliseconds")
    k = key.decode("utf-8", "replace") if key else "-"
    console.print(f"[bold cyan]{topic}[/][{partition}]@{offset} [dim]{when}[/] key=[bold]{k}[/]")
    for name, raw in headers or ():
        console.print(f"  [yellow]{name}[/]: {raw.decode('utf-8', 'replace')}")
    try:
        text = orjson.dumps(orjson.loads(value or b""), option=orjson.OPT_INDENT_2).decode()
        console.print(Syntax(text, "json", theme="ansi_dark", background_color="default"))
    except orjson.JSONDecodeError:
        console.print(f"  [red]not JSON[/]: {value!r:.300}")


main.add_command(worker)
main.add_command(rules)
main.add_command(explain)
main.add_command(feedback)
main.add_command(notify)
main.add_command(privacy)
main.add_command(deadletters)
