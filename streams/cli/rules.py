"""``ordertriage rules ...`` and ``ordertriage explain``: change rules safely, see why."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from schemas.codec import DecodeError, decode
from schemas.events import OrderCorrection, OrderCreated, StatusChanged
from streams import apiauth
from streams.classify.backtest import RulesDiff, diff, replay
from streams.classify.rules import RuleSet, RuleSetError
from streams.settings import get_settings

console = Console(soft_wrap=True)
LIVE = "@live"


@click.group()
def rules() -> None:
    """Validate, back-test, publish and audit classification rule sets."""


def _load(path: str) -> RuleSet:
    """A rule file, or ``@live`` for the set running workers use now (from the rules topic)."""
    from streams.rules import topic as rules_topic

    if path == LIVE:
        record = asyncio.run(rules_topic.live(get_settings()))
        return RuleSet.from_text(record.rules_yaml, LIVE) if record else RuleSet.default()
    return RuleSet.from_file(Path(path))


def _fail(exc: RuleSetError) -> None:
    click.echo(str(exc), err=True)  # one problem per line, unwrapped, for people and CI logs
    raise SystemExit(2)


@rules.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def validate(file: str) -> None:
    """Check FILE; print its version and rules, or every problem found."""
    try:
        rule_set = RuleSet.from_file(Path(file))
    except RuleSetError as exc:
        _fail(exc)
        return
    console.print(f"[green]valid[/]: {rule_set.version}, {len(rule_set.rules)} rules")


@rules.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--by", help="who publishes (default: $ORDERTRIAGE_PUBLISHED_BY, else login)")
@click.option("--comment", help="why, for the audit trail")
def publish(file: str, by: str | None, comment: str | None) -> None:
    """Validate FILE and publish it: running workers switch to it without a restart."""
    from streams.rules import topic as rules_topic

    try:
        record = rules_topic.make_record(Path(file), rules_topic.publisher_name(by), comment)
    except RuleSetError as exc:
        _fail(exc)
        return
    offset = asyncio.run(rules_topic.publish(get_settings(), record))
    console.print(
        f"published {record.version} by {record.published_by} at offset {offset};"
        " workers switch and reclassify open orders in the background"
    )


@rules.command()
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table")
def history(as_json: bool) -> None:
    """Every rule set ever published, who published it and when; the live one is marked."""
    from streams.rules import topic as rules_topic

    entries = asyncio.run(rules_topic.history(get_settings()))
    live = max((o for o, rec, problem in entries if rec and not problem), default=None)
    if as_json:
        for offset, rec, problem in entries:
            body = rec.model_dump(mode="json", exclude={"rules_yaml"}) if rec else {}
            print(
                json.dumps(
                    {"offset": offset, **body, "live": offset == live, "rejected": problem or None}
                )
            )
        return
    table = Table("offset", "published at", "by", "version", "source", "comment", "state")
    for offset, rec, problem in entries:
        state = (
            "[green]live[/]"
            if offset == live
            else (f"[red]rejected[/]: {problem}" if problem else "")
        )
        if rec is None:
            table.add_row(str(offset), "-", "-", "-", "-", "-", state)
            continue
        table.add_row(
            str(offset),
            rec.published_at.isoformat(timespec="seconds"),
            rec.published_by,
            rec.version,
            rec.source,
            rec.comment or "",
            state,
        )
    console.print(table)


def _events_from_file(path: Path) -> Iterator[bytes]:
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                yield line


def _events_from_topics(topics: tuple[str, ...]) -> Iterator[bytes]:
    from streams.kafka.io import read_all

    yield from asyncio.run(read_all(get_settings().bootstrap, list(topics)))


Replayed = OrderCreated | StatusChanged | OrderCorrection


def _decoded(raw: Iterator[bytes], skipped: list[str]) -> Iterator[Replayed]:
    for value in raw:
        model: type[Replayed] = (
            OrderCreated
            if b'"order"' in value
            else OrderCorrection
            if b'"corrected_by"' in value
            else StatusChanged
        )
        try:
            yield decode(model, value)
        except DecodeError as exc:
            skipped.append(exc.code)


@rules.command("diff")
@click.argument("old")
@click.argument("new")
@click.option(
    "--events",
    type=click.Path(exists=True, dir_okay=False),
    help="JSON lines of orders.created / .status-changed (/ .corrections, to score) values",
)
@click.option("--topic", "topics", multiple=True, help="read these topics from the beginning")
@click.option("--json", "as_json", is_flag=True, help="print the diff as JSON")
@click.option("--examples", default=5, show_default=True, help="examples per dimension")
def diff_command(
    old: str, new: str, events: str | None, topics: tuple[str, ...], as_json: bool, examples: int
) -> None:
    """Back-test: replay recorded events through OLD and NEW (files, or @live) and compare."""
    if not events and not topics:
        raise click.UsageError("give --events FILE or --topic T (repeatable)")
    try:
        old_rules, new_rules = _load(old), _load(new)
    except RuleSetError as exc:
        _fail(exc)
        return
    raw = list(_events_from_file(Path(events)) if events else _events_from_topics(topics))
    skipped: list[str] = []
    decoded = list(_decoded(iter(raw), skipped))
    # Created orders first, as the live pipeline effectively does (status changes that
    # overtake their order are parked); per-order order is kept.
    decoded.sort(key=lambda e: 0 if isinstance(e, OrderCreated) else 1)
    old_run, new_run = replay([], old_rules), replay([], new_rules)
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("replaying", total=len(decoded))
        for event in decoded:
            old_run.add(event)
            new_run.add(event)
            progress.advance(task)
    result = diff(old_run, new_run, examples=examples)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    _print_diff(result, len(skipped))


def _print_diff(result: RulesDiff, skipped: int) -> None:
    console.print(
        f"[bold]{result.old_version} -> {result.new_version}[/]: {result.orders} orders"
        f" ({result.open_orders} open), {result.refused_events} events refused,"
        f" {skipped} undecodable"
    )
    table = Table("dimension", "orders changed", "open (reclassified on publish)", "examples")
    for d in result.dimensions:
        shown = "; ".join(f"{c.order_id}: {c.old} -> {c.new}" for c in d.examples)
        table.add_row(d.dimension, str(d.changed), str(d.changed_open), shown)
    shown = "; ".join(f"{c.order_id}: {c.new}" for c in result.notification_examples)
    table.add_row(
        "notifications",
        str(result.notifications_on_publish),
        str(result.notifications_on_publish),
        shown,
    )
    console.print(table)
    score = result.corrections
    if score is not None:
        console.print(
            f"against {score.corrections} corrections on {score.reviewed_orders} reviewed"
            f" orders: old rules right on {score.old_right}, new on {score.new_right};"
            f" the new rules fix [green]{score.fixed}[/] and break [red]{score.broken}[/]"
            " decisions people corrected or confirmed"
        )
        for label, changes in (("fixed", score.examples_fixed), ("broken", score.examples_broken)):
            if changes:
                shown = "; ".join(f"{c.order_id}: {c.old} -> {c.new}" for c in changes)
                console.print(f"  {label}: {shown}")


@click.command()
@click.argument("order_id")
@click.option("--url", default=None, help="a worker's web address (default from settings)")
@click.option("--json", "as_json", is_flag=True, help="print the raw JSON")
def explain(order_id: str, url: str | None, as_json: bool) -> None:
    """Why ORDER_ID is classified as it is: each dimension, what decided it, the inputs."""
    settings = get_settings()
    base = url or f"http://{settings.web_host}:{settings.web_port}"
    try:
        auth = apiauth.client_headers(settings)
    except apiauth.TokenError as missing:
        raise click.ClickException(str(missing)) from None
    response = httpx.get(f"{base}/orders/{order_id}/explain", headers=auth, timeout=10)
    if response.status_code == 401:
        raise click.ClickException(
            f"{base} refused the API token: give this command the workers' token"
            " (ORDERTRIAGE_API_TOKEN or ORDERTRIAGE_API_TOKEN_FILE)"
        )
    if response.status_code == 404:
        raise click.ClickException(f"order {order_id} not found")
    response.raise_for_status()
    body = response.json()
    if as_json:
        print(json.dumps(body, indent=2))
        return
    console.print(
        f"[bold]{order_id}[/] under rules {body['rules_version']}"
        f" ({'current' if body['current'] else 'older than the live rules'})"
    )
    table = Table("dimension", "value", "decided by", "why")
    for d in body["dimensions"]:
        table.add_row(d["dimension"], d["value"], d["decided_by"], d["reason"])
    console.print(table)
    console.print("inputs: " + ", ".join(f"{k}={v}" for k, v in body["inputs"].items()))
