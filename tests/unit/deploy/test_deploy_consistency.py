"""docker-compose.yml and the local launcher describe the same broker, ports and worker."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams.settings import Settings

ROOT = Path(__file__).parents[3]
#: Launcher settings that compose must repeat (listeners, ids and paths legitimately differ).
SHARED = (
    "process.roles",
    "node.id",
    "auto.create.topics.enable",
    "num.partitions",
    "default.replication.factor",
    "min.insync.replicas",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "group.initial.rebalance.delay.ms",
    "log.retention.hours",
    "log.retention.bytes",
    "log.segment.bytes",
)


def server_properties() -> dict[str, str]:
    props = {}
    for line in (ROOT / "deploy/kafka/server.properties").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_broker_has_the_launcher_settings() -> None:
    env = {k: str(v) for k, v in compose()["services"]["kafka"]["environment"].items()}
    props = server_properties()
    for key in SHARED:
        name = "KAFKA_" + key.upper().replace(".", "_")
        assert env.get(name) == props[key], f"{name}={env.get(name)} but {key}={props[key]}"


def test_partitions_match_the_worker_default() -> None:
    assert int(server_properties()["num.partitions"]) == Settings().topic_partitions


def test_worker_port_is_the_default_and_scraped(monkeypatch) -> None:
    for name in ("ORDERTRIAGE_WEB_PORT", "KAFKA_BOOTSTRAP"):
        monkeypatch.delenv(name, raising=False)
    worker = compose()["services"]["worker"]
    port = Settings().web_port
    assert worker["environment"]["ORDERTRIAGE_WEB_PORT"] == str(port)
    assert f"127.0.0.1:{port}:{port}" in worker["ports"]
    assert worker["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9092"
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [
        t
        for job in prometheus["scrape_configs"]
        for c in job["static_configs"]
        for t in c["targets"]
    ]
    assert f"worker:{port}" in targets
