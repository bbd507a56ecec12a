"""streams.kafka.clients: the security options every plain client gets from the settings."""

from __future__ import annotations

import ssl

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


@pytest.mark.parametrize(("tls", "protocol"), [("false", "SASL_PLAINTEXT"), ("true", "SASL_SSL")])
def test_sasl(monkeypatch: pytest.MonkeyPatch, tls: str, protocol: str) -> None:
    monkeypatch.setenv("ORDERTRIAGE_BROKER_TLS", tls)
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_USERNAME", "ordertriage")
    monkeypatch.setenv("ORDERTRIAGE_BROKER_SASL_PASSWORD", "pw")
    options = security(Settings())
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("ordertriage", "pw")
    assert ("ssl_context" in options) == (tls == "true")
