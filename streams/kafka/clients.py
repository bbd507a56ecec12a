"""One factory for every plain aiokafka client the project makes.

Callers pass what is particular to their use (topics, group, acks); what every client to the
same cluster shares (the bootstrap servers and the security settings) is added here.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from streams.settings import Settings, get_settings


def security(settings: Settings) -> dict[str, Any]:
    """aiokafka's security options for the ``broker_*`` settings; empty = PLAINTEXT.

    The Faust app needs the same as ``broker_credentials`` (``faust.SASLCredentials`` or
    ``faust.SSLCredentials``), see docs/scaling.md.
    """
    options: dict[str, Any] = {}
    if settings.broker_tls:
        options["ssl_context"] = create_ssl_context()
    if settings.broker_sasl_mechanism:
        options |= {
            "security_protocol": "SASL_SSL" if settings.broker_tls else "SASL_PLAINTEXT",
            "sasl_mechanism": settings.broker_sasl_mechanism,
            "sasl_plain_username": settings.broker_sasl_username,
            "sasl_plain_password": settings.broker_sasl_password.get_secret_value(),
        }
    elif settings.broker_tls:
        options["security_protocol"] = "SSL"
    return options


def connection(bootstrap: str) -> dict[str, Any]:
    """Options every client to the cluster at ``bootstrap`` shares."""
    return {"bootstrap_servers": bootstrap, **security(get_settings())}


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**connection(bootstrap), **options)


def consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **connection(bootstrap), **options)


def admin(bootstrap: str, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection(bootstrap), **options)
