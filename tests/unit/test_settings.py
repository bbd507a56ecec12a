"""streams.settings: environment variables into one validated Settings object."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from streams.settings import Settings, markdown_table


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ORDERTRIAGE_", "KAFKA_")):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = Settings()
    assert s.bootstrap == "127.0.0.1:9092"
    assert s.app_id == "ordertriage"
    assert s.topic_prefix == ""
    assert (s.topic_partitions, s.topic_replication_factor) == (4, 1)
    assert (s.web_host, s.web_port) == ("127.0.0.1", 6066)
    assert s.data_dir == Path(".cache/worker-data")
    assert (s.store, s.log_level, s.rules_file) == ("memory://", "info", None)
    assert s.max_value_bytes == 1_048_576
    assert s.analytics_windows == [60, 3600]
    assert (s.analytics_lateness_seconds, s.analytics_retention_seconds) == (10.0, 10800.0)
    assert (s.status_grace_seconds, s.tick_interval_seconds, s.dedupe_history) == (60.0, 1.0, 64)


@pytest.mark.parametrize(
    ("raw", "windows"),
    [("60, 5", [5, 60]), ("3600,60,60", [60, 3600]), ("300", [300]), ("10,", [10])],
)
def test_analytics_windows_from_env(
    monkeypatch: pytest.MonkeyPatch, raw: str, windows: list[int]
) -> None:
    monkeypatch.setenv("ORDERTRIAGE_ANALYTICS_WINDOWS", raw)
    assert Settings().analytics_windows == windows


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANALYTICS_WINDOWS", "0"),
        ("ANALYTICS_WINDOWS", "60,-5"),
        ("ANALYTICS_WINDOWS", ""),
        ("ANALYTICS_WINDOWS", "sixty"),
        ("STATUS_GRACE_SECONDS", "-1"),
        ("STATUS_GRACE_SECONDS", "0"),
        ("TICK_INTERVAL_SECONDS", "0"),
        ("ANALYTICS_LATENESS_SECONDS", "-0.5"),
        ("TOPIC_PARTITIONS", "0"),
        ("WEB_PORT", "70000"),
        ("LOG_LEVEL", "verbose"),
        ("APP_ID", "order triage"),
        ("TOPIC_PREFIX", "staging/"),
        ("MAX_VALUE_BYTES", "100"),
        ("DEDUPE_HISTORY", "0"),
    ],
)
def test_invalid_values_raise(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(f"ORDERTRIAGE_{name}", value)
    with pytest.raises(ValidationError):
        Settings()


def test_retention_must_cover_lateness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRIAGE_ANALYTICS_LATENESS_SECONDS", "30")
    monkeypatch.setenv("ORDERTRIAGE_ANALYTICS_RETENTION_SECONDS", "20")
    with pytest.raises(ValidationError, match="retention"):
        Settings()
    monkeypatch.setenv("ORDERTRIAGE_ANALYTICS_RETENTION_SECONDS", "30")
    assert Settings().analytics_retention_seconds == 30


def test_bootstrap_defaults_to_local_broker_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_PORT", "19092")
    assert Settings().bootstrap == "127.0.0.1:19092"


@pytest.mark.parametrize("name", ["KAFKA_BOOTSTRAP", "ORDERTRIAGE_KAFKA_BOOTSTRAP"])
def test_explicit_bootstrap_wins(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("KAFKA_PORT", "19092")
    monkeypatch.setenv(name, "broker-1:9093,broker-2:9093")
    assert Settings().bootstrap == "broker-1:9093,broker-2:9093"


def test_topic_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRIAGE_TOPIC_PREFIX", "staging.")
    monkeypatch.setenv("ORDERTRIAGE_APP_ID", "ot-2")
    s = Settings()
    assert s.topic("orders.created") == "staging.orders.created"
    assert s.internal_topic("ticks") == "ot-2-ticks"


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.app_id = "other"  # type: ignore[misc]


def test_markdown_table_lists_every_field() -> None:
    lines = markdown_table().splitlines()
    assert lines[:2] == ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows = lines[2:]
    assert len(rows) == len(Settings.model_fields)
    env_names = [row.split("|")[1].strip().strip("`") for row in rows]
    expected = [
        name.upper() if name.startswith("kafka_") else f"ORDERTRIAGE_{name.upper()}"
        for name in Settings.model_fields
    ]
    assert env_names == expected
    for row, field in zip(rows, Settings.model_fields.values(), strict=True):
        assert row.endswith(f"| {field.description} |")
    table = "\n".join(rows)
    assert "| `ORDERTRIAGE_ANALYTICS_WINDOWS` | `60,3600` |" in table
    assert "| `KAFKA_BOOTSTRAP` | (empty) |" in table
    assert "| `ORDERTRIAGE_RULES_FILE` | (empty) |" in table


def test_bootstrap_lists_the_local_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BROKERS", "3")
    monkeypatch.setenv("KAFKA_PORT", "9300")
    assert Settings().bootstrap == "127.0.0.1:9300,127.0.0.1:9302,127.0.0.1:9304"
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "kafka-0:9092")
    assert Settings().bootstrap == "kafka-0:9092"  # an explicit bootstrap wins


@pytest.mark.parametrize("brokers", ["2", "0", "three"])
def test_launcher_runs_one_or_three_brokers(monkeypatch: pytest.MonkeyPatch, brokers: str) -> None:
    monkeypatch.setenv("KAFKA_BROKERS", brokers)
    with pytest.raises(ValidationError):
        Settings()


def test_min_insync_replicas_becomes_a_topic_config(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().topic_min_insync_replicas == 1
    assert Settings().replication_topic_config == {}  # the broker's default stands
    monkeypatch.setenv("ORDERTRIAGE_TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS", "2")
    assert Settings().replication_topic_config == {"min.insync.replicas": "2"}


def test_min_insync_replicas_cannot_exceed_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRIAGE_TOPIC_REPLICATION_FACTOR", "2")
    monkeypatch.setenv("ORDERTRIAGE_TOPIC_MIN_INSYNC_REPLICAS", "3")
    with pytest.raises(ValidationError, match="NOT_ENOUGH_REPLICAS"):
        Settings()


def test_sasl_needs_a_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
    with pytest.raises(ValidationError, match="username"):
        Settings()
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_USERNAME", "ordertriage")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "true")
    s = Settings()
    assert "s3cret" not in repr(s)
    assert s.broker_sasl_password.get_secret_value() == "s3cret"


class TestKafkaSecurity:
    """The broker_* settings refuse what would leak credentials or fail only at connect time."""

    @pytest.fixture(autouse=True)
    def _sasl(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_USERNAME", "ordertriage-worker")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "true")

    def test_password_from_a_file_never_shown(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        secret = tmp_path / "password"
        secret.write_text("from-the-secret\n")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE", str(secret))
        s = Settings()
        assert s.sasl_password().get_secret_value() == "from-the-secret"
        assert "from-the-secret" not in repr(s) + str(s.model_dump())

    def test_no_password(self) -> None:
        with pytest.raises(ValidationError, match="PASSWORD_FILE"):
            Settings()

    def test_both_password_and_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        (tmp_path / "pw").write_text("a")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE", str(tmp_path / "pw"))
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "b")
        with pytest.raises(ValidationError, match="not both"):
            Settings()

    def test_missing_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE", str(tmp_path / "absent"))
        with pytest.raises(ValidationError, match="not a readable file"):
            Settings()

    def test_sasl_without_tls(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "pw")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "false")
        with pytest.raises(ValidationError, match="in clear"):
            Settings()

    def test_user_without_mechanism(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_MECHANISM", "")
        with pytest.raises(ValidationError, match="mechanism is empty"):
            Settings()

    def test_half_a_client_certificate(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        (tmp_path / "cert.pem").write_text("x")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "pw")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_CERT_FILE", str(tmp_path / "cert.pem"))
        with pytest.raises(ValidationError, match="both broker_cert_file and broker_key_file"):
            Settings()

    def test_ca_without_tls(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        (tmp_path / "ca.pem").write_text("x")
        for name in ("MECHANISM", "USERNAME"):
            monkeypatch.delenv(f"ORDERTRIAGE_BROKER_SASL_{name}")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "false")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_CA_FILE", str(tmp_path / "ca.pem"))
        with pytest.raises(ValidationError, match="broker_tls is false"):
            Settings()

    def test_a_validation_error_does_not_print_the_password(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "topsecret-in-env")
        monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "false")
        with pytest.raises(ValidationError) as caught:
            Settings()
        assert "topsecret-in-env" not in str(caught.value)
