"""Exactly once per channel through a kill -9: the notifier as its own process on the real broker.

A burst of notifications (some twice, and a replay of the first ones after the restart) goes
through ``ordertriage notify``; the process is killed with SIGKILL while it delivers and
started again. The fake platforms count what they received per notification id:

* e-mail and the webhook: exactly one per notification and address, counted the way their
  receivers de-duplicate (Message-ID, Idempotency-Key); a re-send in doubt carries the same id;
* Slack and DingTalk (no de-duplication there): never twice; a delivery the kill left in
  doubt is not sent again but dead-lettered as ``in_doubt``, and everything else arrives;
* DingTalk keeps its 20 a minute: the surplus arrives in digests.

The delivery latency (notification record to first channel call) is measured from the
notifier's own ledger and printed (``-s``) for the docs.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from schemas.events import DeliveryDeadLetter, Notification
from streams.kafka.io import produce, read_all
from streams.topics import NOTIFICATIONS
from tests.notify.conftest import Setup, ready
from tests.notify.fakes import Mailbox, Platforms, free_port, notification_ids
from tests.notify.helpers import API_TOKEN, AUTH, SECRETS, environment, notification, until

pytestmark = pytest.mark.integration

BURST = 240
DIGEST = re.compile(r"(\d+) (?:notifications \(digest|条通知 \(汇总)")


def config(mailbox: Mailbox, base_url: str) -> str:
    return f"""\
links: {{base_url: "{base_url}", secret: {{env: NT_LINK_SECRET}}}}
channels:
  ops-dingtalk:
    {{type: dingtalk, url: {{env: NT_DINGTALK_URL}}, secret: {{env: NT_DINGTALK_SECRET}}}}
  sales-slack: {{type: slack, url: {{env: NT_SLACK_URL}}, rate_per_minute: 100000}}
  audit-hook: {{type: webhook, url: {{env: NT_HOOK_URL}}, secret: {{env: NT_HOOK_SECRET}}}}
  mail:
    {{type: email, host: 127.0.0.1, port: {mailbox.port}, sender: ot@example.test,
     ca_file: "{mailbox.ca_file}"}}
people:
  li.wei:
    language: zh
    channels: [ops-dingtalk, audit-hook, {{channel: mail, to: li@example.test}}]
  sam: {{channels: [sales-slack, audit-hook, {{channel: mail, to: sam@example.test}}]}}
roles: {{ops: [li.wei], sales: [sam]}}
"""


class Process:
    """``ordertriage notify`` as a child process, with its output kept in a file."""

    def __init__(self, env: dict[str, str], config: Path, log: Path) -> None:
        self.env, self.config, self.log = env, config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        out = self.log.open("ab")
        cmd = [sys.executable, "-m", "streams.cli.notify", "--config", str(self.config)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
async def slow_platforms() -> Platforms:
    """Answers take 15 ms, so the burst lasts long enough to be killed in the middle."""
    p = await Platforms(SECRETS, delay_s=0.015).start()
    yield p  # type: ignore[misc]
    await p.stop()


async def test_kill_9_mid_burst_delivers_each_notification_once_per_channel(
    broker: str, tmp_path: Path, slow_platforms: Platforms, mailbox: Mailbox
) -> None:
    platforms = slow_platforms
    run = uuid.uuid4().hex[:8]
    port = free_port()
    urls = {p: platforms.url(p) for p in ("dingtalk", "feishu", "wecom", "slack", "webhook")}
    env = {
        **os.environ,
        **environment(urls),
        "ORDERTRIAGE_TOPIC_PREFIX": f"eo{run}.",
        "ORDERTRIAGE_NOTIFY_GROUP": f"eo{run}-notify",
        "ORDERTRIAGE_NOTIFY_PORT": str(port),
        "ORDERTRIAGE_API_TOKEN": API_TOKEN,
        "ORDERTRIAGE_TOPIC_PARTITIONS": "3",
        "ORDERTRIAGE_NOTIFY_BACKOFF_SECONDS": "0.1",
    }
    path = tmp_path / "notify.yaml"
    path.write_text(config(mailbox, f"http://127.0.0.1:{port}"))
    from streams.settings import Settings

    settings = Settings(
        topic_prefix=f"eo{run}.", notify_port=port, topic_partitions=3, api_token=API_TOKEN
    )
    setup = Setup(settings, path, {})
    proc = Process(env, path, tmp_path / "notify.log").start()
    try:
        await ready(setup)
        notes = [notification(i, "ops" if i % 2 else "sales") for i in range(BURST)]
        dupes = notes[::7]
        topic = settings.topic(NOTIFICATIONS)

        def records(ns: list[Notification]) -> list[tuple[str, bytes, bytes]]:
            return [(topic, n.order_id.encode(), n.model_dump_json().encode()) for n in ns]

        await produce(settings.bootstrap, records(notes + dupes))
        # Kill it in the middle: a third of the webhook deliveries are in.
        await until(lambda: len(platforms.of("webhook")) >= BURST // 3, 60, "a third delivered")
        proc.kill9()
        kill_time = time.time()
        killed_at = len(platforms.of("webhook"))
        assert killed_at < BURST, "the burst was over before the kill"
        await produce(settings.bootstrap, records(notes[:20]))  # a replay from upstream
        proc.start()
        await ready(setup)

        def finished(dead: list[DeliveryDeadLetter]) -> bool:
            doubtful = {d.notification_id for d in dead if d.channel == "audit-hook"}
            hooks = {n for r in platforms.webhook_unique().values() for n in r.ids}
            slack = {n for r in platforms.of("slack") for n in r.ids}
            slack |= {d.notification_id for d in dead if d.channel == "sales-slack"}
            return (
                len(mailbox.unique()) >= BURST
                and len(hooks | doubtful) >= BURST
                and len(slack) >= BURST // 2
            )

        deadline = time.monotonic() + 180
        while not finished(await _dead(settings)):
            assert time.monotonic() < deadline, (
                f"not finished: {len(mailbox.unique())} mails,"
                f" {len(platforms.webhook_unique())} webhooks; see {proc.log}"
            )
            await asyncio.sleep(0.5)  # poll the topic and the fakes
        ops = {n.notification_id for n in notes if n.recipient_role == "ops"}
        sales = {n.notification_id for n in notes if n.recipient_role == "sales"}
        # DingTalk takes 20 a minute: after the restart its surplus waits for a free slot.
        while True:
            states, latencies = await _states(setup, notes)
            if sum(
                1 for (_, c), s in states.items() if c == "ops-dingtalk" and s != "intent"
            ) == len(ops):
                break
            assert time.monotonic() < deadline + 90, f"dingtalk unfinished; see {proc.log}"
            await asyncio.sleep(1.0)
        dead = await _dead(settings)
        in_doubt = {(d.notification_id, d.channel) for d in dead if d.reason == "in_doubt"}
        assert {d.reason for d in dead} <= {"in_doubt"}, [d.answer for d in dead]

        # E-mail: one per notification and address, by Message-ID.
        mails = Counter(i for m in mailbox.unique().values() for i in notification_ids(m["text"]))
        assert mails == Counter({i: 1 for i in ops | sales})
        # Webhook: one per notification by Idempotency-Key.
        hooks = Counter(i for r in platforms.webhook_unique().values() for i in r.ids)
        assert hooks == Counter({i: 1 for i in ops | sales})
        # Slack: never twice; all but the ones in doubt.
        slack = Counter(i for r in platforms.of("slack") for i in r.ids)
        assert set(slack.values()) == {1}
        assert set(slack) | {n for n, c in in_doubt if c == "sales-slack"} == sales
        # DingTalk: never twice, digests under 20 a minute, every ops notification accounted.
        ding = platforms.of("dingtalk")
        shown = Counter(i for r in ding for i in r.ids)
        assert set(shown.values()) == {1}
        assert not platforms.rejected
        ding_states = Counter(s for (i, c), s in states.items() if c == "ops-dingtalk")
        assert sum(ding_states.values()) == len(ops)
        assert set(ding_states) <= {"sent", "digested", "in_doubt"}
        assert sum(1 for r in ding if DIGEST.search(r.text)) >= 1
        resent = len(platforms.of("webhook")) - len(platforms.webhook_unique())
        before = [lat for lat, at in latencies if at < kill_time]
        every = [lat for lat, _ in latencies]
        p50, p99 = statistics.median(every), statistics.quantiles(every, n=100)[98]
        b50, b99 = statistics.median(before), statistics.quantiles(before, n=100)[98]
        print(
            f"\nexactly-once run: {BURST} notifications + {len(dupes)} duplicates + 20 replayed,"
            f" killed after {killed_at} webhook deliveries; in doubt (dead-lettered):"
            f" {len(in_doubt)}; webhook/mail re-sent with the same key: {resent};"
            f" dingtalk messages {len(ding)} ({ding_states});"
            f" latency record->call, all {len(every)} deliveries: p50 {p50 * 1000:.0f} ms,"
            f" p99 {p99 * 1000:.0f} ms (includes the restart);"
            f" the {len(before)} before the kill: p50 {b50 * 1000:.0f} ms, p99 {b99 * 1000:.0f} ms"
        )
    finally:
        proc.stop()


async def _states(
    setup: Setup, notes: list[Notification]
) -> tuple[dict[tuple[str, str], str], list[tuple[float, float]]]:
    """Per (notification, channel) the ledger's state, and every measured latency."""
    states, latencies = {}, []
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for n in notes:
            async with http.get(f"{setup.base_url}/notifications/{n.notification_id}") as r:
                for d in (await r.json())["deliveries"]:
                    states[(n.notification_id, d["channel"])] = d["state"]
                    if d.get("latency_s") is not None:
                        latencies.append((d["latency_s"], d["at"]))
    return states, latencies


async def _dead(settings: object) -> list[DeliveryDeadLetter]:
    topic = settings.topic("orders.notify-deadletters")  # type: ignore[attr-defined]
    bootstrap = settings.bootstrap  # type: ignore[attr-defined]
    return [DeliveryDeadLetter.model_validate_json(v) for v in await read_all(bootstrap, [topic])]
