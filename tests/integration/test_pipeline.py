"""End to end on the real broker: inputs in, every output topic and the HTTP API checked."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import signal
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

from streams.kafka.io import produce
from streams.tools.sample import SampleStream
from tests.integration import events as ev
from tests.integration.harness import (
    ANALYTICS,
    CLASSIFIED,
    DEADLETTER,
    NOTIFICATIONS,
    Kafka,
    Record,
    Worker,
    bootstrap,
    wait_for,
)

PII = (b"Wei Zhang", b"example.com", b"+86-10")


def by_order(records: list[Record]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in records:
        value = ev.loads(r.value)
        out.setdefault(value["order_id"], []).append(value)
    return out


def test_orders_are_classified_notified_and_aggregated(worker: Worker, kafka: Kafka) -> None:
    # One customer's orders sit on different partitions, which Kafka does not order among
    # themselves; like real orders minutes apart, each is sent once the previous is classified.
    a2 = ev.created("A2", "C-A", "60000.00")
    kafka.created(ev.dumps(ev.created("A1", "C-A", "5000.00")), "A1")
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 1)
    kafka.created(ev.dumps(a2), "A2")
    kafka.created(ev.dumps(a2), "A2")  # a duplicate must not count or notify twice
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 2)
    kafka.created(ev.dumps(ev.created("A3", "C-A", "40000.00")), "A3")
    kafka.created(ev.dumps(ev.created("B1", "C-B", "800.00", vip=True, ctype="individual")), "B1")
    items = [
        {"sku": "TV-1", "product_type": "electronics", "quantity": 1, "unit_price": "3000.00"},
        {"sku": "DSK-2", "product_type": "furniture", "quantity": 2, "unit_price": "4000.00"},
    ]
    kafka.created(ev.dumps(ev.created("M1", "C-M", "11000.00", items=items)), "M1")
    for i, (frm, to) in enumerate([("new", "confirmed"), ("confirmed", "cancelled")]):
        kafka.status(ev.dumps(ev.status("A1", frm, to, minutes=i + 1)), "A1")
    walk = ["new", "confirmed", "processing", "shipped", "delivered", "returned"]
    for i, (frm, to) in enumerate(itertools.pairwise(walk)):
        kafka.status(ev.dumps(ev.status("A2", frm, to, minutes=i + 1)), "A2")

    expected_records = 5 + 2 + 5  # created orders + A1 changes + A2 changes
    classified = kafka.read(CLASSIFIED, lambda rs: len(rs) >= expected_records)
    assert len(classified) == expected_records
    orders = by_order(classified)

    first = {o: next(r for r in rs if r["cause"] == "order-created") for o, rs in orders.items()}
    assert first["A1"]["customer_segment"] == "new" and first["A1"]["value_tier"] == "medium"
    assert first["A2"]["customer_segment"] == "regular" and first["A2"]["priority"] == "P2"
    # The third order sees the first two: 5000 + 60000 + 40000 crosses the VIP threshold.
    assert first["A3"]["customer_segment"] == "vip" and first["A3"]["priority"] == "P1"
    assert "105000.00 CNY" in first["A3"]["reasons"]["customer_segment"]
    assert first["B1"]["customer_segment"] == "vip" and first["B1"]["value_tier"] == "low"
    assert first["B1"]["priority"] == "P2"
    assert first["M1"]["primary_product_type"] == "furniture"
    assert first["M1"]["product_types"] == ["electronics", "furniture"]
    assert set(first["M1"]["tags"]) >= {"high-value", "multi-category", "new-customer"}
    assert all(r["rules_version"].startswith("default@") for r in first.values())
    assert [r["status"] for r in orders["A1"]] == ["new", "confirmed", "cancelled"]
    assert orders["A1"][-1]["status_category"] == "closed"
    assert orders["A2"][-1]["status"] == "returned"

    wanted = Counter(
        {
            ("A2", "high_value_order", "sales_manager"): 1,
            ("A3", "high_value_order", "sales_manager"): 1,
            ("M1", "high_value_order", "sales_manager"): 1,
            ("A3", "vip_order", "account_manager"): 1,
            ("B1", "vip_order", "account_manager"): 1,
            ("A1", "order_cancelled", "customer_service"): 1,
            ("A2", "order_returned", "customer_service"): 1,
        }
    )
    notes = kafka.read(NOTIFICATIONS, lambda rs: len(rs) >= sum(wanted.values()))
    got = Counter(
        (n["order_id"], n["kind"], n["recipient_role"])
        for n in map(ev.loads, (r.value for r in notes))
    )
    assert got == wanted
    assert len({ev.loads(r.value)["notification_id"] for r in notes}) == len(notes)

    # Analytics: the latest revision of every window adds up to what was classified.
    def complete(rs: list[Record]) -> bool:
        latest: dict[str, dict] = {}
        for r in rs:
            v = ev.loads(r.value)
            if v["revision"] >= latest.get(v["window_id"], {"revision": 0})["revision"]:
                latest[v["window_id"]] = v
        return sum(v["events"] for v in latest.values()) == expected_records

    windows = kafka.read(ANALYTICS, complete, timeout=30)
    latest: dict[str, dict] = {}
    for v in map(ev.loads, (r.value for r in windows)):
        if v["revision"] >= latest.get(v["window_id"], {"revision": 0})["revision"]:
            latest[v["window_id"]] = v
    tiers: Counter[str] = Counter()
    amounts: Counter[str] = Counter()
    for window in latest.values():
        for c in window["counts"]:
            if c["dimension"] == "value_tier":
                tiers[c["value"]] += c["count"]
                amounts[c["value"]] += Decimal(c["amounts"]["CNY"])
    assert tiers == Counter({"high": 3, "medium": 1, "low": 1})
    assert amounts["high"] == Decimal("111000.00")

    for record in classified + notes + windows:
        assert not any(p in (record.value or b"") for p in PII), record.value

    body = worker.get("/orders/A3").json()
    assert body["customer_segment"] == "vip" and body["priority"] == "P1"
    assert worker.get("/orders/NOPE").status_code == 404
    for debug_page in ("/router/", "/table/", "/graph/", "/stats/"):
        assert worker.get(debug_page).status_code == 404, debug_page

    tail = subprocess.run(
        [
            sys.executable,
            "-m",
            "streams.cli",
            "tail",
            worker.topic(NOTIFICATIONS),
            "--from-beginning",
            "--max",
            "7",
            "--idle-timeout",
            "20",
        ],
        env=worker.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert tail.returncode == 0, tail.stderr
    assert tail.stdout.count('"notification_id"') == 7 and "sales_manager" in tail.stdout

    metrics = worker.get("/metrics").text
    assert 'ordertriage_notifications_total{kind="vip_order"} 2.0' in metrics
    assert 'ordertriage_deadletters_total{reason="duplicate_event"} 1.0' in metrics
    assert 'ordertriage_orders_classified_total{dimension="value_tier",value="high"} 3.0' in metrics
    assert "ordertriage_processing_seconds_bucket" in metrics
    assert "faust_messages_received" in metrics or "faust_" in metrics
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make test` installs the Debian prometheus package"
    check = subprocess.run(
        [promtool, "check", "metrics"], input=metrics.encode(), capture_output=True, timeout=30
    )
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


def test_state_survives_a_restart(tmp_path: Path) -> None:
    """Tables are rebuilt from their changelogs: history and orders outlive the process."""
    worker = Worker(tmp_path).start()
    kafka = Kafka(worker)
    try:
        kafka.created(ev.dumps(ev.created("R1", "C-R", "70000.00")), "R1")
        kafka.status(ev.dumps(ev.status("R1", "new", "confirmed")), "R1")
        kafka.read(CLASSIFIED, lambda rs: len(rs) >= 2)
        worker.stop()
        shutil.rmtree(tmp_path / f"data-{worker.run_id}", ignore_errors=True)
        worker.start()
        wait_for(lambda: worker.get("/orders/R1").status_code == 200, 30, "R1 served again")
        assert worker.get("/orders/R1").json()["status"] == "confirmed"
        kafka.created(ev.dumps(ev.created("R2", "C-R", "40000.00")), "R2")
        kafka.status(ev.dumps(ev.status("R1", "confirmed", "processing", minutes=9)), "R1")
        records = kafka.read(CLASSIFIED, lambda rs: len(rs) >= 4)
        assert len(records) == 4
        r2 = next(v for v in map(ev.loads, (r.value for r in records)) if v["order_id"] == "R2")
        assert r2["customer_segment"] == "vip"  # 70000 before the restart + 40000 after
        assert "110000.00 CNY" in r2["reasons"]["customer_segment"]
    finally:
        kafka.close()
        worker.stop()


def test_kill_9_loses_no_order_and_repeats_no_notification_id(tmp_path: Path) -> None:
    """A backlog, a SIGKILL mid-way, a restart: every input event classified, nothing
    dead-lettered, and re-sent notifications carry the ids they had the first time."""
    worker = Worker(tmp_path, env_overrides={"ORDERTRIAGE_STATUS_GRACE_SECONDS": "30"})
    sample = list(SampleStream(1500, seed=11, bad_share=0.0, prefix=worker.prefix))
    asyncio.run(produce(bootstrap(), sample))
    worker.start()
    kafka = Kafka(worker)
    try:
        kafka.read(CLASSIFIED, lambda rs: len(rs) >= 1500, timeout=120)
        worker.stop(signal.SIGKILL)
        worker.start(timeout=150)  # the dead member's session must expire first

        def key(r: Record) -> tuple[bytes | None, str]:
            return r.key, ev.loads(r.value)["event_id"]

        classified = kafka.read(
            CLASSIFIED, lambda rs: len({key(r) for r in rs}) >= len(sample), timeout=180
        )
        assert len({key(r) for r in classified}) == len(sample)
        assert kafka.read(DEADLETTER, lambda rs: True, timeout=5) == []
        notes = [ev.loads(r.value) for r in kafka.read(NOTIFICATIONS, lambda rs: True)]
        by_id: dict[str, set[tuple[str, str]]] = {}
        for n in notes:
            by_id.setdefault(n["notification_id"], set()).add((n["order_id"], n["kind"]))
        assert all(len(causes) == 1 for causes in by_id.values())
        created = [ev.loads(v) for t, _, v in sample if t.endswith("orders.created")]
        high = {
            c["order"]["order_id"]
            for c in created
            if Decimal(c["order"]["total_amount"]) >= 10000 and c["order"]["currency"] == "CNY"
        }
        notified_high = {
            o for causes in by_id.values() for o, k in causes if k == "high_value_order"
        }
        assert high <= notified_high
    finally:
        kafka.close()
        worker.stop()
