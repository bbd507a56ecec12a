"""deploy/kubernetes: every manifest is valid for Kubernetes and agrees with the worker.

Kubernetes objects are validated with ``kubernetes-validate`` against the JSON schemas it ships
(strict: unknown fields are errors; nothing is fetched). KEDA's ScaledObject is a CRD those
schemas do not have, so it is checked against a JSON schema written here from KEDA's documented
ScaledObject and Kafka-trigger fields (keda.sh, "Scaling Deployments, StatefulSets & Custom
Resources" and "Apache Kafka" scaler pages, KEDA 2.x).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from streams import apiauth
from streams.settings import Settings

ROOT = Path(__file__).parents[3]
K8S = ROOT / "deploy/kubernetes"
#: Oldest Kubernetes the manifests are meant for, and the newest schemas bundled.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())

Doc = dict[str, Any]


def load(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def manifests() -> list[tuple[Path, Doc]]:
    return [
        (path, doc)
        for path in sorted(K8S.rglob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load(path)
    ]


def one(kind: str) -> Doc:
    (found,) = [doc for _, doc in manifests() if doc["kind"] == kind]
    return found


def container() -> Doc:
    (worker,) = one("StatefulSet")["spec"]["template"]["spec"]["containers"]
    return worker


def config() -> dict[str, str]:
    return one("ConfigMap")["data"]


def setting_env_names() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names |= set(getattr(alias, "choices", [])) or {f"ORDERTRIAGE_{name.upper()}"}
    return names


KEDA_KAFKA_METADATA = {
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "partitionLimitation",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "ensureEvenDistributionOfPartitions",
    "version",
    "sasl",
    "tls",
    "unsafeSsl",
}
INT_STRING = {"type": "string", "pattern": r"^[0-9]+$"}
BOOL_STRING = {"type": "string", "enum": ["true", "false"]}
SCALED_OBJECT_SCHEMA: Doc = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
            },
        },
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "name": {"type": "string"},
                        "envSourceContainerName": {"type": "string"},
                    },
                },
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "initialCooldownPeriod": {"type": "integer", "minimum": 0},
                "idleReplicaCount": {"type": "integer", "minimum": 0},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "additionalProperties": False,
                    "properties": {
                        "failureThreshold": {"type": "integer", "minimum": 1},
                        "replicas": {"type": "integer", "minimum": 0},
                        "behavior": {"type": "string"},
                    },
                },
                "advanced": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "name": {"type": "string"},
                                # autoscaling/v2 HorizontalPodAutoscalerBehavior, checked below
                                # against the Kubernetes schema itself.
                                "behavior": {"type": "object"},
                            },
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                },
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "kafka"},
                            "name": {"type": "string"},
                            "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                            "useCachedMetrics": {"type": "boolean"},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string"},
                                    "kind": {
                                        "enum": [
                                            "TriggerAuthentication",
                                            "ClusterTriggerAuthentication",
                                        ]
                                    },
                                },
                            },
                            "metadata": {
                                "type": "object",
                                "required": ["bootstrapServers", "consumerGroup"],
                                "additionalProperties": False,
                                # KEDA reads trigger metadata as strings: numbers and booleans
                                # must be quoted.
                                "properties": {
                                    **{key: {"type": "string"} for key in KEDA_KAFKA_METADATA},
                                    "lagThreshold": INT_STRING,
                                    "activationLagThreshold": INT_STRING,
                                    "offsetResetPolicy": {"enum": ["earliest", "latest"]},
                                    "allowIdleConsumers": BOOL_STRING,
                                    "excludePersistentLag": BOOL_STRING,
                                    "scaleToZeroOnInvalidOffset": BOOL_STRING,
                                    "limitToPartitionsWithLag": BOOL_STRING,
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def test_every_manifest_is_listed_by_a_kustomization() -> None:
    listed: set[Path] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        (doc,) = load(kustomization)
        assert doc["kind"] == "Kustomization"
        for resource in doc["resources"]:
            target = (kustomization.parent / resource).resolve()
            assert target.exists(), f"{kustomization}: {resource} does not exist"
            if target.is_file():
                listed.add(target)
    assert {p.resolve() for p, _ in manifests()} == listed
    (base,) = load(K8S / "kustomization.yaml")
    assert [i["name"] for i in base["images"]] == [container()["image"].split(":")[0]]


@pytest.mark.parametrize("version", VERSIONS)
def test_kubernetes_objects_are_valid(version: str) -> None:
    kinds = []
    for path, doc in manifests():
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.relative_to(ROOT)}: {doc['kind']} invalid for {version}: {exc}")
        kinds.append(doc["kind"])
    assert sorted(kinds) == ["ConfigMap", "PodDisruptionBudget", "Service", "StatefulSet"]


@pytest.mark.parametrize(
    ("where", "bad"),
    [
        (("spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"), "6066"),
        (("spec", "template", "spec", "containers", 0, "resources", "limits"), ["1Gi"]),
        (("spec", "template", "spec", "containers", 0, "livenessProbe", "httpGett"), {}),
    ],
)
def test_the_validator_rejects_a_broken_statefulset(where: tuple[Any, ...], bad: Any) -> None:
    broken = copy.deepcopy(one("StatefulSet"))
    node = broken
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = bad
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_scaled_object_has_kedas_fields() -> None:
    scaled = one("ScaledObject")
    jsonschema.validate(scaled, SCALED_OBJECT_SCHEMA)
    # The HPA behavior KEDA passes through is Kubernetes' own type: validate it as part of one.
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "check"},
        "spec": {
            "scaleTargetRef": scaled["spec"]["scaleTargetRef"],
            "minReplicas": scaled["spec"]["minReplicaCount"],
            "maxReplicas": scaled["spec"]["maxReplicaCount"],
            "behavior": scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
        },
    }
    kubernetes_validate.validate(hpa, VERSIONS[-1], strict=True)


def test_scaled_object_schema_rejects_unquoted_and_unknown_fields() -> None:
    for key, value in [
        ("lagThreshold", 5000),
        ("lagTreshold", "5000"),
        ("allowIdleConsumers", True),
    ]:
        broken = copy.deepcopy(one("ScaledObject"))
        broken["spec"]["triggers"][0]["metadata"][key] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCALED_OBJECT_SCHEMA)


def test_scaled_object_targets_the_worker_group() -> None:
    spec = one("ScaledObject")["spec"]
    sts = one("StatefulSet")
    target = spec["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"]) == (sts["apiVersion"], sts["kind"])
    assert target["name"] == sts["metadata"]["name"]
    (trigger,) = spec["triggers"]
    meta = trigger["metadata"]
    assert meta["consumerGroup"] == config()["ORDERTRIAGE_APP_ID"]
    assert meta["bootstrapServers"] == config()["KAFKA_BOOTSTRAP"]
    # More workers than partitions would sit idle and never be ready (/readyz needs partitions).
    assert spec["maxReplicaCount"] <= int(config()["ORDERTRIAGE_TOPIC_PARTITIONS"])
    assert meta["allowIdleConsumers"] == "false"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]


def web_routes() -> set[str]:
    views = (ROOT / "streams/web").glob("*.py")
    return {path for f in views for path in re.findall(r'@app\.page\("([^"]+)"\)', f.read_text())}


def test_probes_hit_real_routes() -> None:
    api = yaml.safe_load((ROOT / "streams/web/openapi.yaml").read_text())
    worker = container()
    probes = {
        kind: worker[kind]["httpGet"]
        for kind in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/healthz"
    assert probes["readinessProbe"]["path"] == "/readyz"
    for probe in probes.values():
        assert probe["path"] in web_routes()
        assert probe["path"] in api["paths"]
        assert probe["port"] == worker["ports"][0]["name"]


def test_ports_agree_with_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ORDERTRIAGE_WEB_PORT", raising=False)
    (port,) = container()["ports"]
    assert port["containerPort"] == Settings().web_port == int(config()["ORDERTRIAGE_WEB_PORT"])
    service = one("Service")
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    assert service_port["port"] == port["containerPort"]
    annotations = one("StatefulSet")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port["containerPort"])
    assert annotations["prometheus.io/path"] in web_routes()


def test_state_volume_is_the_data_dir() -> None:
    sts = one("StatefulSet")["spec"]
    (mount,) = [m for m in container()["volumeMounts"] if m["name"] == "state"]
    assert mount["mountPath"] == config()["ORDERTRIAGE_DATA_DIR"]
    (claim,) = sts["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == mount["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    # RocksDB on that volume is what makes a restarted pod's recovery short.
    assert config()["ORDERTRIAGE_STORE"] == "rocksdb://"
    # The image runs as uid 10001; the volume must be writable by it.
    assert sts["template"]["spec"]["securityContext"]["fsGroup"] == 10001
    assert "USER ordertriage" in (ROOT / "deploy/Dockerfile").read_text()


def test_service_is_headless_and_governs_the_statefulset() -> None:
    sts = one("StatefulSet")
    service = one("Service")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["serviceName"] == service["metadata"]["name"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    for selector in (
        service["spec"]["selector"],
        sts["spec"]["selector"]["matchLabels"],
        one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    env = {e["name"]: e for e in container()["env"]}
    host = env["ORDERTRIAGE_WEB_HOST"]["value"]
    assert host.startswith(f"$(POD_NAME).{service['metadata']['name']}.$(POD_NAMESPACE).svc")
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_disruption_budget_keeps_all_but_one() -> None:
    assert one("PodDisruptionBudget")["spec"] == {
        "maxUnavailable": 1,
        "selector": one("PodDisruptionBudget")["spec"]["selector"],
    }


def test_settings_come_from_the_configmap_and_a_secret() -> None:
    sources = container()["envFrom"]
    assert {"configMapRef": {"name": one("ConfigMap")["metadata"]["name"]}} in sources
    # The password is a file of a mounted Secret, never an environment variable.
    assert not [s for s in sources if "secretRef" in s]
    assert "ORDERTRIAGE_BROKER_SASL_PASSWORD" not in config()
    volumes = {v["name"]: v for v in one("StatefulSet")["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container()["volumeMounts"]}
    secret = volumes["kafka-credentials"]["secret"]
    assert secret["secretName"] == "ordertriage-kafka-credentials"
    assert secret["defaultMode"] & 0o007 == 0  # not world-readable
    (item,) = secret["items"]
    password_file = f"{mounts['kafka-credentials']}/{item['path']}"
    assert config()["ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE"] == password_file
    (ca,) = volumes["kafka-ca"]["configMap"]["items"]
    assert config()["ORDERTRIAGE_BROKER_CA_FILE"] == f"{mounts['kafka-ca']}/{ca['path']}"
    assert all(m["readOnly"] for m in container()["volumeMounts"] if m["name"].startswith("kafka"))
    # No Secret object (and so no credential) is committed.
    assert not [doc for _, doc in manifests() if doc["kind"] == "Secret"]
    real = setting_env_names()
    assert set(config()) <= real, set(config()) - real
    pod_only = {e["name"] for e in container()["env"]} - {"POD_NAME", "POD_NAMESPACE"}
    assert pod_only <= real, pod_only - real


def test_configmap_is_a_valid_replicated_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.startswith(("ORDERTRIAGE_", "KAFKA_")):
            monkeypatch.delenv(name)
    for name, value in config().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ORDERTRIAGE_WEB_HOST", "ordertriage-worker-0.ordertriage-worker.ns.svc")
    # The mounted files, here: the secure settings are checked with them present.
    for name in ("ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE", "ORDERTRIAGE_BROKER_CA_FILE"):
        local = tmp_path / Path(config()[name]).name
        local.write_text("x")
        monkeypatch.setenv(name, str(local))
    s = Settings()  # raises on any invalid value
    assert (s.broker_tls, s.broker_sasl_mechanism) == (True, "SCRAM-SHA-512")
    assert (s.topic_replication_factor, s.topic_min_insync_replicas) == (3, 2)
    assert s.replication_topic_config == {"min.insync.replicas": "2"}
    assert s.topic_partitions == 12
    assert str(s.data_dir) == config()["ORDERTRIAGE_DATA_DIR"]
    assert s.bootstrap == config()["KAFKA_BOOTSTRAP"]


def test_resources_cover_the_measured_worker() -> None:
    resources = container()["resources"]

    def mib(quantity: str) -> float:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
        return int(number) * (1024 if unit == "Gi" else 1)

    # ~200 MiB at rest, ~290 MiB with 1M orders recovered into RocksDB (bench-scaling).
    assert mib(resources["requests"]["memory"]) >= 350
    assert mib(resources["limits"]["memory"]) >= 2 * mib(resources["requests"]["memory"])
    assert resources["requests"]["cpu"]


def test_http_tokens_are_files_of_a_mounted_secret_others_cannot_read() -> None:
    """The pods bind beyond loopback: one API token for all of them, /metrics its own."""
    spec = one("StatefulSet")["spec"]["template"]["spec"]
    (volume,) = [
        v
        for v in spec["volumes"]
        if v.get("secret", {}).get("secretName") == "ordertriage-api-tokens"
    ]
    secret = volume["secret"]
    assert secret.get("optional") is not True  # no pod starts without its tokens
    assert secret["defaultMode"] & 0o007 == 0  # the worker refuses world-readable token files
    (mount,) = [m for m in container()["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True
    files = {str(Path(mount["mountPath"]) / item["path"]) for item in secret["items"]}
    c = config()
    assert {c["ORDERTRIAGE_API_TOKEN_FILE"], c["ORDERTRIAGE_METRICS_TOKEN_FILE"]} == files
    assert not {"ORDERTRIAGE_API_TOKEN", "ORDERTRIAGE_METRICS_TOKEN"} & set(c)  # no inline token
    host = {e["name"]: e for e in container()["env"]}["ORDERTRIAGE_WEB_HOST"]["value"]
    assert not apiauth.is_loopback(host)  # hence the metrics token is required, and given
