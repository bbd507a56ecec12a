"""People's corrections end to end on the real broker: they override and stick, invalid ones
are dead-lettered, the worker's accuracy equals the test's own count from the events it
produced, and ``rules diff`` scores a rule set against the corrections in the topics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from streams.classify.rules import default_text
from streams.topics import CORRECTIONS
from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    DEADLETTER,
    Kafka,
    Worker,
    bootstrap,
    wait_for,
)

TOTALS = {"SO-0": "500.00", "SO-1": "700.00", "SO-2": "5000.00", "SO-3": "300.00"}


def correction(n: int, order_id: str, dimension: str, value: Any, by: str) -> bytes:
    return ev.dumps(
        {
            "event_id": f"C-{n}",
            "schema_version": 1,
            "occurred_at": (ev.T0 + timedelta(minutes=2 + n)).isoformat(),
            "order_id": order_id,
            "dimension": dimension,
            "value": value,
            "corrected_by": by,
            "reason": f"reviewed ({n})",
        }
    )


def test_corrections_override_stick_and_are_counted(
    worker: Worker, kafka: Kafka, tmp_path: Path
) -> None:
    for order_id, total in TOTALS.items():
        kafka.created(ev.dumps(ev.created(order_id, f"C-{order_id}", total)), order_id)
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(TOTALS))
    fixes = [
        (1, "SO-0", "value_tier", "medium", "li.wei"),  # the rules said low
        (2, "SO-1", "value_tier", "medium", "li.wei"),  # low -> medium
        (3, "SO-2", "priority", "P1", "tom.hill"),
        (4, "SO-3", "value_tier", "low", "tom.hill"),  # what it was: a confirmation
        (5, "SO-0", "value_tier", "high", "anna.berg"),  # over li.wei's correction
        (6, "SO-404", "priority", "P1", "tom.hill"),  # no such order
        (7, "SO-1", "tags", ["no-such-tag"], "tom.hill"),  # outside the vocabulary
    ]
    for n, order_id, dimension, value, by in fixes:
        # SO-1's corrections without a key, like a producer that does not key its records.
        key = None if order_id == "SO-1" else order_id.encode()
        kafka.send(CORRECTIONS, correction(n, order_id, dimension, value, by), key)
    # A status change after the corrections: the rules run again, the people's values stay.
    # Corrections and status changes are different topics, which the worker reads in no fixed
    # order: the status change is sent once the five valid corrections are classified.
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(TOTALS) + 5)
    kafka.status(ev.dumps(ev.status("SO-0", "new", "confirmed", minutes=20)), "SO-0")

    records = kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(TOTALS) + 5 + 1)
    last = {}
    for r in records:
        body = ev.loads(r.value)
        last[body["order_id"]] = body
    assert last["SO-0"]["cause"] == "status-changed" and last["SO-0"]["value_tier"] == "high"
    assert last["SO-1"]["value_tier"] == "medium" and last["SO-2"]["priority"] == "P1"
    corrected = [ev.loads(r.value) for r in records if b'"cause":"corrected"' in r.value]
    assert sorted(c["correction"]["event_id"] for c in corrected) == [f"C-{n}" for n in range(1, 6)]
    by_id = {c["correction"]["event_id"]: c["correction"] for c in corrected}
    assert by_id["C-5"]["decided_by"] == "correction by li.wei"
    assert "corrected to high by anna.berg: reviewed (5)" in last["SO-0"]["reasons"]["value_tier"]

    letters = kafka.read(DEADLETTER, lambda rs: len(rs) >= 2)
    codes = sorted(dict(r.headers or [])["ordertriage.dlq.reason_code"].decode() for r in letters)
    assert codes == ["invalid_correction", "unknown_order"]

    # Accuracy, recomputed from what this test produced: corrections of values the rules
    # decided (once per order and dimension), per rule and as confusion.
    expected_rule = Counter()
    expected_confusion = Counter()
    for c in by_id.values():
        if c["decided"] != c["value"] and not c["decided_by"].startswith("correction by"):
            expected_rule[(c["dimension"], c["decided_by"])] += 1
            expected_confusion[(c["dimension"], f"{c['decided']} -> {c['value']}")] += 1

    def answered() -> dict[str, Any] | None:
        response = worker.get("/accuracy?window=today")
        body = response.json() if response.status_code == 200 else None
        done = body and body["orders"] == len(TOTALS) and body["dimensions"].get("priority")
        return body if done else None

    wait_for(lambda: answered() is not None, 60, "the accuracy of this run's corrections")
    body = answered()
    assert body is not None
    got_rule = Counter(
        {
            (dim, rule): n
            for dim, d in body["dimensions"].items()
            for rule, n in d["by_rule"].items()
        }
    )
    got_confusion = Counter(
        {
            (dim, pair): n
            for dim, d in body["dimensions"].items()
            for pair, n in d["confusion"].items()
        }
    )
    assert got_rule == expected_rule and got_confusion == expected_confusion
    tier = body["dimensions"]["value_tier"]
    assert tier["corrected"] == 2 and tier["share_corrected"] == 0.5  # SO-0, SO-1 of 4
    assert (tier["overridden_corrections"], tier["confirmed"]) == (1, 1)

    # rules diff against the corrections in the topics: lower tiers make SO-1 medium
    # (700 >= 600) as the person said; SO-0 (500) stays low although people said high.
    lower = tmp_path / "lower.yaml"
    lower.write_text(
        default_text().replace(
            "default: {high: 10000, medium: 1000}", "default: {high: 4000, medium: 600}"
        )
    )
    live = tmp_path / "live.yaml"
    live.write_text(default_text())
    topics = [worker.topic(t) for t in ("orders.created", "orders.status-changed", CORRECTIONS)]
    out = subprocess.run(
        [sys.executable, "-m", "streams.cli", "rules", "diff", str(live), str(lower), "--json"]
        + [arg for t in topics for arg in ("--topic", t)],
        env={**os.environ, "KAFKA_BOOTSTRAP": bootstrap()},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    score = json.loads(out.stdout)["corrections"]
    assert score["corrections"] == 4, score  # the latest per order and dimension: SO-0..3
    assert score["fixed"] == 1  # SO-1's tier
    assert score["new_right"] == score["old_right"] + 1
