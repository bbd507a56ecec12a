"""What a message says, in zh or en, before any platform's format: pure, no I/O.

A message says what happened (the notification's text), why (kind, rule, severity,
priority) and links to the order and to the one-time ack/claim page. A digest folds many
notifications into one message: counts first, then the most important items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.events import Notification

SEVERITY_RANK = {"critical": 0, "high": 1, "warning": 2, "info": 3}
DIGEST_ITEMS = 10

TEXT = {
    "en": {
        "why": "Why",
        "rule": "rule",
        "severity": "severity",
        "priority": "priority",
        "order": "Order",
        "feedback": "Feedback",
        "ack": "Acknowledge",
        "claim": "Claim",
        "open": "Open",
        "digest": "{n} notifications (digest: the channel's rate limit was reached)",
        "counts": "By severity",
        "more": "and {n} more",
    },
    "zh": {
        "why": "原因",
        "rule": "规则",
        "severity": "级别",
        "priority": "优先级",
        "order": "订单",
        "feedback": "反馈",
        "ack": "确认",
        "claim": "认领",
        "open": "打开",
        "digest": "{n} 条通知 (汇总: 已达到该渠道的发送频率上限)",
        "counts": "按级别",
        "more": "另有 {n} 条",
    },
}
SEVERITY_TEXT = {
    "en": {"critical": "critical", "high": "high", "warning": "warning", "info": "info"},
    "zh": {"critical": "紧急", "high": "高", "warning": "警告", "info": "提示"},
}


@dataclass(frozen=True)
class Button:
    label: str
    url: str


@dataclass(frozen=True)
class Item:
    """One notification as a message item, with its links already signed."""

    notification: Notification
    ack_url: str
    order_url: str | None = None


@dataclass(frozen=True)
class Message:
    """Platform-neutral: a title, markdown-ish lines ([text](url), **bold**), buttons."""

    title: str
    lines: list[str]
    buttons: list[Button] = field(default_factory=list)
    severity: str = "info"
    notification_ids: tuple[str, ...] = ()


def importance(n: Notification) -> tuple[int, str, str]:
    """Sort key: most severe first, then by priority (P1 first), then oldest first."""
    return (SEVERITY_RANK.get(n.severity, 9), n.priority.value, n.created_at.isoformat())


def subject(n: Notification, lang: str) -> str:
    """ "Order SO-1" or, for feedback, "Feedback FB-1" (its order, if any, is in the message)."""
    t = TEXT[lang]
    return f"{t['feedback']} {n.feedback_id}" if n.feedback_id else f"{t['order']} {n.order_id}"


def single(item: Item, lang: str) -> Message:
    t, n = TEXT[lang], item.notification
    sev = SEVERITY_TEXT[lang][n.severity]
    title = f"[{sev}] {subject(n, lang)}: {n.kind}"
    why = (
        f"{t['rule']} `{n.rule_id or n.kind}`, {t['severity']} {sev}, {t['priority']} {n.priority}"
    )
    lines = [f"**{title}**", n.message, f"{t['why']}: {why}"]
    if item.order_url:
        lines.append(f"[{t['order']} {n.order_id}]({item.order_url})")
    lines.append(f"[{t['ack']} / {t['claim']}]({item.ack_url})")
    buttons = [Button(f"{t['ack']} / {t['claim']}", item.ack_url)]
    if item.order_url:
        buttons.append(Button(f"{t['open']} {n.order_id}", item.order_url))
    return Message(title, lines, buttons, n.severity, (n.notification_id,))


def digest(items: Sequence[Item], lang: str) -> Message:
    """Counts by severity, then the ``DIGEST_ITEMS`` most important, each with its link."""
    t = TEXT[lang]
    ordered = sorted(items, key=lambda i: importance(i.notification))
    counts = Counter(i.notification.severity for i in items)
    title = t["digest"].format(n=len(items))
    shown = ", ".join(
        f"{SEVERITY_TEXT[lang][s]} {counts[s]}"
        for s in sorted(counts, key=lambda s: SEVERITY_RANK.get(s, 9))
    )
    lines = [f"**{title}**", f"{t['counts']}: {shown}"]
    for item in ordered[:DIGEST_ITEMS]:
        n = item.notification
        lines.append(
            f"- [{SEVERITY_TEXT[lang][n.severity]}] {n.feedback_id or n.order_id} {n.kind}:"
            f" [{t['ack']}]({item.ack_url})"
        )
    if len(ordered) > DIGEST_ITEMS:
        lines.append(t["more"].format(n=len(ordered) - DIGEST_ITEMS))
    top = ordered[0].notification.severity if ordered else "info"
    return Message(title, lines, [], top, tuple(i.notification.notification_id for i in ordered))
