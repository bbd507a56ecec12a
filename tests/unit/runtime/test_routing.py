"""A forwarded table lookup finds the owner without the producer's metadata of the changelog."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from faust.assignor.partition_assignor import PartitionAssignor
from faust.types import TP

from streams.runtime import routing

TOPIC = "ot-customers-changelog"
URLS = {TP(TOPIC, p): f"http://127.0.0.1:{6000 + p}" for p in range(4)}


def assignor(known: set[int] | None, tps_url: dict[TP, str]) -> Any:
    metadata = SimpleNamespace(partitions_for_topic=lambda topic: known)
    producer = SimpleNamespace(_metadata=metadata, _partitioner=DefaultPartitioner())
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    return SimpleNamespace(app=app, _tps_url=tps_url)


def test_unknown_to_the_producer_routes_as_if_it_knew_the_topic() -> None:
    for n in range(50):
        key = f'"C-{n}"'.encode()
        told = routing._key_store(assignor({0, 1, 2, 3}, URLS), TOPIC, key)
        untold = routing._key_store(assignor(None, URLS), TOPIC, key)
        assert untold == told
    owners = {
        str(routing._key_store(assignor(None, URLS), TOPIC, f"{n}".encode())) for n in range(50)
    }
    assert len(owners) == 4  # the keys spread over every owner, not one default


def test_a_topic_nobody_knows_is_unavailable_not_an_error() -> None:
    with pytest.raises(KeyError):  # Faust's router turns it into 503
        routing._key_store(assignor(None, {}), TOPIC, b"C-1")


def test_faust_still_routes_through_key_store() -> None:
    routing.install()
    assert PartitionAssignor.key_store is routing._key_store
    assert "_tps_url" in PartitionAssignor.__init__.__code__.co_names or hasattr(
        PartitionAssignor, "_tps_url"
    )
