"""A real worker process and plain Kafka clients, for tests against the real broker."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.structs import RecordMetadata

from schemas.events import OrderCreated
from streams.apiauth import headers
from streams.kafka import clients
from streams.privacy.contact import CONTACT_FIELDS
from streams.privacy.crypto import Keyring, field_aad, is_sealed
from streams.privacy.replay import SEALED_AAD, SEALED_HEADER
from streams.topics import ANALYTICS, CLASSIFIED, CREATED, DEADLETTER, NOTIFICATIONS, STATUS_CHANGED

Record = ConsumerRecord[bytes, bytes]

#: The workers' API token in these tests (as a deployment configures one for all its workers).
API_TOKEN = secrets.token_urlsafe(32)
AUTH = headers(API_TOKEN)

#: The master key of test workers: a test-only value, so tests can open what workers seal.
TEST_MASTER_KEY = "5e" * 32
KEYRING = Keyring(bytes.fromhex(TEST_MASTER_KEY))


def dead_letter_original(record: Record) -> bytes:
    """A dead letter's value opened, as ``ordertriage deadletters replay`` opens it."""
    value = record.value or b""
    sealed = SEALED_HEADER in dict(record.headers)
    return KEYRING.open_bytes(value, SEALED_AAD) if sealed and value else value


def same_original(record: Record, original: bytes | None) -> bool:
    """The dead letter opens to ``original``; or, when a later stage dead-lettered it, to the
    record that stage read: the same event with its contact fields under the transit key."""
    opened, original = dead_letter_original(record), original or b""
    if opened == original:
        return True
    try:
        got, want = orjson.loads(opened), orjson.loads(original)
        customer = got["order"]["customer"]
    except (orjson.JSONDecodeError, KeyError, TypeError):  # not an order: bytes differ
        return False
    for name in CONTACT_FIELDS:
        if is_sealed(customer.get(name)):
            aad = field_aad(customer["customer_id"], name)
            customer[name] = KEYRING.open_derived(customer[name], aad).decode()
    # Re-encoded by the ingest stage (defaults filled, times normalised): compared as events.
    return OrderCreated.model_validate(got) == OrderCreated.model_validate(want)


def bootstrap() -> str:
    """KAFKA_BOOTSTRAP, else the launcher's broker, or all nodes of its cluster (KAFKA_BROKERS=3:
    node N on KAFKA_PORT + 2(N-1)), as streams.settings.Settings.bootstrap."""
    if os.environ.get("KAFKA_BOOTSTRAP"):
        return os.environ["KAFKA_BOOTSTRAP"]
    port = int(os.environ.get("KAFKA_PORT", "9092"))
    nodes = 3 if os.environ.get("KAFKA_BROKERS") == "3" else 1
    return ",".join(f"127.0.0.1:{port + 2 * n}" for n in range(nodes))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> None:
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(every)


@dataclass
class Worker:
    """``ordertriage worker`` in a subprocess with its own app id, topics and port."""

    tmp: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    #: Tells apart workers of one run (same app id and topics): own log, data dir and port.
    instance: str = ""
    #: The module run as ``python -m``: ``tests.faults.faulty_worker`` injects faults.
    module: str = "streams.cli"
    #: What ``get`` sends as the bearer token.
    token: str = API_TOKEN

    @property
    def prefix(self) -> str:
        return f"t{self.run_id}."

    def topic(self, name: str) -> str:
        return self.prefix + name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.tmp / f"worker-{self.run_id}{self.instance}.log"

    @property
    def data_dir(self) -> Path:
        return self.tmp / f"data-{self.run_id}{self.instance}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "KAFKA_BOOTSTRAP": bootstrap(),
                "ORDERTRIAGE_APP_ID": f"ot-{self.run_id}",
                "ORDERTRIAGE_TOPIC_PREFIX": self.prefix,
                "ORDERTRIAGE_WEB_PORT": str(self.port),
                "ORDERTRIAGE_DATA_DIR": str(self.data_dir),
                "ORDERTRIAGE_ANALYTICS_WINDOWS": "3",
                "ORDERTRIAGE_ANALYTICS_LATENESS_SECONDS": "1",
                "ORDERTRIAGE_STATUS_GRACE_SECONDS": "3",
                "ORDERTRIAGE_TICK_INTERVAL_SECONDS": "0.5",
                "ORDERTRIAGE_LOG_LEVEL": "info",
                "ORDERTRIAGE_MAX_VALUE_BYTES": "65536",
                "ORDERTRIAGE_API_TOKEN": API_TOKEN,
                "ORDERTRIAGE_MASTER_KEY": TEST_MASTER_KEY,
            }
        )
        env.update(self.env_overrides)
        return env

    def start(self, timeout: float = 90) -> Worker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "worker"],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self.ready, timeout, f"worker ready (log: {self.log_path})", every=0.25)
        return self

    def ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def get(self, path: str, **params: object) -> httpx.Response:
        # No params= when none: httpx would drop a query written into ``path``.
        extra = {"params": params} if params else {}
        return httpx.get(f"{self.url}{path}", headers=headers(self.token), timeout=10, **extra)


class Kafka:
    """Produce inputs and read outputs of one worker's topics with plain aiokafka clients."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.loop = asyncio.new_event_loop()
        self.producer = self.loop.run_until_complete(self._producer())

    @staticmethod
    async def _producer() -> AIOKafkaProducer:
        producer = clients.producer(bootstrap(), acks="all")
        await producer.start()
        return producer

    def close(self) -> None:
        self.loop.run_until_complete(self.producer.stop())
        self.loop.close()

    def send(self, name: str, value: bytes | None, key: bytes | None = None) -> RecordMetadata:
        """Produce to the worker's ``name`` topic; returns where the broker stored it."""

        async def go() -> RecordMetadata:
            return await self.producer.send_and_wait(self.worker.topic(name), value=value, key=key)

        return self.loop.run_until_complete(go())

    def created(self, payload: bytes, key: str) -> RecordMetadata:
        return self.send(CREATED, payload, key.encode())

    def status(self, payload: bytes, key: str) -> RecordMetadata:
        return self.send(STATUS_CHANGED, payload, key.encode())

    def read(
        self, name: str, until: Callable[[list[Record]], bool], timeout: float = 60
    ) -> list[Record]:
        """All records of topic ``name`` from the beginning, once ``until(records)`` holds."""
        return self.loop.run_until_complete(self._read(self.worker.topic(name), until, timeout))

    def read_changelog(
        self, table: str, until: Callable[[list[Record]], bool], timeout: float = 60
    ) -> list[Record]:
        """All records of ``table``'s changelog (``<app id>-<table>-changelog``), as ``read``."""
        topic = f"{self.worker.env()['ORDERTRIAGE_APP_ID']}-{table}-changelog"
        return self.loop.run_until_complete(self._read(topic, until, timeout))

    async def _read(
        self, topic: str, until: Callable[[list[Record]], bool], deadline_s: float
    ) -> list[Record]:
        # No group: subscribe() then reads every partition from the start, and keeps
        # refreshing metadata until the worker has created the topic.
        consumer = clients.consumer(
            bootstrap(),
            topic,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            metadata_max_age_ms=1000,
        )
        await consumer.start()
        deadline = time.monotonic() + deadline_s
        found: list[Record] = []
        try:
            while not until(found):
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"timed out after {deadline_s:g}s on {topic}; have {len(found)} records"
                        + "".join(f"\n  {r.key!r}: {r.value[:240]!r}" for r in found[-40:])
                    )
                batch = await consumer.getmany(timeout_ms=250)
                for records in batch.values():
                    found.extend(records)
            # Give records already in flight a last chance to show up (duplicates must not).
            batch = await consumer.getmany(timeout_ms=1500)
            for records in batch.values():
                found.extend(records)
            return found
        finally:
            await consumer.stop()


__all__ = [
    "ANALYTICS",
    "CLASSIFIED",
    "CREATED",
    "DEADLETTER",
    "NOTIFICATIONS",
    "STATUS_CHANGED",
    "Kafka",
    "Worker",
    "wait_for",
]
