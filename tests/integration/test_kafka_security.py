"""The secure local broker (SASL_SSL, SCRAM-SHA-512, ACLs): what is refused and what works.

One secure broker for the module (``KAFKA_SECURITY=sasl_ssl deploy/kafka/kafka.sh``, port
``KAFKA_SECURE_PORT``, default KAFKA_PORT + 4), reused by every case; each case has its own app
id and topic prefix, so ACLs of one cannot help another.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from streams.kafka import acls, clients, preflight
from streams.settings import Settings, get_settings
from streams.topics import CLASSIFIED, CREATED, RULES
from tests.integration import events as ev
from tests.integration.harness import Record, Worker, wait_for

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "deploy" / "kafka" / "kafka.sh"
SECURE_PORT = int(
    os.environ.get("KAFKA_SECURE_PORT", str(int(os.environ.get("KAFKA_PORT", "9092")) + 4))
)
BOOTSTRAP = f"127.0.0.1:{SECURE_PORT}"
WHO = acls.Principals()
GUEST = "ordertriage-guest"  # a valid SCRAM user that no ACL names


def launcher(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP"}
    env |= {"KAFKA_SECURITY": "sasl_ssl", "KAFKA_PORT": str(SECURE_PORT)}
    return subprocess.run(
        [str(LAUNCHER), *args], env=env, capture_output=True, text=True, timeout=300, check=check
    )


@dataclass
class Secure:
    def env(self, user: str) -> dict[str, str]:
        """What a client logging in as ``user`` needs (the launcher's ``client-env``)."""
        lines = launcher("client-env", user).stdout.splitlines()
        return dict(line.split("=", 1) for line in lines) | {"KAFKA_BOOTSTRAP": BOOTSTRAP}


@pytest.fixture(scope="module")
def secure() -> Iterator[Secure]:
    started = launcher("status", check=False).returncode != 0
    if started:
        launcher("start")
    launcher("wait-ready", "180")
    yield Secure()
    if started:
        launcher("stop")


@pytest.fixture
def login(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``login(env)``: this process's settings (and so every client it makes) become ``env``."""

    def use(env: dict[str, str]) -> Settings:
        for name in list(os.environ):
            if name.startswith("ORDERTRIAGE_BROKER_"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return get_settings()

    yield use
    get_settings.cache_clear()


def run(coro: object, timeout: float = 120) -> object:
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


def as_admin(secure: Secure, login: object, coro_factory: object) -> None:
    login(secure.env("admin"))  # type: ignore[operator]
    run(coro_factory())  # type: ignore[operator]


# ---- refused: each with its own message and exit code --------------------------------------


def test_wrong_password_stops_the_worker_before_faust(secure: Secure, tmp_path: Path) -> None:
    wrong = f"not-the-password-{uuid.uuid4().hex}"
    env = secure.env(WHO.worker)
    del env["ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE"]
    w = Worker(tmp_path, env_overrides=env | {"ORDERTRIAGE_BROKER_SASL_PASSWORD": wrong})
    log = w.log_path.open("ab")
    proc = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env=w.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        timeout=180,
        check=False,
    )
    text = w.log_path.read_text()
    assert proc.returncode == preflight.LOGIN_REFUSED, text[-3000:]
    assert f"Kafka refused the login of User:{WHO.worker} (SCRAM-SHA-512)" in text
    assert wrong not in text  # the secret is never logged, not even a wrong one


def test_plaintext_client_on_the_tls_port(secure: Secure, login: object) -> None:
    settings = login({"KAFKA_BOOTSTRAP": BOOTSTRAP})  # type: ignore[operator]
    with pytest.raises(preflight.PreflightError) as caught:
        run(preflight.login(settings))
    assert caught.value.code == preflight.TLS_FAILED
    assert "speaks TLS but this worker connects in plaintext" in str(caught.value)


def test_wrong_ca(secure: Secure, login: object, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings = login(secure.env(WHO.worker) | {"ORDERTRIAGE_BROKER_CA_FILE": str(other)})  # type: ignore[operator]
    with pytest.raises(preflight.PreflightError) as caught:
        run(preflight.login(settings))
    assert caught.value.code == preflight.TLS_FAILED
    assert "certificate is not trusted" in str(caught.value)
    assert str(other) in str(caught.value)


def test_a_user_without_acls(secure: Secure, login: object) -> None:
    """Logged in, yet refused: first the topics, then (given topic ACLs) the group, then Read."""
    run_id = uuid.uuid4().hex[:8]
    topic, group = f"sec-{run_id}.orders.created", f"ot-{run_id}"

    async def create() -> None:
        admin = clients.admin(BOOTSTRAP)
        await admin.start()
        try:
            from aiokafka.admin import NewTopic

            await admin.create_topics([NewTopic(topic, 1, 1)])
        finally:
            await admin.close()

    as_admin(secure, login, create)
    guest = f"User:{GUEST}"
    describe = acls.Grant(guest, acls.Op.DESCRIBE, acls.Resource.TOPIC, topic)
    read = acls.Grant(guest, acls.Op.READ, acls.Resource.TOPIC, topic)
    read_group = acls.Grant(guest, acls.Op.READ, acls.Resource.GROUP, group)

    def refused() -> str:
        settings = login(secure.env(GUEST) | {"ORDERTRIAGE_APP_ID": group})  # type: ignore[operator]
        run(preflight.login(settings))  # the login itself is fine
        with pytest.raises(preflight.PreflightError) as caught:
            run(preflight.authorized(settings, {topic}, set()))
        assert caught.value.code == preflight.ACL_MISSING
        assert guest in str(caught.value) and "make acls" in str(caught.value)
        return str(caught.value)

    assert f"not authorized to describe topic {topic}" in refused()
    try:
        as_admin(secure, login, lambda: acls.apply(get_settings(), [describe, read]))
        assert f"not authorized to read group {group}" in refused()
        as_admin(secure, login, lambda: acls.apply(get_settings(), [read], remove=True))
        as_admin(secure, login, lambda: acls.apply(get_settings(), [read_group]))
        assert f"not authorized to read topic {topic}" in refused()
    finally:
        grants = [describe, read, read_group]
        as_admin(secure, login, lambda: acls.apply(get_settings(), grants, remove=True))


# ---- allowed: the pipeline with `make acls` --------------------------------------------------


def read_as(secure: Secure, login: object, user: str, topic: str, want: int) -> list[Record]:
    """``want`` records of ``topic``, read as ``user`` in a group of its own prefix."""
    login(secure.env(user))  # type: ignore[operator]

    async def go() -> list[Record]:
        group = f"{user}-{uuid.uuid4().hex[:6]}"
        consumer = clients.consumer(BOOTSTRAP, topic, group_id=group, auto_offset_reset="earliest")
        await consumer.start()
        found: list[Record] = []
        deadline = time.monotonic() + 90
        try:
            while len(found) < want and time.monotonic() < deadline:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(batch)
        finally:
            await consumer.stop()
        return found

    return run(go(), 120)  # type: ignore[return-value]


def test_pipeline_with_least_privilege(secure: Secure, login: object, tmp_path: Path) -> None:
    w = Worker(tmp_path, env_overrides=secure.env(WHO.worker))
    settings = Settings(kafka_bootstrap=BOOTSTRAP, app_id=f"ot-{w.run_id}", topic_prefix=w.prefix)
    grants = acls.plan(settings, WHO)

    async def prepare() -> None:
        await acls.create_public_topics(settings)
        await acls.apply(settings, grants)

    as_admin(secure, login, prepare)
    try:
        w.start(timeout=150)
        orders = [f"S{i}" for i in range(3)]

        async def produce(batch: list[str]) -> None:  # upstream producers: the admin here
            producer = clients.producer(BOOTSTRAP, acks="all")
            await producer.start()
            try:
                for order in batch:
                    value = ev.dumps(ev.created(order, f"C-{order}", "900.00"))
                    await producer.send_and_wait(w.topic(CREATED), value, key=order.encode())
            finally:
                await producer.stop()

        as_admin(secure, login, lambda: produce(orders))
        classified = read_as(secure, login, WHO.reader, w.topic(CLASSIFIED), len(orders))
        assert sorted(ev.loads(r.value)["order_id"] for r in classified) == orders

        # The rule publisher publishes as itself; the reader may not.
        rules_file = str(ROOT / "streams" / "classify" / "default_rules.yaml")
        cli = [sys.executable, "-m", "streams.cli", "rules", "publish", rules_file]
        base = {**os.environ, "ORDERTRIAGE_TOPIC_PREFIX": w.prefix}
        for user, ok in ((WHO.rules, True), (WHO.reader, False)):
            env = {k: v for k, v in base.items() if not k.startswith("ORDERTRIAGE_BROKER_")}
            done = subprocess.run(
                [*cli, "--comment", f"as {user}"],
                env=env | secure.env(user),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert (done.returncode == 0) == ok, (user, done.stdout[-2000:], done.stderr[-2000:])
        published = read_as(secure, login, "admin", w.topic(RULES), 1)
        assert len(published) == 1 and b"as ordertriage-rules" in published[0].value

        # Read on the input revoked while running: shown in /readyz and the log, then restored;
        # every order is classified exactly once, none skipped.
        read_created = acls.Grant(
            f"User:{WHO.worker}", acls.Op.READ, acls.Resource.TOPIC, w.topic(CREATED)
        )
        as_admin(secure, login, lambda: acls.apply(settings, [read_created], remove=True))
        later = [f"R{i}" for i in range(4)]
        as_admin(secure, login, lambda: produce(later))

        def refused() -> bool:
            body = w.get("/readyz").json()
            return w.topic(CREATED) in body.get("kafka_refused", {}).get("seconds_by_resource", {})

        wait_for(refused, 90, "/readyz to list the refused input topic")
        assert w.get("/readyz").status_code == 503
        assert f"Kafka refused to fetch from topic {w.topic(CREATED)}" in w.tail(400)
        as_admin(secure, login, lambda: acls.apply(settings, [read_created]))
        everyone = orders + later
        classified = read_as(secure, login, WHO.reader, w.topic(CLASSIFIED), len(everyone))
        assert Counter(ev.loads(r.value)["order_id"] for r in classified) == Counter(everyone)
        wait_for(w.ready, 60, "/readyz back to 200 once the ACL is restored")
        password = Path(secure.env(WHO.worker)["ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE"])
        assert password.read_text().strip() not in w.log_path.read_text()  # Faust's dump too
    finally:
        w.stop()
        as_admin(secure, login, lambda: acls.apply(settings, grants, remove=True))
