"""The Grafana dashboard and the alert rules only use metrics the worker (or the notifier) exports.

The exported names come from the registry the worker builds (business metrics and Faust's
sensors), so renaming a metric without updating the dashboard or the alerts fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import faust
import pytest
import yaml
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from streams.notify.metrics import REGISTRY as NOTIFY_REGISTRY
from streams.runtime.faust_metrics import setup_faust_metrics

ROOT = Path(__file__).parents[3]
DASHBOARD = ROOT / "deploy/grafana/dashboards/ordertriage.json"
RULES = ROOT / "deploy/prometheus/rules/ordertriage.yml"
METRIC = re.compile(r"\b(?:ordertriage|faust)_[a-z0-9_]+")
DIMENSIONS = {"product_type", "customer_segment", "value_tier", "status_category", "priority"}


def exported() -> set[str]:
    registry = CollectorRegistry()
    Metrics.create(registry)
    setup_faust_metrics(faust.App("names-only", autodiscover=False), registry)
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    collected = [*registry.collect(), *NOTIFY_REGISTRY.collect()]  # ordertriage notify's own
    return {m.name + s for m in collected for s in suffixes[m.type]}


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [t["expr"] for p in panels for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [r["expr"] for g in groups for r in g["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_referenced_metrics_are_exported(source: str) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else rule_exprs()
    used = {name for e in exprs for name in METRIC.findall(e)}
    assert used, "no metric found: the pattern is broken"
    assert used - exported() == set()


def test_dimension_labels_exist() -> None:
    used = {d for e in dashboard_exprs() for d in re.findall(r'dimension="([^"]+)"', e)}
    assert used and used <= DIMENSIONS


def test_panels_fit_the_grid_without_overlap() -> None:
    data = json.loads(DASHBOARD.read_text())
    cells: dict[tuple[int, int], str] = {}
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids))
    for panel in data["panels"]:
        g = panel["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, panel["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_provisioning_matches_the_dashboard_and_compose() -> None:
    grafana = ROOT / "deploy/grafana"
    source = yaml.safe_load((grafana / "provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in source["datasources"]}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert {p["datasource"]["uid"] for p in panels if "datasource" in p} <= uids
    service = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["grafana"]
    mounted = {v.split(":")[0] for v in service["volumes"]}
    assert mounted == {"./deploy/grafana/provisioning", "./deploy/grafana/dashboards"}
    provider = yaml.safe_load((grafana / "provisioning/dashboards/ordertriage.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
