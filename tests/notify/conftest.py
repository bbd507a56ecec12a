from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from streams.settings import Settings
from tests.notify.fakes import Mailbox, Platforms, free_port
from tests.notify.helpers import API_TOKEN, SECRETS, config_text, environment


def bootstrap() -> str:
    return os.environ.get("KAFKA_BOOTSTRAP") or f"127.0.0.1:{os.environ.get('KAFKA_PORT', '9092')}"


@pytest.fixture(scope="session")
def broker() -> str:
    host, _, port = bootstrap().split(",")[0].rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        pytest.fail(f"no Kafka broker at {bootstrap()} ({exc}); run `make broker` first")
    return bootstrap()


@pytest.fixture
async def platforms() -> AsyncIterator[Platforms]:
    p = await Platforms(SECRETS).start()
    yield p
    await p.stop()


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    m = Mailbox(tmp_path).start()
    yield m
    m.stop()


@dataclass
class Setup:
    settings: Settings
    config: Path
    env: dict[str, str]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.notify_port}"


@pytest.fixture
def setup(
    broker: str,
    tmp_path: Path,
    platforms: Platforms,
    mailbox: Mailbox,
    monkeypatch: pytest.MonkeyPatch,
) -> Setup:
    """Own topics (a unique prefix) and group per test; the config pointing at the fakes."""
    urls = {p: platforms.url(p) for p in ("dingtalk", "feishu", "wecom", "slack", "webhook")}
    env = environment(urls)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = uuid.uuid4().hex[:8]
    port = free_port()
    path = tmp_path / "notify.yaml"
    path.write_text(config_text(mailbox.port, mailbox.ca_file, f"http://127.0.0.1:{port}"))
    settings = Settings(
        topic_prefix=f"nt{run}.",
        notify_group=f"nt{run}-notify",
        notify_port=port,
        notify_attempts=3,
        notify_backoff_seconds=0.05,
        topic_partitions=2,
        api_token=API_TOKEN,
    )
    return Setup(settings, path, env)


async def ready(setup: Setup, task: asyncio.Task[None] | None = None, wait_s: float = 60) -> None:
    """Until the notifier answers /healthz (its topics exist and its ledger is read)."""
    deadline = time.monotonic() + wait_s
    async with aiohttp.ClientSession() as http:
        while True:
            if task is not None and task.done():
                task.result()  # raises what stopped it
            try:
                async with http.get(f"{setup.base_url}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the notifier did not come up")
            await asyncio.sleep(0.1)


@pytest.fixture
async def notifier(setup: Setup) -> AsyncIterator[Setup]:
    """The notifier running in this test's event loop until the test ends."""
    from streams.notify.run import serve

    stop = asyncio.Event()
    task = asyncio.create_task(serve(setup.settings, setup.config, stop))
    await ready(setup, task)
    yield setup
    stop.set()
    await asyncio.wait_for(task, 30)
