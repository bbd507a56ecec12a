"""docker-compose.yml and the local launcher describe the same broker, ports and worker."""

from __future__ import annotations

from pathlib import Path

import yaml

from streams import apiauth
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


# ---- the three-broker template, the Kubernetes ConfigMap and compose's worker (issue 14) ----

K8S = ROOT / "deploy/kubernetes"
#: Settings that differ by design between compose (one broker, one worker) and the ConfigMap
#: (a replicated cluster): the broker address, replication, and the per-pod web address.
PER_TARGET = {
    "KAFKA_BOOTSTRAP",
    # The compose broker is the plaintext demo broker; docker-compose.secure.yml adds these.
    "ORDERTRIAGE_BROKER_TLS",
    "ORDERTRIAGE_BROKER_SASL_MECHANISM",
    "ORDERTRIAGE_BROKER_SASL_USERNAME",
    "ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE",
    "ORDERTRIAGE_BROKER_CA_FILE",
    "ORDERTRIAGE_WEB_HOST",
    "ORDERTRIAGE_TOPIC_PARTITIONS",
    "ORDERTRIAGE_TOPIC_REPLICATION_FACTOR",
    "ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS",
}


def properties(name: str) -> dict[str, str]:
    props = {}
    for line in (ROOT / "deploy/kafka" / name).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def setting_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names |= set(getattr(alias, "choices", [])) or {f"ORDERTRIAGE_{name.upper()}"}
    return names


def configmap() -> dict[str, str]:
    return yaml.safe_load((K8S / "configmap.yaml").read_text())["data"]


def worker_env() -> dict[str, str]:
    return {k: str(v) for k, v in compose()["services"]["worker"]["environment"].items()}


def test_cluster_template_differs_from_the_single_broker_only_in_replication() -> None:
    single, cluster = properties("server.properties"), properties("cluster.properties")
    replication = {
        "node.id",
        "controller.quorum.voters",
        "default.replication.factor",
        "min.insync.replicas",
        "unclean.leader.election.enable",
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    }
    for key in set(single) | set(cluster):
        if key not in replication:
            assert single.get(key) == cluster.get(key), key
    assert cluster["default.replication.factor"] == cluster["offsets.topic.replication.factor"]
    assert cluster["default.replication.factor"] == "3"
    assert cluster["min.insync.replicas"] == "2"
    assert cluster["transaction.state.log.replication.factor"] == "3"


def test_every_env_name_is_a_setting() -> None:
    real = setting_env_names()
    for where, names in (("docker-compose.yml", worker_env()), ("configmap.yaml", configmap())):
        unknown = set(names) - real
        assert not unknown, f"{where} sets {unknown}, which no setting reads"


def test_compose_and_configmap_agree_where_they_apply() -> None:
    compose_env, k8s = worker_env(), configmap()
    shared = (set(compose_env) & set(k8s)) - PER_TARGET
    assert {"ORDERTRIAGE_STORE", "ORDERTRIAGE_DATA_DIR", "ORDERTRIAGE_APP_ID"} <= shared
    for name in sorted(shared):
        assert compose_env[name] == k8s[name], (
            f"{name}: compose {compose_env[name]}, k8s {k8s[name]}"
        )
    # Every setting the ConfigMap makes, compose makes too (or it differs by design).
    assert set(k8s) - PER_TARGET <= set(compose_env)


def test_replication_matches_each_targets_brokers() -> None:
    compose_env, k8s, cluster = worker_env(), configmap(), properties("cluster.properties")
    broker = {k: str(v) for k, v in compose()["services"]["kafka"]["environment"].items()}
    assert (
        compose_env["ORDERTRIAGE_TOPIC_REPLICATION_FACTOR"]
        == broker["KAFKA_DEFAULT_REPLICATION_FACTOR"]
    )
    assert (
        compose_env["ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS"] == broker["KAFKA_MIN_INSYNC_REPLICAS"]
    )
    assert compose_env["ORDERTRIAGE_TOPIC_PARTITIONS"] == broker["KAFKA_NUM_PARTITIONS"]
    assert k8s["ORDERTRIAGE_TOPIC_REPLICATION_FACTOR"] == cluster["default.replication.factor"]
    assert k8s["ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS"] == cluster["min.insync.replicas"]


def test_compose_worker_state_is_on_a_volume() -> None:
    doc = compose()
    (mount,) = [m for m in doc["services"]["worker"]["volumes"] if m.startswith("worker-state:")]
    volume, _, target = mount.partition(":")
    assert target == worker_env()["ORDERTRIAGE_DATA_DIR"]
    assert volume in doc["volumes"]
    # The image creates that directory for its user, so the new volume is writable.
    dockerfile = (ROOT / "deploy/Dockerfile").read_text()
    assert f"install -d -o ordertriage -g ordertriage {target}" in dockerfile


def test_compose_gives_the_worker_and_prometheus_their_tokens_from_one_volume() -> None:
    doc = compose()
    services, env = doc["services"], worker_env()
    assert not apiauth.is_loopback(env["ORDERTRIAGE_WEB_HOST"])  # so /metrics needs a token
    mounts = {
        name: {m.split(":")[1]: m.split(":")[0] for m in services[name]["volumes"]}
        for name in ("tokens", "worker", "prometheus")
    }
    api, metrics = (
        Path(env["ORDERTRIAGE_API_TOKEN_FILE"]),
        Path(env["ORDERTRIAGE_METRICS_TOKEN_FILE"]),
    )
    assert api.parent == metrics.parent and "tokens" in doc["volumes"]
    assert mounts["worker"][str(api.parent)] == "tokens"
    (written,) = services["tokens"]["command"][-1:]
    assert mounts["tokens"][written] == "tokens" and written == str(api.parent)
    assert services["worker"]["depends_on"]["tokens"] == {
        "condition": "service_completed_successfully"
    }
    # Prometheus reads the same file: its credentials_file, relative to the mounted config.
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = [j for j in prometheus["scrape_configs"] if j["job_name"] == "ordertriage"]
    assert job["authorization"]["type"] == "Bearer"
    config_dir = Path(next(t for t in mounts["prometheus"] if t.endswith("prometheus.yml"))).parent
    token = config_dir / job["authorization"]["credentials_file"]
    assert mounts["prometheus"][str(token.parent)] == "tokens" and token.name == metrics.name


def test_compose_secure_override_reads_secrets_from_files() -> None:
    secure = yaml.safe_load((ROOT / "docker-compose.secure.yml").read_text())
    env = secure["services"]["worker"]["environment"]
    assert set(env) <= setting_env_names(), set(env) - setting_env_names()
    assert "ORDERTRIAGE_BROKER_SASL_PASSWORD" not in env  # a file, never the value
    mounted = {f"/run/secrets/{name}" for name in secure["services"]["worker"]["secrets"]}
    assert {
        env["ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE"],
        env["ORDERTRIAGE_BROKER_CA_FILE"],
    } <= mounted
    assert set(secure["secrets"]) == set(secure["services"]["worker"]["secrets"])
    assert (env["ORDERTRIAGE_BROKER_TLS"], env["ORDERTRIAGE_BROKER_SASL_MECHANISM"]) == (
        "true",
        "SCRAM-SHA-512",
    )
