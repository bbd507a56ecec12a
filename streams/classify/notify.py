"""Who must hear about an order: the notify actions of rules that became true with a change."""

from __future__ import annotations

import uuid
from datetime import datetime
from string import Template

from schemas.events import ClassifiedOrder, Notification, Status
from streams.classify.rules import RuleSet

_NAMESPACE = uuid.UUID("6f6b1f4e-2f1e-4c53-9d1c-6f7264657274")


def notification_id(kind: str, order_id: str) -> str:
    """The same cause gives the same id: a reprocessed event cannot page anyone twice."""
    return str(uuid.uuid5(_NAMESPACE, f"{kind}\x1f{order_id}"))


def newly_fired(before: ClassifiedOrder | None, after: ClassifiedOrder) -> list[str]:
    """Rules true after a change that were not before it (all of them for a new order)."""
    earlier = set(before.rules_fired) if before is not None else set()
    return [r for r in after.rules_fired if r not in earlier]


def notifications(
    after: ClassifiedOrder,
    rule_ids: list[str],
    rules: RuleSet,
    *,
    previous_status: Status | None,
    now: datetime,
) -> list[Notification]:
    """One notification per rule in ``rule_ids`` that has a ``notify`` action."""
    values = {
        "order_id": after.order_id,
        "amount": str(after.total_amount),
        "currency": after.currency,
        "region": after.region,
        "channel": after.channel,
        "customer_id": after.customer_id,
        "customer_type": after.customer_type.value,
        "customer_segment": after.customer_segment.value,
        "primary_product_type": after.primary_product_type,
        "priority": after.priority.value,
        "value_tier": after.value_tier.value,
        "status": after.status.value,
        "previous_status": (previous_status or after.status).value,
        "item_count": str(after.item_count),
        "team": after.team or "",
    }
    out = []
    for rule_id in rule_ids:
        rule = rules.rule(rule_id)
        if rule is None or rule.then.notify is None:
            continue
        notify = rule.then.notify
        kind = rule.notification_kind or rule.id
        message = Template(notify.message).safe_substitute(values, rule_id=rule.id)
        out.append(
            Notification(
                notification_id=notification_id(kind, after.order_id),
                kind=kind,
                recipient_role=notify.role,
                severity=notify.severity,
                order_id=after.order_id,
                message=message,
                cause_event_id=after.event_id,
                priority=after.priority,
                rules_version=after.rules_version,
                created_at=now,
                rule_id=rule.id,
                team=after.team,
            )
        )
    return out
