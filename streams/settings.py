"""Every setting of ordertriage, read from environment variables into one typed object.

Variables are prefixed ``ORDERTRIAGE_`` except the broker address, which follows the launcher's
own names (``KAFKA_BOOTSTRAP``, ``KAFKA_PORT``). The configuration table (docs/configuration.md)
is generated from this class (``python -m streams.settings``), so the two cannot drift apart.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    # hide_input_in_errors: a validation error would otherwise print every input, passwords too.
    model_config = SettingsConfigDict(
        env_prefix="ORDERTRIAGE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    kafka_bootstrap: str = Field(
        default="",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP", "ORDERTRIAGE_KAFKA_BOOTSTRAP"),
        description="host:port[,host:port] of an existing cluster; empty = the local broker",
    )
    kafka_port: int = Field(
        default=9092,
        validation_alias=AliasChoices("KAFKA_PORT", "ORDERTRIAGE_KAFKA_PORT"),
        description="port of the local broker started by deploy/kafka/kafka.sh",
    )
    app_id: str = Field(
        default="ordertriage",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Faust app id: consumer group and prefix of internal and changelog topics",
    )
    topic_prefix: str = Field(
        default="",
        pattern=r"^[A-Za-z0-9._-]*$",
        description="prefix of every public topic name (e.g. `staging.`)",
    )
    topic_partitions: int = Field(
        default=4, ge=1, description="partitions of every topic it creates; inputs must match"
    )
    topic_replication_factor: int = Field(
        default=1, ge=1, description="replication factor of the topics it creates"
    )
    web_host: str = Field(default="127.0.0.1", description="bind address of the web server")
    web_port: int = Field(default=6066, ge=1, le=65535, description="web server port")
    data_dir: Path = Field(
        default=Path(".cache/worker-data"), description="Faust data directory (table stores)"
    )
    store: str = Field(
        default="memory://", description="table store URL: `memory://` or `rocksdb://`"
    )
    rocksdb_write_buffer_mib: int = Field(
        default=8,
        ge=1,
        le=1024,
        description="RocksDB memtable size per table partition (at most two per database, then"
        " flushed to disk; Faust's default 64 MiB, three of them): with one database per table"
        " and partition, this bounds the memory writes and recovery hold",
    )
    rocksdb_block_cache_mib: int = Field(
        default=16,
        ge=1,
        le=4096,
        description="RocksDB read cache per table partition (Faust's default 2 GiB each)",
    )
    rocksdb_value_cache_entries: int = Field(
        default=1024,
        ge=0,
        le=1_000_000,
        description="with RocksDB, values each table keeps decoded (its most recently used"
        " keys; 0: none): a hot key is otherwise decoded from JSON on every read"
        " (`streams/runtime/value_cache.py`)",
    )
    bulk_restore: bool = Field(
        default=True,
        description="with RocksDB, restore the tables' changelogs in large batches written"
        " straight into each partition's database before Faust's own recovery, which hands"
        " every record through its stream machinery (about 8,000 records/s; docs/performance.md)",
    )
    coalesce_writes: bool = Field(
        default=True,
        description="hot aggregate tables (staff, insight, windows) write each changed key to"
        " their changelog once per commit instead of once per change (docs/performance.md;"
        " the orders always do: their records wait for the outputs they imply)",
    )
    gc_freeze: bool = Field(
        default=True,
        description="after each full garbage collection, freeze the objects that survived it so"
        " the next one walks only newer objects: full-collection pauses stay short as the"
        " tables grow in memory (docs/performance.md)",
    )
    session_timeout_seconds: float = Field(
        default=10.0,
        ge=6.0,
        le=300.0,
        description="how long the group waits for a silent worker before its partitions move"
        " to the others: a worker killed (kill -9, OOM, a lost node) stalls its orders that"
        " long, and a restarted one waits that long for its old membership to expire (Faust's"
        " default 60 s; heartbeats every third of it, at most 3 s; the broker's"
        " `group.min.session.timeout.ms` is 6 s)",
    )
    fetch_coalesce_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=100.0,
        description="after a fetch round that brought records for a few of its partitions (live"
        " rates), wait this long before the next one, so one round carries what several would"
        " (fewer rounds over every partition the worker reads; each hop waits at most this much"
        " longer while records keep coming; a backlog's full rounds do not wait; 0: fetch again"
        " at once, docs/performance.md)",
    )
    backlog_linger_ms: float = Field(
        default=5.0,
        ge=0.0,
        le=100.0,
        description="while the worker reads a backlog (a fetch round read its partitions 1000"
        " or more records from their ends), new producer batches wait this long for more"
        " records, so one produce request carries more; the next live round sets it back to 0,"
        " so live hops do not wait (0: never, docs/performance.md)",
    )
    producer_batch_kib: int = Field(
        default=256,
        ge=16,
        le=1024,
        description="largest producer batch per partition, in KiB (Faust's default is 16):"
        " a commit sends each changed order and aggregate at once, and aiokafka holds every"
        " send to a partition whose one open batch is full until a request has taken it, so"
        " small batches turned each commit into a train of round trips that outputs queued"
        " behind (docs/performance.md)",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="worker log level"
    )
    rules_file: Path | None = Field(
        default=None,
        description="rule set used until one is published on the rules topic;"
        " unset = the shipped `streams/classify/default_rules.yaml`",
    )
    reclassify_batch_size: int = Field(
        default=200,
        ge=1,
        description="open orders re-evaluated per partition per tick after a rule switch",
    )
    reclassify_cron: str = Field(
        default="",
        description="cron expression of a scheduled full re-evaluation of open orders;"
        " empty = none (e.g. `0 6 * * 1` = Mondays 06:00)",
    )
    timezone: str = Field(default="UTC", description="time zone of cron schedules (IANA name)")
    finished_retention_seconds: float = Field(
        default=604800.0,
        gt=0,
        description="completed and closed orders are removed from state this long after they"
        " finish (a later return then dead-letters as unknown_order)",
    )
    max_value_bytes: int = Field(
        default=1_048_576, ge=1024, description="larger input records are dead-lettered"
    )
    status_grace_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long a status change waits for its order before it is dead-lettered",
    )
    tick_interval_seconds: float = Field(
        default=1.0, gt=0, description="how often windows and parked events are checked"
    )
    analytics_windows: Annotated[list[int], NoDecode] = Field(
        default=[60, 3600], description="tumbling window sizes in seconds, comma-separated"
    )
    analytics_lateness_seconds: float = Field(
        default=10.0, ge=0, description="a window is published this long after it ends"
    )
    analytics_retention_seconds: float = Field(
        default=10800.0,
        gt=0,
        description="a window is kept (and republished on late events) this long after it ends",
    )
    dedupe_history: int = Field(
        default=64, ge=1, description="event ids remembered per order to drop duplicates"
    )
    report_cron: str = Field(
        default="0 8 * * *",
        description="when the worker writes the scheduled report (cron, in `timezone`)",
    )
    report_period: Literal["day", "week"] = Field(
        default="day", description="period of the scheduled report (trailing, ending at its run)"
    )
    report_dir: Path = Field(
        default=Path(".cache/reports"), description="where reports (HTML and CSV) are written"
    )
    backpressure_records: int = Field(
        default=5000,
        ge=0,
        description=(
            "internal-topic records waiting here above which input topics are not read"
            " (until half that); 0 = off"
        ),
    )
    stall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="no commit this long while records wait = stalled: /healthz and /readyz fail",
    )
    processing_attempts: int = Field(
        default=3, ge=1, le=10, description="tries of a failing record before it is dead-lettered"
    )
    deadletter_max_value_bytes: int = Field(
        default=900_000,
        ge=70_000,
        le=990_000,
        description="a larger original is dead-lettered truncated to 64 KiB (headers say so)",
    )
    # --- ordertriage notify (delivery to people; streams/notify/, docs/notify.md) -----------
    notify_config: Path = Field(
        default=Path("notify.yaml"),
        description="notifier config file: roles, people, channels (docs/notify.md)",
    )
    notify_group: str = Field(
        default="ordertriage-notify",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="consumer group of the notifier (scales apart from the worker)",
    )
    notify_host: str = Field(default="127.0.0.1", description="bind address of the notifier")
    notify_port: int = Field(
        default=6070, ge=1, le=65535, description="notifier port: /act, /notifications, /metrics"
    )
    notify_attempts: int = Field(
        default=4, ge=1, le=10, description="tries of one delivery before it is dead-lettered"
    )
    notify_backoff_seconds: float = Field(
        default=0.5, gt=0, description="first retry wait; doubles per try (capped at 30 s)"
    )
    notify_worker_url: str = Field(
        default="",
        description="worker HTTP API the phone page reads the order from; empty = do not",
    )
    # --- end of ordertriage notify ---------------------------------------------------------

    # ---- replication, the local cluster and broker credentials (issue 14) -----------------
    # Appended as one block; streams/app.py, streams/topics.py and streams/tables.py are to pass
    # `replication_topic_config` to every topic and changelog they declare (docs/scaling.md).
    kafka_brokers: int = Field(
        default=1,
        validation_alias=AliasChoices("KAFKA_BROKERS", "ORDERTRIAGE_KAFKA_BROKERS"),
        description="nodes of the local cluster of deploy/kafka/kafka.sh (1 or 3); with 3 and"
        " no KAFKA_BOOTSTRAP the bootstrap lists all three (KAFKA_PORT, +2, +4)",
    )
    topic_min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="`min.insync.replicas` of the topics it creates: an acks=all write needs"
        " this many replicas (2 with replication 3 rides out one broker down);"
        " 1 = leave the broker's default",
    )

    # ---- Kafka security: TLS, SASL/SCRAM, mTLS, secrets from files (issue 16, kafka) ------
    # Every client reads these through streams.kafka.clients (plain clients) or
    # streams.app.credentials (Faust); docs/security.md says which principal may do what.
    broker_sasl_mechanism: Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="",
        description="SASL mechanism of every Kafka client (`SCRAM-SHA-512` recommended);"
        " empty = no authentication; needs `ORDERTRIAGE_BROKER_TLS=true`",
    )
    broker_sasl_username: str = Field(
        default="", description="SASL user name: the principal `User:<name>` the ACLs name"
    )
    broker_sasl_password: SecretStr = Field(
        default=SecretStr(""),
        description="SASL password; prefer `ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE`",
    )
    broker_sasl_password_file: Path | None = Field(
        default=None,
        description="file holding the SASL password (a mounted Secret); read at start,"
        " trailing newline ignored",
    )
    broker_tls: bool = Field(
        default=False,
        description="TLS to the brokers (SSL, or SASL_SSL with a SASL mechanism); the server"
        " certificate and host name are always verified",
    )
    broker_ca_file: Path | None = Field(
        default=None,
        description="PEM file of the CA(s) that signed the brokers' certificates;"
        " unset = the system CA bundle",
    )
    broker_cert_file: Path | None = Field(
        default=None,
        description="PEM client certificate for mutual TLS (with `ORDERTRIAGE_BROKER_KEY_FILE`)",
    )
    broker_key_file: Path | None = Field(
        default=None, description="PEM private key of the client certificate (mutual TLS)"
    )
    broker_key_password: SecretStr = Field(
        default=SecretStr(""), description="password of an encrypted client key; empty = none"
    )

    @model_validator(mode="after")
    def _kafka_security(self) -> Settings:
        """Refuse combinations that would send secrets in clear or fail only at connect time."""
        for name in (
            "broker_sasl_password_file",
            "broker_ca_file",
            "broker_cert_file",
            "broker_key_file",
        ):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a readable file")
        sasl = self.broker_sasl_mechanism
        if self.broker_sasl_password_file and self.broker_sasl_password.get_secret_value():
            raise ValueError("set broker_sasl_password or broker_sasl_password_file, not both")
        if sasl and not self.broker_sasl_username:
            raise ValueError("broker_sasl_mechanism is set but broker_sasl_username is empty")
        if sasl and not self.sasl_password().get_secret_value():
            raise ValueError(
                "broker_sasl_mechanism is set but there is no password: set"
                " ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE (or ORDERTRIAGE_BROKER_SASL_PASSWORD)"
            )
        if not sasl and (self.broker_sasl_username or self.sasl_password().get_secret_value()):
            raise ValueError(
                "a SASL user or password is set but broker_sasl_mechanism is empty:"
                " set ORDERTRIAGE_BROKER_SASL_MECHANISM=SCRAM-SHA-512"
            )
        if sasl and not self.broker_tls:
            raise ValueError(
                "SASL without TLS would send the credentials and every order in clear:"
                " set ORDERTRIAGE_BROKER_TLS=true (SASL_SSL)"
            )
        if (self.broker_cert_file is None) != (self.broker_key_file is None):
            raise ValueError("mutual TLS needs both broker_cert_file and broker_key_file")
        tls_files = (self.broker_ca_file, self.broker_cert_file)
        if not self.broker_tls and any(f is not None for f in tls_files):
            raise ValueError(
                "broker_ca_file / broker_cert_file are set but broker_tls is false:"
                " set ORDERTRIAGE_BROKER_TLS=true"
            )
        return self

    def sasl_password(self) -> SecretStr:
        """The SASL password, from its file when one is set (re-read: a rotated Secret)."""
        if self.broker_sasl_password_file is not None:
            text = self.broker_sasl_password_file.read_text(encoding="utf-8")
            return SecretStr(text.rstrip("\r\n"))
        return self.broker_sasl_password

    # ---- end of Kafka security ---------------------------------------------------------

    # ---- the HTTP API's bearer token and /metrics token (issue 16, api) -----------------
    # Resolved and checked by streams/apiauth.py (file modes, generation); docs/security.md.
    api_token: SecretStr = Field(
        default=SecretStr(""),
        description="bearer token of the data endpoints (worker and notifier); empty ="
        " `ORDERTRIAGE_API_TOKEN_FILE`, else one generated by the worker",
    )
    api_token_file: Path | None = Field(
        default=None,
        description="file holding the API token (e.g. a mounted Secret); refused if other"
        " users may read it",
    )
    api_token_generated_file: Path = Field(
        default=Path(".cache/api-token"),
        description="with neither set: where the worker writes the token it generates (0600)"
        " or reuses it, and where the CLI, notifier and tools read it",
    )
    metrics_token: SecretStr = Field(
        default=SecretStr(""),
        description="bearer token of /metrics; required when the web server binds beyond"
        " loopback (then the worker refuses to start without one)",
    )
    metrics_token_file: Path | None = Field(
        default=None,
        description="file holding the /metrics token; refused if other users may read it",
    )

    @field_validator("api_token", "metrics_token")
    @classmethod
    def _token_strength(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and len(value.get_secret_value().strip()) < 16:
            raise ValueError("a bearer token needs at least 16 characters")
        return value

    @model_validator(mode="after")
    def _one_token_source(self) -> Settings:
        for name in ("api_token", "metrics_token"):
            if getattr(self, name).get_secret_value() and getattr(self, f"{name}_file"):
                raise ValueError(f"set {name} or {name}_file, not both")
        return self

    # ---- end of the HTTP API's tokens --------------------------------------------------

    # ---- personal data: master key, pseudonyms, masking, erasure (issue 16, privacy) ---
    master_key: SecretStr = Field(
        default=SecretStr(""),
        description="master key sealing personal data (32 bytes, hex or base64); empty ="
        " `master_key_file`, else one generated at `master_key_generated_file` (demo only)",
    )
    master_key_file: Path | None = Field(
        default=None,
        description="file holding the master key (a mounted Secret); production sets this",
    )
    master_key_generated_file: Path = Field(
        default=Path(".cache/ordertriage-master.key"),
        description="where a master key is generated (0600) when none is configured;"
        " every worker and CLI of one checkout shares it",
    )
    changelog_segment_seconds: int = Field(
        default=21600,
        ge=60,
        description="`segment.ms` of changelogs: the active segment is never compacted",
    )
    changelog_max_compaction_lag_seconds: int = Field(
        default=86400,
        ge=60,
        description="`max.compaction.lag.ms` of changelogs: an erased (tombstoned) value is"
        " compacted away within about this plus `changelog_segment_seconds`",
    )
    changelog_delete_retention_seconds: int = Field(
        default=86400,
        ge=60,
        description="`delete.retention.ms` of changelogs: how long the tombstone itself stays"
        " (a restoring worker must read it within this)",
    )

    transit_retention_seconds: int = Field(
        default=86400,
        ge=3600,
        description="`retention.ms` of `<app id>-orders-by-customer`, whose contact fields are"
        " under the transit key (not the customer's): how long an erased customer's survive",
    )

    @property
    def transit_topic_config(self) -> dict[str, str]:
        """Retention of the one internal topic with contact fields under the transit key."""
        retention = self.transit_retention_seconds * 1000
        return {"retention.ms": str(retention), "segment.ms": str(min(retention, 3_600_000))}

    @property
    def changelog_privacy_config(self) -> dict[str, str]:
        """Compaction bounds of every changelog: how long an erased value can survive."""
        return {
            "segment.ms": str(self.changelog_segment_seconds * 1000),
            "max.compaction.lag.ms": str(self.changelog_max_compaction_lag_seconds * 1000),
            "delete.retention.ms": str(self.changelog_delete_retention_seconds * 1000),
        }

    # ---- end of personal data ----------------------------------------------------------

    @field_validator("analytics_windows", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("analytics_windows")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("needs at least one window size, all > 0 seconds")
        return sorted(set(value))

    @field_validator("kafka_brokers")
    @classmethod
    def _brokers(cls, value: int) -> int:
        if value not in (1, 3):
            raise ValueError("the launcher runs 1 broker or a cluster of 3")
        return value

    @field_validator("reclassify_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if value.strip() and not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value.strip()

    @field_validator("report_cron")
    @classmethod
    def _report_cron(cls, value: str) -> str:
        if not croniter.is_valid(value):
            raise ValueError(f"not a valid cron expression: {value!r}")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Asia/Shanghai)"
            ) from None
        return value

    @model_validator(mode="after")
    def _retention_covers_windows(self) -> Settings:
        if self.analytics_retention_seconds < self.analytics_lateness_seconds:
            raise ValueError("analytics_retention_seconds must be >= analytics_lateness_seconds")
        return self

    @model_validator(mode="after")
    def _replication(self) -> Settings:
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                f"topic_min_insync_replicas ({self.topic_min_insync_replicas}) is above"
                f" topic_replication_factor ({self.topic_replication_factor}):"
                " every acks=all write would fail with NOT_ENOUGH_REPLICAS"
            )
        return self

    @property
    def bootstrap(self) -> str:
        if self.kafka_bootstrap:
            return self.kafka_bootstrap
        # The launcher's node N listens on KAFKA_PORT + 2(N-1) (its controller on the port after).
        return ",".join(f"127.0.0.1:{self.kafka_port + 2 * n}" for n in range(self.kafka_brokers))

    @property
    def rocksdb_options(self) -> dict[str, int]:
        """Faust's RocksDB options for every table (each table partition is its own database)."""
        mib = 2**20
        return {
            "write_buffer_size": self.rocksdb_write_buffer_mib * mib,
            "max_write_buffer_number": 2,
            "block_cache_size": self.rocksdb_block_cache_mib * mib,
        }

    @property
    def replication_topic_config(self) -> dict[str, str]:
        """Topic configs for replication, for every topic (and changelog) ordertriage creates.

        Empty with ``topic_min_insync_replicas`` 1, so a broker default above 1 is not lowered.
        """
        if self.topic_min_insync_replicas > 1:
            return {"min.insync.replicas": str(self.topic_min_insync_replicas)}
        return {}

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def internal_topic(self, name: str) -> str:
        return f"{self.app_id}-{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def markdown_table() -> str:
    """The configuration table of docs/configuration.md."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else f"ORDERTRIAGE_{name.upper()}"
        default = field.default
        if isinstance(default, list):
            default = ",".join(str(v) for v in default)
        elif isinstance(default, SecretStr):
            default = "(secret)" if default.get_secret_value() else ""
        elif isinstance(default, bool):
            default = str(default).lower()
        shown = "(empty)" if default in ("", None) else f"`{default}`"
        rows.append(f"| `{env}` | {shown} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
