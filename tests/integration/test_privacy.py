"""Personal data on the real broker: canaries never in clear downstream, and erasure.

One worker with the RocksDB store takes orders, a dead-lettered order, a duplicate and a
feedback with unique canary names, e-mails and phones (valid and invalid, and inside free
text and an order's notes); then one customer is erased. Every topic except the inputs, every
changelog, the RocksDB directory and the worker's log are then searched byte for byte.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from schemas.events import CustomerErased, OrderCreated
from streams.kafka import io as kafka_io
from streams.kafka.clients import admin
from streams.privacy.contact import CustomerKey, open_contact
from streams.privacy.crypto import Keyring, SealError
from streams.privacy.master import decode_key
from streams.topics import (
    CREATED,
    ERASURES,
    FEEDBACK_CLASSIFIED,
    FEEDBACK_CORRECTIONS,
    FEEDBACK_RECEIVED,
    FEEDBACK_STATUS,
    SEGMENTS,
)
from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    DEADLETTER,
    Kafka,
    Record,
    Worker,
    bootstrap,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

INPUTS = {CREATED, FEEDBACK_RECEIVED, FEEDBACK_STATUS, FEEDBACK_CORRECTIONS}


def order(order_id: str, cid: str, name: str, email: str, phone: str, **extra: str) -> bytes:
    body = ev.created(order_id, cid, "1200.00")
    body["order"]["customer"].update(name=name, email=email, phone=phone)
    body["order"].update(extra)
    return ev.dumps(body)


def cli(worker: Worker, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=worker.env(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    return done.stdout.decode() + done.stderr.decode()


async def everything_on_the_broker(worker: Worker) -> dict[str, list[Record]]:
    """Every record of every topic of this worker's run (public prefix or app id)."""
    client = admin(bootstrap())
    await client.start()
    try:
        names = await client.list_topics()
    finally:
        await client.close()
    app_id = worker.env()["ORDERTRIAGE_APP_ID"]
    mine = [n for n in names if n.startswith((worker.prefix, f"{app_id}-"))]
    found: dict[str, list[Record]] = {n: [] for n in mine}
    for record in await kafka_io.records_to_end(bootstrap(), mine):
        found[record.topic].append(record)
    return found


def test_no_canary_in_clear_downstream_and_erasure_makes_it_unreadable(tmp_path: Path) -> None:
    tok = uuid.uuid4().hex[:8]
    d = f"{uuid.uuid4().int % 10**8:08d}"
    a, b = f"C-A{tok}", f"C-B{tok}"
    canaries = {
        "name A": f"Canaryname{tok}",
        "email A": f"canary{tok}@example.com",
        "phone A": f"+86 138 {d[:4]} {d[4:]}",
        "phone A digits": f"138{d}",
        "name B": f"Othername{tok}",
        "email B": f"other{tok}@example.com",
        "invalid phone B": f"139-{d[:4]}-{d[4:7]}",
        "name of a bad order": f"Badname{tok}",
        "email in notes": f"note{tok}@example.com",
        "email in feedback": f"fb{tok}@example.com",
        "phone in a comment": f"137{d}",
    }
    key_file = tmp_path / "master.key"
    worker = Worker(
        tmp_path,
        env_overrides={
            "ORDERTRIAGE_STORE": "rocksdb://",
            # No key configured: the worker generates one (the demo's path) and says where.
            "ORDERTRIAGE_MASTER_KEY": "",
            "ORDERTRIAGE_MASTER_KEY_GENERATED_FILE": str(key_file),
        },
    ).start()
    kafka = Kafka(worker)
    try:
        c = canaries
        kafka.created(order("SO-A1", a, c["name A"], c["email A"], c["phone A"]), "SO-A1")
        notes = f"call 138-{d[:4]}-{d[4:]} or mail {c['email in notes']}"
        kafka.created(
            order("SO-A2", a, c["name A"], c["email A"], c["phone A digits"], notes=notes), "SO-A2"
        )
        kafka.created(order("SO-B1", b, c["name B"], c["email B"], c["invalid phone B"]), "SO-B1")
        # Dead letters: an invalid order (at ingest) and a duplicate order (at the customer stage).
        bad = order("SO-X", a, c["name of a bad order"], "x@example.com", "1").replace(
            b'"channel":"online"', b'"channel":""'
        )
        kafka.created(bad, "SO-X")
        kafka.created(order("SO-A1", a, c["name A"], c["email A"], c["phone A"]), "SO-A1")
        text = f"快递太慢了,我的电话是 +86 138 {d[:4]} {d[4:]},邮箱 {c['email in feedback']}"
        kafka.send(
            FEEDBACK_RECEIVED,
            ev.dumps(ev.feedback("FB-A", text, customer_id=a, order_id="SO-A1")),
            b"FB-A",
        )

        kafka.read(CLASSIFIED, lambda rs: {r.key for r in rs} >= {b"SO-A1", b"SO-A2", b"SO-B1"}, 90)
        kafka.read(DEADLETTER, lambda rs: len(rs) >= 2, 60)
        kafka.read(FEEDBACK_CLASSIFIED, lambda rs: len(rs) >= 1, 60)
        # Once the desk has the feedback (before, the change is an unknown feedback's).
        status = {
            **ev.feedback_status("FB-A", "acknowledged"),
            "comment": f"rang {c['phone in a comment']}",
        }
        kafka.send(FEEDBACK_STATUS, ev.dumps(status), b"FB-A")
        kafka.read(
            FEEDBACK_CLASSIFIED,
            lambda rs: any(orjson.loads(r.value)["status"] == "acknowledged" for r in rs),
            60,
        )
        # Polled: the first table query can come before the producer has the changelog's
        # metadata (Faust's router answers 500 then).
        wait_for(lambda: worker.get(f"/customers/{a}").status_code == 200, 30, "A queryable")
        assert worker.get(f"/customers/{a}").json()["order_count"] == 2

        # Customer care has both customers (their first segments), so there is care to erase.
        kafka.read(SEGMENTS, lambda rs: {r.key for r in rs} >= {a.encode(), b.encode()}, 60)
        out = cli(worker, "privacy", "erase", a, "--by", "dpo@example.org")
        assert f"of {a} requested" in out
        audit = kafka.read(ERASURES, lambda rs: any(r.key == a.encode() for r in rs), 60)
        erased = CustomerErased.model_validate_json(audit[-1].value)
        assert (erased.customer_id, erased.requested_by) == (a, "dpo@example.org")
        assert set(erased.tables) == {
            "customer-keys",
            "customers",
            "customer-orders",
            "customer-care",
        }
        assert erased.data_key_version == 1 and erased.records_deleted == 4
        wait_for(lambda: worker.get(f"/customers/{a}").status_code == 404, 30, "A erased")
        assert worker.get(f"/customers/{b}").json()["order_count"] == 1  # B unaffected
        # The order book keeps A's orders (the business's records), with no personal data.
        answer = worker.get("/orders/SO-A1")
        assert answer.status_code == 200 and not any(
            v.encode() in answer.content for v in c.values()
        )

        # The invalid order replays from its sealed dead letter, through the project's tool.
        assert "replayed 1 of 2" in cli(
            worker, "deadletters", "replay", "--code", "schema_violation"
        )
        kafka.read(CREATED, lambda rs: sum(r.value == bad for r in rs) == 2, 30)
        kafka.read(DEADLETTER, lambda rs: len(rs) >= 3, 60)
    finally:
        kafka.close()
        worker.stop()

    log = worker.log_path.read_bytes()
    assert str(key_file).encode() in log and key_file.stat().st_mode & 0o077 == 0
    topics = asyncio.run(everything_on_the_broker(worker))
    changelogs = [t for t in topics if t.endswith("-changelog")]
    assert len(changelogs) >= 10 and f"ot-{worker.run_id}-customer-keys-changelog" in changelogs
    store = [p for p in worker.data_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sst" or p.name.endswith(".log") for p in store), "no RocksDB files"

    searched: dict[str, bytes] = {"worker log": log}
    for topic, records in topics.items():
        if topic.removeprefix(worker.prefix) in INPUTS:
            continue
        searched[topic] = b"\n".join(
            b"".join([r.key or b"", r.value or b"", *(v for _, v in r.headers)]) for r in records
        )
    searched |= {str(p): p.read_bytes() for p in store}
    found = [
        (what, where)
        for what, v in c.items()
        for where, data in searched.items()
        if v.encode() in data
    ]
    assert found == [], found
    assert b"ot1:C:" in searched[f"ot-{worker.run_id}-orders-enriched"]  # the scan saw the data

    # Erased: the keys table as a restoring worker reads it holds no key for A, B's still opens.
    ring = Keyring(decode_key(key_file.read_text()))
    keys: dict[bytes, CustomerKey] = {}
    for r in topics[f"ot-{worker.run_id}-customer-keys-changelog"]:
        keys[r.key] = CustomerKey.model_validate_json(r.value)
    assert keys[a.encode()].wrapped is None and keys[a.encode()].erased_offset is not None
    care = [(r.key, r.value) for r in topics[f"ot-{worker.run_id}-customer-care-changelog"]]
    assert (a.encode(), None) in care  # A's care state tombstoned by customer care
    assert dict(care)[b.encode()] is not None
    enriched = [orjson.loads(r.value) for r in topics[f"ot-{worker.run_id}-orders-enriched"]]
    customers = {
        e["event"]["order"]["order_id"]: OrderCreated.model_validate(e["event"]).order.customer
        for e in enriched
    }
    key_b = ring.unwrap(keys[b.encode()].wrapped or "", b)
    assert open_contact(customers["SO-B1"], key_b)["name"] == c["name B"]
    for cid, live in keys.items():
        if live.wrapped is not None:  # no key left opens A's sealed contact fields
            with pytest.raises(SealError):
                open_contact(customers["SO-A1"], ring.unwrap(live.wrapped, cid.decode()))
