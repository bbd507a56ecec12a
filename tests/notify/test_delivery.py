"""The notifier on the real broker against the fake platforms: routing, failures, digests."""

from __future__ import annotations

import re
from collections import Counter

import aiohttp

from schemas.events import DeliveryDeadLetter, Notification
from streams.kafka.io import produce, read_all
from streams.topics import NOTIFICATIONS
from tests.notify.conftest import Setup
from tests.notify.fakes import Mailbox, Platforms, notification_ids
from tests.notify.helpers import AUTH, notification, until

DIGEST = re.compile(r"(\d+) (?:notifications \(digest|条通知 \(汇总)")
CHAT = ("dingtalk", "feishu", "wecom", "slack", "webhook")


async def send(setup: Setup, notes: list[Notification]) -> None:
    topic = setup.settings.topic(NOTIFICATIONS)
    await produce(
        setup.settings.bootstrap,
        [(topic, n.order_id.encode(), n.model_dump_json().encode()) for n in notes],
    )


def per_id(platforms: Platforms, mailbox: Mailbox) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {p: Counter() for p in (*CHAT, "mail")}
    for r in platforms.received:
        counts[r.platform].update(r.ids)
    for m in mailbox.messages:
        counts["mail"].update(notification_ids(m["text"]))
    return counts


async def dead_letters(setup: Setup) -> list[DeliveryDeadLetter]:
    topic = setup.settings.topic("orders.notify-deadletters")
    return [
        DeliveryDeadLetter.model_validate_json(v)
        for v in await read_all(setup.settings.bootstrap, [topic])
    ]


async def test_each_channel_gets_each_notification_once_signed_and_shaped(
    notifier: Setup, platforms: Platforms, mailbox: Mailbox
) -> None:
    ops = [notification(i, "ops") for i in range(3)]
    sales = [notification(10 + i, "sales") for i in range(2)]
    await send(notifier, ops + sales + ops[:1])  # the last one again: an upstream duplicate
    await until(
        lambda: len(platforms.received) >= 3 * 3 + 2 * 2 and len(mailbox.messages) >= 5,
        30,
        "every delivery",
    )
    counts = per_id(platforms, mailbox)
    for platform in ("dingtalk", "feishu", "wecom"):
        assert counts[platform] == Counter({n.notification_id: 1 for n in ops}), platform
    for platform in ("slack", "webhook"):
        assert counts[platform] == Counter({n.notification_id: 1 for n in sales}), platform
    assert counts["mail"] == Counter({n.notification_id: 1 for n in ops + sales})
    assert not platforms.rejected and mailbox.plain_attempts == 0
    assert {m["to"] for m in mailbox.messages} == {"li.wei@example.test", "sam@example.test"}
    zh = next(m for m in mailbox.messages if m["to"] == "li.wei@example.test")
    assert "订单" in zh["subject"]  # li.wei reads Chinese
    # A person with no channel is dead-lettered, not dropped.
    dead = await dead_letters(notifier)
    assert sorted((d.reason, d.person, d.notification_id) for d in dead) == sorted(
        ("no_channel", "nobody-reachable", n.notification_id) for n in sales
    )
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{notifier.base_url}/notifications/{ops[0].notification_id}") as r:
            state = await r.json()
            assert r.status == 200
        async with http.get(f"{notifier.base_url}/notifications/nope") as r:
            assert r.status == 404
        async with http.get(f"{notifier.base_url}/metrics") as r:
            text = await r.text()
    async with (
        aiohttp.ClientSession() as anonymous,  # delivery state is not for anyone
        anonymous.get(f"{notifier.base_url}/notifications/nope") as r,
    ):
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert sorted((d["channel"], d["state"]) for d in state["deliveries"]) == sorted(
        [("ops-dingtalk", "sent"), ("ops-feishu", "sent"), ("ops-wecom", "sent"), ("mail", "sent")]
    )
    assert all("to" not in d for d in state["deliveries"])  # no addresses over HTTP
    assert 'ordertriage_notify_deliveries_total{channel="ops-dingtalk",outcome="sent"} 3.0' in text
    assert 'outcome="duplicate"' in text


async def test_failures_retry_then_dead_letter_with_the_channels_answer(
    notifier: Setup, platforms: Platforms, mailbox: Mailbox
) -> None:
    from collections import deque

    platforms.script = {
        "dingtalk": deque([500, 429]),  # recovers on the third try
        "wecom": deque(["timeout"]),  # the client gives up after 2 s, then it works
        "slack": deque([429]),  # Retry-After: 1
        "webhook": deque([500, 500, 500]),  # never within 3 tries
    }
    ops, sales = notification(1, "ops"), notification(2, "sales")
    await send(notifier, [ops, sales, notification(3, "legal")])
    await until(
        lambda: (
            {r.platform for r in platforms.received} >= {"dingtalk", "wecom", "slack", "feishu"}
            and len(mailbox.messages) == 2
        ),
        40,
        "the retried deliveries",
    )
    assert platforms.calls["dingtalk"] == 3 and platforms.calls["wecom"] == 2
    assert platforms.calls["slack"] == 2
    counts = per_id(platforms, mailbox)
    assert (
        counts["dingtalk"][ops.notification_id] == 1 and counts["wecom"][ops.notification_id] == 1
    )

    async def reasons() -> set[tuple[str, str | None]]:
        return {(d.reason, d.channel) for d in await dead_letters(notifier)}

    wanted = {("exhausted", "audit-hook"), ("unknown_role", None), ("no_channel", None)}
    got: set[tuple[str, str | None]] = set()
    for _ in range(100):
        got = await reasons()
        if got >= wanted:
            break
    assert got == wanted
    hook = next(d for d in await dead_letters(notifier) if d.channel == "audit-hook")
    assert hook.attempts == 3 and "HTTP 500" in hook.answer and hook.notification == sales
    assert platforms.calls["webhook"] == 3 and not platforms.of("webhook")


async def test_a_burst_over_the_rate_limit_becomes_a_digest_not_a_429(
    notifier: Setup, platforms: Platforms, mailbox: Mailbox
) -> None:
    notes = [
        notification(i, "ops", severity="critical" if i % 10 == 0 else "warning") for i in range(45)
    ]
    await send(notifier, notes)
    ids = {n.notification_id for n in notes}

    def represented(platform: str) -> int:
        """Notifications a platform's messages stand for: 1 each, or a digest's count."""
        return sum(
            int(m.group(1)) if (m := DIGEST.search(r.text)) else len(r.ids)
            for r in platforms.of(platform)
        )

    await until(
        lambda: (
            all(represented(p) >= 45 for p in ("dingtalk", "feishu", "wecom"))
            and len(mailbox.messages) >= 45
        ),
        150,
        "all",
    )
    for platform, limit in (("dingtalk", 20), ("wecom", 20), ("feishu", 100)):
        got = platforms.of(platform)
        assert len(got) <= limit, platform
        assert represented(platform) == 45, platform
        counts = Counter(i for r in got for i in r.ids)
        assert set(counts.values()) == {1}, f"{platform}: some notification twice"
        digests = [r for r in got if DIGEST.search(r.text)]
        assert digests, f"{platform}: a digest"
        # The most important come first: every critical one is named somewhere.
        critical = {n.notification_id for n in notes if n.severity == "critical"}
        assert critical <= set(counts), platform
    feishu_times = sorted(r.at for r in platforms.of("feishu"))
    assert all(b - a >= 1.0 for a, b in zip(feishu_times, feishu_times[5:], strict=False))
    assert not platforms.rejected  # no platform had to refuse a message for going too fast
    assert len(mailbox.unique()) == 45  # no limit on mail: one by one
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for n in notes:
            async with http.get(f"{notifier.base_url}/notifications/{n.notification_id}") as r:
                states = {d["channel"]: d["state"] for d in (await r.json())["deliveries"]}
            assert states["mail"] == "sent" and n.notification_id in ids
            assert {states[c] for c in ("ops-dingtalk", "ops-wecom")} <= {"sent", "digested"}
