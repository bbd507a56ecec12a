"""``ordertriage privacy erase`` and ``ordertriage deadletters replay``."""

from __future__ import annotations

import asyncio
import getpass
import uuid
from datetime import UTC, datetime

import click

from streams.settings import get_settings


@click.group()
def privacy() -> None:
    """Personal data: erase a customer (docs/security.md)."""


@privacy.command()
@click.argument("customer_id")
@click.option("--by", "requested_by", default=None, help="who asks (default: the OS user)")
def erase(customer_id: str, requested_by: str | None) -> None:
    """Erase CUSTOMER_ID: its data key and records; the audit goes to customers.erasures.

    The request is a record on the customer stage's own topic, keyed by the customer, so
    whichever worker owns the customer handles it, in order with the customer's orders.
    """
    from schemas.events import ErasureRequested
    from streams.kafka.io import send
    from streams.topics import ERASE_HEADER

    settings = get_settings()
    request = ErasureRequested(
        event_id=f"erase-{uuid.uuid4()}",
        occurred_at=datetime.now(UTC),
        customer_id=customer_id,
        requested_by=requested_by or getpass.getuser(),
    )
    topic = settings.internal_topic("orders-by-customer")
    record = (
        topic,
        customer_id.encode(),
        request.model_dump_json().encode(),
        [(ERASE_HEADER, b"1")],
    )
    asyncio.run(send(settings.bootstrap, [record]))
    click.echo(f"erasure {request.event_id} of {customer_id} requested on {topic}")


@click.group()
def deadletters() -> None:
    """Dead letters (orders.deadletter): replay them to their source topics."""


@deadletters.command()
@click.option("--code", "codes", multiple=True, help="only these reason codes (repeatable)")
@click.option("--dry-run", is_flag=True, help="say what would be replayed, send nothing")
def replay(codes: tuple[str, ...], dry_run: bool) -> None:
    """Open each sealed dead letter and re-send the original to the topic it came from.

    The pipeline validates it again and drops what it has already applied, so a replay of
    a dead letter whose cause is fixed is safe to repeat.
    """
    from streams.kafka.io import records_to_end, send
    from streams.privacy.crypto import SealError
    from streams.privacy.master import load_keyring
    from streams.privacy.replay import DLQ, Replay, replay_of
    from streams.topics import DEADLETTER

    settings = get_settings()
    ring = load_keyring(settings)
    found = asyncio.run(records_to_end(settings.bootstrap, [settings.topic(DEADLETTER)]))
    chosen: list[Replay] = []
    for record in found:
        headers = list(record.headers)
        code = dict(headers).get(DLQ + "reason_code", b"").decode()
        if codes and code not in codes:
            continue
        where = f"{record.topic}[{record.partition}]@{record.offset}"
        try:
            outcome = replay_of(record.key, record.value, headers, ring)
        except SealError as exc:
            outcome = str(exc)
        if isinstance(outcome, str):
            click.echo(f"skipped {where} ({code}): {outcome}", err=True)
            continue
        chosen.append(outcome)
    if not dry_run:
        asyncio.run(send(settings.bootstrap, [(r.topic, r.key, r.value, []) for r in chosen]))
    verb = "would replay" if dry_run else "replayed"
    click.echo(f"{verb} {len(chosen)} of {len(found)} dead letters")
