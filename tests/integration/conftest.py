from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Kafka, Worker, bootstrap


@pytest.fixture(scope="session", autouse=True)
def broker() -> str:
    """The broker must be up (``make test`` starts it); say how to get one if it is not."""
    host, _, port = bootstrap().split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker at {bootstrap()} ({exc}); run `make broker` first")
    return bootstrap()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    w = Worker(tmp_path).start()
    yield w
    w.stop()


@pytest.fixture
def kafka(worker: Worker) -> Iterator[Kafka]:
    k = Kafka(worker)
    yield k
    k.close()
