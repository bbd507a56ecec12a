"""Rules as data on the real broker: back-test, publish to a running worker, reclassify,
refuse bad rule sets, explain, and pick the live set up after a restart."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.events import RulesPublished
from streams.classify.rules import RuleSet, default_text
from streams.rules import topic as rules_topic
from streams.settings import Settings
from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    CREATED,
    NOTIFICATIONS,
    STATUS_CHANGED,
    Kafka,
    Record,
    Worker,
    wait_for,
)

# v2: medium orders from 2000 up, high from 5000; a rule routing high-value enterprise
# orders to a desk with a notification of its own.
V2_RULE = """
  - id: enterprise-desk
    description: High-value enterprise orders go to the enterprise desk.
    when: {all: [{customer_type: enterprise}, {value_tier: high}]}
    then:
      team: enterprise-desk
      raise_priority: P2
      notify: {kind: enterprise_desk, role: desk_lead, message: "Order $order_id for $team"}
"""


def v2_text() -> str:
    base = default_text()
    head, tail = base.split("\n# The order state machine", 1)
    head = head.replace("label: default", "label: v2").replace(
        "default: {high: 10000, medium: 1000}", "default: {high: 5000, medium: 2000}"
    )
    return f"{head.rstrip()}\n{V2_RULE}\n# The order state machine{tail}"


def cli(worker: Worker, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = worker.env() | {"ORDERTRIAGE_PUBLISHED_BY": "sales-ops@example.com"}
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def settings_of(worker: Worker) -> Settings:
    return Settings.model_validate(
        {"kafka_bootstrap": worker.env()["KAFKA_BOOTSTRAP"], "topic_prefix": worker.prefix}
    )


def values(records: list[Record]) -> list[dict[str, Any]]:
    return [ev.loads(r.value) for r in records]


def metric(worker: Worker, name: str) -> list[str]:
    text = worker.get("/metrics").text
    return [line for line in text.splitlines() if line.startswith(name)]


def test_publish_backtest_reclassify_refuse_explain(tmp_path: Path) -> None:
    worker = Worker(
        tmp_path,
        env_overrides={
            "ORDERTRIAGE_TICK_INTERVAL_SECONDS": "0.2",
            "ORDERTRIAGE_RECLASSIFY_BATCH_SIZE": "3",  # several batches per partition
        },
    ).start()
    kafka = Kafka(worker)
    try:
        # 24 orders, one customer each, amounts across the old and new thresholds; every
        # fourth one completed (it must not be reclassified), every third one confirmed.
        amounts = ["500", "1500", "2500", "4000", "6000", "9000", "12000", "800"] * 3
        open_ids, done_ids = set(), set()
        events = 0
        for n, amount in enumerate(amounts):
            oid = f"R{n:02d}"
            kind = "enterprise" if n % 2 else "individual"
            kafka.created(ev.dumps(ev.created(oid, f"C-{n}", amount, ctype=kind)), oid)
            walk = ["new"]
            if n % 4 == 0:
                walk = ["new", "confirmed", "processing", "shipped", "delivered", "completed"]
            elif n % 3 == 0:
                walk = ["new", "confirmed"]
            for i, (a, b) in enumerate(itertools.pairwise(walk)):
                kafka.status(ev.dumps(ev.status(oid, a, b, minutes=i + 1)), oid)
            (done_ids if walk[-1] == "completed" else open_ids).add(oid)
            events += len(walk)
        before = kafka.read(CLASSIFIED, lambda rs: len(rs) >= events, timeout=90)
        assert len(before) == events

        new_file = tmp_path / "v2.yaml"
        new_file.write_text(v2_text())
        v2 = RuleSet.from_file(new_file)

        # Back-test against the live set (nothing published yet: the shipped default).
        out = cli(
            worker,
            "rules",
            "diff",
            "@live",
            str(new_file),
            "--json",
            "--examples",
            "1000",
            "--topic",
            worker.topic(CREATED),
            "--topic",
            worker.topic(STATUS_CHANGED),
        )
        diff = json.loads(out.stdout)
        assert diff["old_version"] == RuleSet.default().version
        assert diff["new_version"] == v2.version
        assert diff["orders"] == 24 and diff["open_orders"] == len(open_ids)
        tier = next(d for d in diff["dimensions"] if d["dimension"] == "value_tier")
        # 1500 (medium -> low), 6000 & 9000 (medium -> high) change; 2500/4000 stay medium.
        assert tier["changed"] == 9

        # An invalid file never reaches the topic.
        bad = tmp_path / "bad.yaml"
        bad.write_text(v2_text().replace("{value_tier: high}", "{value_teir: high}", 1))
        refused = cli(worker, "rules", "publish", str(bad), check=False)
        assert refused.returncode == 2
        assert "unknown fact 'value_teir'; did you mean 'value_tier'?" in refused.stderr

        published = cli(worker, "rules", "publish", str(new_file), "--comment", "Q4 tiers")
        assert v2.version in published.stdout

        # Reclassification: one record per open order whose classification changed.
        changed_open = {
            c["order_id"] for d in diff["dimensions"] for c in d["examples"] if c["open"]
        }

        def reclassified(rs: list[Record]) -> list[dict[str, Any]]:
            return [v for v in values(rs) if v["cause"] == "reclassified"]

        after = kafka.read(
            CLASSIFIED, lambda rs: len(reclassified(rs)) >= len(changed_open), timeout=60
        )
        redone = reclassified(after)
        assert {r["order_id"] for r in redone} == changed_open
        assert changed_open <= open_ids and changed_open
        assert len(redone) == len(changed_open)  # once each
        for r in redone:
            assert r["rules_version"] == v2.version
            assert r["event_id"] == f"rules:{v2.version}"
            assert r["reasons"]["rules"].endswith(f"-> {v2.version}")
        # Live == back-test: each open order ends as the diff's "new" side says.
        new_side = {
            (c["order_id"], d["dimension"]): c["new"]
            for d in diff["dimensions"]
            for c in d["examples"]
        }
        final = {r["order_id"]: r for r in redone}
        for (oid, dim), value in new_side.items():
            if oid in final:
                got = final[oid][dim]
                shown = (",".join(got) if isinstance(got, list) else got) or "-"
                assert shown == value, (oid, dim)

        # Only what became true was notified: the new rule's kind, and high_value_order for
        # orders that became high, never again for orders that were high already.
        notes = values(kafka.read(NOTIFICATIONS, lambda rs: True, timeout=5))
        on_publish = [n for n in notes if n["cause_event_id"] == f"rules:{v2.version}"]
        assert len(on_publish) == diff["notifications_on_publish"]
        ids = Counter(n["notification_id"] for n in notes)
        assert max(ids.values()) == 1
        high_before = {v["order_id"] for v in values(before) if v["value_tier"] == "high"}
        assert not [
            n
            for n in on_publish
            if n["kind"] == "high_value_order" and n["order_id"] in high_before
        ]
        assert {n["kind"] for n in on_publish} >= {"enterprise_desk"}

        # A worker-side bad record (bypassing the CLI) is ignored; the last good set stays.
        s = settings_of(worker)
        junk = RulesPublished.model_validate(
            {**json.loads(_record_json(new_file)), "rules_yaml": "label: [oops"}
        )
        asyncio.run(rules_topic.send_raw(s, junk.model_dump_json().encode()))
        asyncio.run(rules_topic.send_raw(s, b"\xff not json"))
        wait_for(
            lambda: (
                metric(worker, "ordertriage_rules_rejected_total")
                == ["ordertriage_rules_rejected_total 2.0"]
            ),
            20,
            "two rejected rule sets",
        )
        assert metric(worker, "ordertriage_rules_info") == [
            f'ordertriage_rules_info{{version="{v2.version}"}} 1.0'
        ]
        history = cli(worker, "rules", "history", "--json").stdout.splitlines()
        rows = [json.loads(line) for line in history]
        assert [r["live"] for r in rows] == [True, False, False]
        assert rows[0]["published_by"] == "sales-ops@example.com"
        assert rows[0]["comment"] == "Q4 tiers" and rows[1]["rejected"]

        # Explain: each dimension with what decided it, under the live version.
        oid = next(iter(sorted(changed_open)))
        explained = worker.get(f"/orders/{oid}/explain").json()
        assert explained["rules_version"] == v2.version and explained["current"]
        dims = {d["dimension"]: d for d in explained["dimensions"]}
        assert dims["value_tier"]["decided_by"].startswith("value_tiers.default (high 5000")
        assert Decimal(explained["inputs"]["amount"]) == Decimal(final[oid]["total_amount"])
        shown = cli(worker, "explain", oid, "--url", worker.url).stdout
        assert "value_tiers.default" in shown

        # New orders use v2 at once; a restarted worker starts on v2 too.
        kafka.created(ev.dumps(ev.created("R-new", "C-new", "5500", ctype="enterprise")), "R-new")
        late = kafka.read(CLASSIFIED, lambda rs: any(v["order_id"] == "R-new" for v in values(rs)))
        fresh = next(v for v in values(late) if v["order_id"] == "R-new")
        assert fresh["value_tier"] == "high" and fresh["team"] == "enterprise-desk"
        worker.stop()
        worker.start()
        assert metric(worker, "ordertriage_rules_info") == [
            f'ordertriage_rules_info{{version="{v2.version}"}} 1.0'
        ]
    finally:
        kafka.close()
        worker.stop()


def _record_json(path: Path) -> str:
    return rules_topic.make_record(path, "test", None).model_dump_json()
