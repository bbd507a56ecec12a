"""A notifier config wired to the fake platforms, and notifications to send through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from schemas.events import Notification, Priority

#: The worker's and notifier's API token in these tests (ORDERTRIAGE_API_TOKEN).
API_TOKEN = "notify-tests-api-token-0123456789"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}

SECRETS = {
    "dingtalk_token": "dt-access-token",
    "dingtalk_secret": "SECdingtalk-secret-0123456789",
    "feishu_token": "fs-hook-token",
    "feishu_secret": "feishu-secret-abcdef",
    "wecom_key": "wecom-key-693a91f6",
    "slack_token": "XXXXslacktoken",
    "webhook_secret": "webhook-secret-42",
    "link_secret": "link-secret-for-tests-only",
}


def environment(urls: dict[str, str]) -> dict[str, str]:
    """Variables the config refers to: URLs carry tokens, so they are secrets too."""
    return {
        "NT_DINGTALK_URL": urls["dingtalk"],
        "NT_DINGTALK_SECRET": SECRETS["dingtalk_secret"],
        "NT_FEISHU_URL": urls["feishu"],
        "NT_FEISHU_SECRET": SECRETS["feishu_secret"],
        "NT_WECOM_URL": urls["wecom"],
        "NT_SLACK_URL": urls["slack"],
        "NT_HOOK_URL": urls["webhook"],
        "NT_HOOK_SECRET": SECRETS["webhook_secret"],
        "NT_LINK_SECRET": SECRETS["link_secret"],
    }


def config_text(smtp_port: int, ca_file: Path, base_url: str, *, timeout: str = "2s") -> str:
    return f"""\
language: en
links:
  base_url: {base_url}
  ttl: 2h
  secret: {{env: NT_LINK_SECRET}}
channels:
  ops-dingtalk:
    type: dingtalk
    url: {{env: NT_DINGTALK_URL}}
    secret: {{env: NT_DINGTALK_SECRET}}
    timeout: {timeout}
  ops-feishu:
    type: feishu
    url: {{env: NT_FEISHU_URL}}
    secret: {{env: NT_FEISHU_SECRET}}
    timeout: {timeout}
  ops-wecom:
    type: wecom
    url: {{env: NT_WECOM_URL}}
    timeout: {timeout}
  sales-slack:
    type: slack
    url: {{env: NT_SLACK_URL}}
    timeout: {timeout}
  audit-hook:
    type: webhook
    url: {{env: NT_HOOK_URL}}
    secret: {{env: NT_HOOK_SECRET}}
    timeout: {timeout}
  mail:
    type: email
    host: 127.0.0.1
    port: {smtp_port}
    sender: ordertriage@example.test
    ca_file: {ca_file}
    timeout: {timeout}
people:
  li.wei:
    language: zh
    channels: [ops-dingtalk, ops-feishu, {{channel: mail, to: li.wei@example.test}}]
  wang.fang:
    language: zh
    channels: [ops-dingtalk, ops-wecom]
  sam:
    channels: [sales-slack, audit-hook, {{channel: mail, to: sam@example.test}}]
  nobody-reachable: {{}}
roles:
  ops: [li.wei, wang.fang]
  sales: [sam, nobody-reachable]
"""


#: Per role, the deliveries one notification makes: (channel, address).
EXPECTED = {
    "ops": {
        ("ops-dingtalk", ""),
        ("ops-feishu", ""),
        ("ops-wecom", ""),
        ("mail", "li.wei@example.test"),
    },
    "sales": {("sales-slack", ""), ("audit-hook", ""), ("mail", "sam@example.test")},
}


def notification(i: int, role: str = "ops", severity: str = "warning") -> Notification:
    return Notification(
        notification_id=f"n-{i:05d}",
        kind="sla_reminder" if i % 2 else "big_order",
        recipient_role=role,
        severity=severity,  # type: ignore[arg-type]
        order_id=f"o-{i:05d}",
        message=f"Order o-{i:05d} (12800.00 CNY, P1) missed SLA ship-3d",
        cause_event_id=f"sla:ship-3d:confirmed@2026-01-01T00:00:00+00:00:{i}",
        priority=Priority.P1,
        rules_version="default@test",
        created_at=datetime.now(UTC),
        rule_id="ship-3d",
    )


async def until(check: Callable[[], bool], wait_s: float, what: str) -> None:
    """Wait for a condition, failing with ``what`` after ``wait_s`` seconds."""
    deadline = time.monotonic() + wait_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {wait_s:g}s waiting for {what}")
        await asyncio.sleep(0.05)
