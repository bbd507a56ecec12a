"""``ordertriage top --once`` summarises the output topics with the right figures."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.integration import events as ev
from tests.integration.harness import CLASSIFIED, DEADLETTER, Kafka, Worker


def test_top_once_shows_the_mix_notifications_and_dead_letters(
    worker: Worker, kafka: Kafka
) -> None:
    kafka.created(ev.dumps(ev.created("T1", "C-T1", "20000.00", vip=True)), "T1")  # high, P1
    kafka.created(ev.dumps(ev.created("T2", "C-T2", "5000.00")), "T2")  # medium, P3
    kafka.created(ev.dumps(ev.created("T3", "C-T3", "50.00")), "T3")  # low, P4
    kafka.created(b"{not json", "T4")
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 3)
    kafka.read(DEADLETTER, lambda rs: len(rs) >= 1)

    env = worker.env() | {"COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", "top", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "orders 3 | orders/s" in out
    assert "classified records 3 | notifications 2 | dead letters 1" in out

    def row(label: str) -> str:
        found = re.search(rf"\b{label}\s+(\d+)(?:\s+(\d+%))?", out)
        assert found, f"{label} missing in:\n{out}"
        return " ".join(g for g in found.groups() if g)

    assert row("high") == "1 33%" and row("medium") == "1 33%" and row("low") == "1 33%"
    assert row("P1") == "1 33%" and row("P3") == "1 33%" and row("P4") == "1 33%"
    assert "P2" not in out.split("latest notifications")[0]
    assert row("high_value_order") == "1" and row("vip_order") == "1"
    assert row("invalid_json") == "1"
    assert "sales_manager: New high-value order T1" in out
