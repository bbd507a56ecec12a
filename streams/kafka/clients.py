"""One factory for every plain aiokafka client the project makes.

Callers pass what is particular to their use (topics, group, acks); what every client to the
same cluster shares (the bootstrap servers, later the security settings) is added here.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient


def connection(bootstrap: str) -> dict[str, Any]:
    """Options every client to the cluster at ``bootstrap`` shares."""
    return {"bootstrap_servers": bootstrap}


def producer(bootstrap: str, **options: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(**connection(bootstrap), **options)


def consumer(bootstrap: str, *topics: str, **options: Any) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **connection(bootstrap), **options)


def admin(bootstrap: str, **options: Any) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection(bootstrap), **options)
