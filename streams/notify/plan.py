"""Who gets a notification on which channel: pure, from the config and the clock.

One delivery per (notification, channel, address): a group robot shared by several members of
a role gets the message once; a personal channel (e-mail) once per address. What cannot be
routed (a role nobody has, a person with no channel) is returned as a problem to dead-letter,
never dropped in silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from schemas.events import Notification
from streams.notify.config import GROUP_TYPES, NotifyConfig, QuietHours

URGENT = frozenset({"high", "critical"})


def delivery_key(notification_id: str, channel: str, to: str) -> str:
    """Group robots get one message per channel, personal channels one per address."""
    return f"{notification_id}\x1f{channel}\x1f{to}"


@dataclass(frozen=True)
class Delivery:
    key: str
    notification: Notification
    channel: str
    person: str  # who the ack link speaks for: a person, or @channel for a group robot
    to: str  # address on a personal channel, "" for a group channel
    language: str
    quiet: bool = False


@dataclass(frozen=True)
class Problem:
    key: str
    notification: Notification
    reason: str  # unknown_role | no_channel
    person: str | None
    detail: str


def in_quiet_hours(quiet: QuietHours, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(quiet.timezone)).time()
    if quiet.start <= quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # spans midnight


def plan(
    notification: Notification, config: NotifyConfig, now: datetime
) -> tuple[list[Delivery], list[Problem]]:
    nid = notification.notification_id
    members = config.roles.get(notification.recipient_role)
    if not members:
        key = delivery_key(nid, "-", f"role:{notification.recipient_role}")
        detail = f"no people for role {notification.recipient_role!r} in the notifier config"
        return [], [Problem(key, notification, "unknown_role", None, detail)]
    deliveries: dict[str, Delivery] = {}
    problems = []
    for name in members:
        person = config.people[name]
        if not person.channels:
            key = delivery_key(nid, "-", f"person:{name}")
            problems.append(Problem(key, notification, "no_channel", name, f"{name} has none"))
            continue
        language = person.language or config.language
        quiet = (
            person.quiet_hours is not None
            and notification.severity not in URGENT
            and in_quiet_hours(person.quiet_hours, now)
        )
        for route in person.channels:
            group = config.channels[route.channel].type in GROUP_TYPES
            to = "" if group else (route.to or "")
            key = delivery_key(nid, route.channel, to)
            if key in deliveries:
                continue
            deliveries[key] = Delivery(
                key,
                notification,
                route.channel,
                f"@{route.channel}" if group else name,
                to,
                config.language if group else language,
                quiet=quiet and not group,
            )
    return list(deliveries.values()), problems
