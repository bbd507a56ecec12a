"""A real Prometheus (Debian's package) scrapes a running worker and sees business metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx

from tests.integration import events as ev
from tests.integration.harness import CLASSIFIED, Kafka, Worker, free_port, wait_for

ROOT = Path(__file__).parents[2]
RULES = ROOT / "deploy/prometheus/rules/ordertriage.yml"
DASHBOARD = ROOT / "deploy/grafana/dashboards/ordertriage.json"


def test_prometheus_scrapes_the_worker(worker: Worker, kafka: Kafka, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    assert binary, "prometheus missing: `make tools` installs the Debian prometheus package"
    kafka.created(ev.dumps(ev.created("P1", "C-P", "20000.00", vip=True)), "P1")
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 1)

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{RULES}']\n"
        "scrape_configs:\n"
        "  - job_name: ordertriage\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{worker.port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v1/query"

    def value(query: str) -> float | None:
        try:
            result = httpx.get(api, params={"query": query}, timeout=2).json()["data"]["result"]
        except (httpx.HTTPError, KeyError, ValueError):
            return None
        return float(result[0]["value"][1]) if result else None

    try:
        wait_for(lambda: value('up{job="ordertriage"}') == 1.0, 60, "a successful scrape")
        query = 'sum(ordertriage_notifications_total{job="ordertriage"})'
        wait_for(lambda: value(query) == 2.0, 30, "the two notifications in Prometheus")
        tier = 'ordertriage_orders_classified_total{dimension="value_tier",value="high"}'
        assert value(tier) == 1.0
        assert value("faust_messages_received_total") is not None  # Faust's sensors too
        # Every dashboard query is valid PromQL for this Prometheus, and the business panels
        # have data; every alert and recording rule evaluates without error.
        panels = json.loads(DASHBOARD.read_text())["panels"]
        for panel in panels:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__range", "5m")
                reply = httpx.get(api, params={"query": expr}, timeout=5).json()
                assert reply["status"] == "success", (panel["title"], expr, reply)
        mix = 'sum by (value) (ordertriage_orders_classified_total{dimension="priority"})'
        assert value(mix) == 1.0
        rules_url = f"http://127.0.0.1:{port}/api/v1/rules"

        def rules_evaluated() -> bool:
            groups = httpx.get(rules_url, timeout=5).json()["data"]["groups"]
            rules = [r for g in groups for r in g["rules"]]
            return len(rules) == 6 and all(
                r.get("lastEvaluation", "0001").startswith("2") for r in rules
            )

        wait_for(rules_evaluated, 30, "every rule evaluated")
        groups = httpx.get(rules_url, timeout=5).json()["data"]["groups"]
        unhealthy = [
            (r["name"], r.get("lastError"))
            for g in groups
            for r in g["rules"]
            if r["health"] != "ok"
        ]
        assert unhealthy == []
    finally:
        proc.terminate()
        proc.wait(30)
