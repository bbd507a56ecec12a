"""streams.kafka.clients: the security options every plain client gets from the settings."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from streams.kafka.clients import security
from streams.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith(("ORDERTRIAGE_", "KAFKA_")):
            monkeypatch.delenv(name)


def test_plaintext_by_default() -> None:
    assert security(Settings()) == {}


def test_tls_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "true")
    options = security(Settings())
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


def test_sasl_ssl(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("pw\n")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "true")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_USERNAME", "ordertriage")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD_FILE", str(secret))
    options = security(Settings())
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("ordertriage", "pw")
    context = options["ssl_context"]
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_every_client_gets_the_security_options(monkeypatch: pytest.MonkeyPatch) -> None:
    """The factory's three constructors pass the same options (producer, consumer, admin)."""
    from streams.kafka import clients
    from streams.settings import get_settings

    monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", "true")
    get_settings.cache_clear()
    try:
        options = clients.connection("127.0.0.1:1")
    finally:
        get_settings.cache_clear()
    assert options["security_protocol"] == "SSL" and options["bootstrap_servers"] == "127.0.0.1:1"


async def test_a_long_lived_admin_client_refreshes_only_the_topics_it_names() -> None:
    """An aiokafka client that names no topic asks the broker for the whole cluster's."""
    from streams.kafka.clients import admin

    named = admin("127.0.0.1:1", topics=["b.orders.created", "a.enriched", "a.enriched"])
    assert named._client._topics == {"a.enriched", "b.orders.created"}
    assert admin("127.0.0.1:1")._client._topics == set()  # CLI tools: one-off, all topics
