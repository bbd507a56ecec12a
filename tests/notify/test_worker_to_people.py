"""Orders through the real worker and on to people: the notifier reads what the worker writes.

Sample orders (with customer names, e-mails and phones in them) go into a real ``ordertriage
worker``; its notifications reach the notifier, which delivers each once to the webhook and by
mail, carries no personal data, and fills the phone page from the worker's own HTTP API.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
import pytest

from schemas.events import Notification, OrderAction
from streams.kafka.io import produce, read_all
from streams.notify.run import serve
from streams.tools.sample import SampleStream
from streams.topics import NOTIFICATIONS
from tests.notify.conftest import Setup, ready
from tests.notify.fakes import TOKEN, Mailbox, Platforms, free_port, notification_ids
from tests.notify.helpers import API_TOKEN, AUTH

pytestmark = pytest.mark.integration

ROLES = ["sales_rep", "sales_manager", "regional_director", "account_manager", "customer_service"]


@pytest.fixture
async def worker(setup: Setup, tmp_path: Path) -> AsyncIterator[str]:
    """``ordertriage worker`` on the same topics as the notifier; yields its URL."""
    port = free_port()
    env = {
        **os.environ,
        "ORDERTRIAGE_APP_ID": f"w{setup.settings.notify_group}",
        "ORDERTRIAGE_TOPIC_PREFIX": setup.settings.topic_prefix,
        "ORDERTRIAGE_TOPIC_PARTITIONS": str(setup.settings.topic_partitions),
        "ORDERTRIAGE_WEB_PORT": str(port),
        "ORDERTRIAGE_DATA_DIR": str(tmp_path / "worker-data"),
        "ORDERTRIAGE_API_TOKEN": API_TOKEN,
    }
    proc = _start(env, tmp_path / "worker.log")
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession(headers=AUTH) as http:
            while True:
                assert proc.poll() is None, f"worker exited; see {tmp_path / 'worker.log'}"
                try:
                    async with http.get(f"{url}/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "worker not ready"
                await asyncio.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "worker"], env=env, stdout=out, stderr=out
    )


async def test_sample_orders_reach_people_once_without_personal_data(
    setup: Setup, worker: str, platforms: Platforms, mailbox: Mailbox
) -> None:
    setup.config.write_text(
        setup.config.read_text().split("people:")[0]
        + "people:\n  desk: {channels: [audit-hook, {channel: mail, to: desk@example.test}]}\n"
        + "roles:\n"
        + "".join(f"  {role}: [desk]\n" for role in ROLES)
    )
    settings = setup.settings.model_copy(update={"notify_worker_url": worker})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, setup.config, stop))
    try:
        await ready(setup, task)
        sample = SampleStream(150, seed=19, bad_share=0.0, prefix=settings.topic_prefix)
        await produce(settings.bootstrap, sample)
        topic = settings.topic(NOTIFICATIONS)

        previous: set[str] = set()
        deadline = time.monotonic() + 120
        while True:
            written = {
                Notification.model_validate_json(v).notification_id
                for v in await read_all(settings.bootstrap, [topic])
            }
            delivered = {i for r in platforms.webhook_unique().values() for i in r.ids}
            mailed = {i for m in mailbox.unique().values() for i in notification_ids(m["text"])}
            if written and written == delivered == mailed == previous:
                break
            previous = written
            assert time.monotonic() < deadline, f"{len(written)} written, {len(delivered)} sent"
            await asyncio.sleep(0.5)  # poll: the worker may still be writing
        assert len(platforms.of("webhook")) == len(written)  # once each, none re-sent
        assert len(mailbox.messages) == len(written)
        # Personal data of the customers never leaves in a message.
        texts = [orjson.dumps(r.body).decode() for r in platforms.received]
        texts += [m["text"] + m["subject"] for m in mailbox.messages]
        for customer in sample.customers:
            for value in (customer.name, f"{customer.customer_id.lower()}@example.com"):
                assert not any(value in t for t in texts), value
        assert not any(re.search(r"\+86-10-\d{8}", t) for t in texts)
        # The phone page shows the worker's classification of the order, and acks it.
        link = TOKEN.search(mailbox.messages[0]["text"])
        assert link is not None
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.get(f"{setup.base_url}/act?{link.group(0)}") as r:
                page = await r.text()
            assert r.status == 200 and "value_tier" in page, page[:2000]
            token = re.search(r'value="([^"]+)" id="btn-ack"', page)
            assert token is not None
            async with http.post(
                f"{setup.base_url}/act", data={"token": token.group(1), "lang": "en"}
            ) as r:
                assert r.status == 200 and "Acknowledged" in await r.text()
        actions = [
            OrderAction.model_validate_json(v)
            for v in await read_all(settings.bootstrap, [settings.topic("orders.actions")])
        ]
        assert [a.by for a in actions] == ["desk"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_feedback_reaches_its_assignee_and_the_ack_stops_the_first_response_clock(
    setup: Setup, worker: str, platforms: Platforms, mailbox: Mailbox
) -> None:
    """A complaint through the real worker: the desk assigns it, the notifier delivers the
    assignment, following the link writes ``feedback.status-changed`` (acknowledged, by the
    person), and the desk applies it: the first-response clock is gone."""
    roles = ["logistics_team", "logistics_lead", "feedback_triage", *ROLES]
    setup.config.write_text(
        setup.config.read_text().split("people:")[0]
        + "people:\n  desk: {channels: [{channel: mail, to: desk@example.test}]}\n"
        + "roles:\n"
        + "".join(f"  {role}: [desk]\n" for role in roles)
    )
    settings = setup.settings.model_copy(update={"notify_worker_url": worker})
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, setup.config, stop))
    try:
        await ready(setup, task)
        complaint = {
            "event_id": "fb-e1",
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),  # no clock due yet: one message
            "feedback_id": "FB-77",
            "channel": "chat",
            "customer_id": "C-77",
            "text": "快递 three days late 还没到,物流一直不更新",
        }
        topic = settings.topic("feedback.received")
        await produce(settings.bootstrap, [(topic, b"FB-77", orjson.dumps(complaint))])
        deadline = time.monotonic() + 90
        while not mailbox.messages:
            assert time.monotonic() < deadline, "no feedback notification delivered"
            await asyncio.sleep(0.25)
        (mail,) = mailbox.messages
        assert "FB-77" in mail["subject"] and "wang.lei" in mail["text"]
        link = TOKEN.search(mail["text"])
        assert link is not None
        async with aiohttp.ClientSession(headers=AUTH) as http:
            async with http.get(f"{setup.base_url}/act?{link.group(0)}") as r:
                page = await r.text()
            token = re.search(r'value="([^"]+)" id="btn-ack"', page)
            assert r.status == 200 and token is not None, page[:2000]
            async with http.post(
                f"{setup.base_url}/act", data={"token": token.group(1), "lang": "en"}
            ) as r:
                assert r.status == 200 and "Acknowledged" in await r.text()
            deadline = time.monotonic() + 60
            while True:
                async with http.get(f"{worker}/feedback/FB-77") as r:
                    body = await r.json()
                if body.get("status") == "acknowledged":
                    break
                assert time.monotonic() < deadline, body
                await asyncio.sleep(0.25)
        assert body["changed_by"] == "desk" and body["first_response_at"]
        assert [c["clock"] for c in body["clocks"]] == ["feedback-normal:resolution"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
