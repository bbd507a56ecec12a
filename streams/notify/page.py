"""The phone page behind an ack link: one small, mobile-first HTML page in zh or en."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from streams.notify.messages import SEVERITY_TEXT

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Order {order_id}",
        "what": "What happened",
        "why": "Why",
        "classification": "Classification",
        "sla": "SLA clock",
        "due": "due",
        "ack": "Acknowledge",
        "claim": "Claim",
        "done_ack": "Acknowledged. Escalation of this notification stops.",
        "done_claim": "Claimed: it is yours.",
        "used": "This link was already used ({action}). Nothing more was done.",
        "forged": "This link is not valid. Nothing was done.",
        "expired": "This link has expired. Nothing was done.",
        "malformed": "This link is not valid. Nothing was done.",
        "unknown": "This notification is not known here.",
        "as": "as",
        "lang": "中文",
    },
    "zh": {
        "title": "订单 {order_id}",
        "what": "发生了什么",
        "why": "原因",
        "classification": "分类",
        "sla": "SLA 时钟",
        "due": "截止",
        "ack": "确认",
        "claim": "认领",
        "done_ack": "已确认。此通知的升级已停止。",
        "done_claim": "已认领: 由您负责。",
        "used": "此链接已被使用 ({action})。未做任何操作。",
        "forged": "此链接无效。未做任何操作。",
        "expired": "此链接已过期。未做任何操作。",
        "malformed": "此链接无效。未做任何操作。",
        "unknown": "此处不认识这条通知。",
        "as": "身份",
        "lang": "English",
    },
}


_env = Environment(
    loader=PackageLoader("streams.notify", "templates"), autoescape=select_autoescape(default=True)
)
_template = _env.get_template("act.html.j2")


def render(lang: str, **context: Any) -> str:
    t = TEXT[lang]
    n = context.get("n")
    heading = t["title"].format(order_id=n.order_id) if n is not None else "ordertriage"
    severity = SEVERITY_TEXT[lang].get(n.severity, n.severity) if n is not None else ""
    return _template.render(lang=lang, t=t, heading=heading, severity=severity, **context)
