"""One factory for every plain aiokafka client the project makes.

Callers pass what is particular to their use (topics, group, acks); what every client to the
same cluster shares (the bootstrap servers and the security settings) is added here.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings, get_settings


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of every client (plain and Faust): CA, optional client certificate.

    Verification is never turned off: a broker certificate that does not chain to the CA, or
    names another host, fails the handshake (``create_ssl_context`` checks host names).
    """
    if not settings.broker_tls:
        return None
    return create_ssl_context(
        cafile=str(settings.broker_ca_file) if settings.broker_ca_file else None,
        certfile=str(settings.broker_cert_file) if settings.broker_cert_file else None,
        keyfile=str(settings.broker_key_file) if settings.broker_key_file else None,
        password=settings.broker_key_password.get_secret_value() or None,
    )


def protocol(settings: Settings) -> str:
    """Kafka's ``security.protocol`` for the settings (PLAINTEXT, SSL or SASL_SSL)."""
    if settings.broker_sasl_mechanism:
        return "SASL_SSL"
    return "SSL" if settings.broker_tls else "PLAINTEXT"


def security(settings: Settings) -> dict[str, Any]:
    """aiokafka's security options for the ``broker_*`` settings; empty = PLAINTEXT.

    The Faust app gets the same through ``streams.app.credentials`` (``broker_credentials``).
    """
    options: dict[str, Any] = {}
    context = ssl_context(settings)
    if context is not None:
        options |= {"ssl_context": context, "security_protocol": protocol(settings)}
    if settings.broker_sasl_mechanism:
        options |= {
            "sasl_mechanism": settings.broker_sasl_mechanism,
            "sasl_plain_username": settings.broker_sasl_username,
            "sasl_plain_password": settings.sasl_password().get_secret_value(),
        }
    return options


def connection(bootstrap: str) -> dict[str, Any]:
    """Options every client to the cluster at ``bootstrap`` shares."""
    return {"bootstrap_servers": bootstrap, **security(get_settings())}


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**connection(bootstrap), **options)


def consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **connection(bootstrap), **options)


def admin(
    bootstrap: str, *, topics: Iterable[str] | None = None, **options: Any
) -> AIOKafkaAdminClient:
    """``topics``: what a long-lived admin client asks about. One that names none refreshes
    the whole cluster's metadata every ``metadata_max_age_ms`` (5 min), decoding every topic
    of the cluster on the caller's event loop (100-300 ms at 1000-2000 topics)."""
    client = AIOKafkaAdminClient(**connection(bootstrap), **options)
    if topics:
        client._client.set_topics(sorted(set(topics)))  # before start: no refresh of them all
    return client


async def probe(bootstrap: str) -> None:
    """Open and close one connection to the first bootstrap server, with the security options.

    A client's own bootstrap logs why a connection failed and raises a bare "unable to
    bootstrap"; this raises the cause itself (``ssl.SSLError``, ``SaslAuthenticationFailed``,
    ``KafkaConnectionError``, ``OSError``), which the worker's preflight turns into advice.
    """
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    conn = await create_conn(host, int(port), request_timeout_ms=10000, **security(get_settings()))
    conn.close()
