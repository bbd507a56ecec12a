"""Least-privilege ACLs of the secure cluster, planned from streams/topics.py and applied.

Four principals (docs/security.md): the worker reads its inputs, writes its outputs and owns
only what carries its app id (internal and changelog topics, its group); the CLI's rule
publisher writes the rules topic only; a read-only consumer reads the outputs with its own
group prefix; the notifier reads notifications and writes people's actions. Every public
topic of streams/topics.py must be given a role below, so a new topic cannot be forgotten
(tests/unit/kafka/test_acls.py).

``python -m streams.kafka.acls`` (``make acls``) runs as a super user (the launcher's
``admin``): it creates the public topics (a principal without Create on them cannot), then
adds the ACLs. Both steps are idempotent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from dataclasses import dataclass
from enum import IntEnum

from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest

from streams import topics as t
from streams.kafka import clients
from streams.settings import Settings, get_settings

#: Public topics the worker reads (its inputs, the published rules and models, and its own
#: classified outputs, read back by later stages).
WORKER_READS = frozenset(
    {
        t.CREATED,
        t.STATUS_CHANGED,
        t.CORRECTIONS,
        t.ACTIONS,
        t.FEEDBACK_RECEIVED,
        t.FEEDBACK_STATUS,
        t.FEEDBACK_CORRECTIONS,
        t.FOLLOWUP_DONE,
        t.RULES,
        t.FEEDBACK_MODELS,
        t.CLASSIFIED,
        t.FEEDBACK_CLASSIFIED,
    }
)
#: Public topics the worker writes.
WORKER_WRITES = frozenset(
    {
        t.CLASSIFIED,
        t.NOTIFICATIONS,
        t.ANALYTICS,
        t.DEADLETTER,
        t.REPORTS,
        t.FEEDBACK_CLASSIFIED,
        t.SEGMENTS,
        t.FOLLOWUPS,
        t.ERASURES,
    }
)
#: Public topics only ``ordertriage notify`` uses (the worker neither reads nor writes them).
NOTIFY_ONLY = frozenset({t.NOTIFY_DEADLETTERS})
#: One partition, kept: the rules and feedback-model topics (streams/rules/topic.py).
PUBLISHED = frozenset({t.RULES, t.FEEDBACK_MODELS})


class Resource(IntEnum):  # Kafka's AclResourceType codes
    TOPIC = 2
    GROUP = 3


class Pattern(IntEnum):  # Kafka's PatternType codes
    LITERAL = 3
    PREFIXED = 4


class Op(IntEnum):  # Kafka's AclOperation codes
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8


ALLOW = 3  # AclPermissionType.ALLOW


@dataclass(frozen=True)
class Grant:
    """One ACL: ``principal`` may ``op`` on ``resource`` ``name`` (a prefix if PREFIXED)."""

    principal: str
    op: Op
    resource: Resource
    name: str
    pattern: Pattern = Pattern.LITERAL

    def covers(self, resource: Resource, name: str) -> bool:
        if resource != self.resource:
            return False
        if self.pattern is Pattern.PREFIXED:
            return name.startswith(self.name)
        return name == self.name

    def __str__(self) -> str:
        kind = "prefix" if self.pattern is Pattern.PREFIXED else "name"
        return f"{self.principal}: {self.op.name} on {self.resource.name} {kind} {self.name!r}"


@dataclass(frozen=True)
class Principals:
    worker: str = "ordertriage-worker"
    rules: str = "ordertriage-rules"
    reader: str = "ordertriage-reader"
    notify: str = "ordertriage-notify"


def public_topics() -> set[str]:
    """Every public topic name declared in streams/topics.py (constants with a dot; header
    names such as ``ERASE_HEADER`` aside)."""
    return {
        value
        for name, value in vars(t).items()
        if name.isupper()
        and isinstance(value, str)
        and "." in value
        and not name.endswith("_HEADER")
    }


def plan(settings: Settings, who: Principals) -> list[Grant]:
    """The ACLs of the three principals for ``settings`` (app id, topic prefix)."""
    unassigned = public_topics() - WORKER_READS - WORKER_WRITES - NOTIFY_ONLY
    if unassigned:
        raise ValueError(
            f"topics without an ACL role: {sorted(unassigned)}; add them to WORKER_READS,"
            " WORKER_WRITES or NOTIFY_ONLY in streams/kafka/acls.py"
        )
    worker, rules, reader = (f"User:{n}" for n in (who.worker, who.rules, who.reader))
    grants: list[Grant] = []
    for name in sorted(WORKER_READS | WORKER_WRITES):
        topic = settings.topic(name)
        ops = [Op.DESCRIBE, Op.CREATE]  # Create: Faust declares every topic it uses
        ops += [Op.READ] if name in WORKER_READS else []
        ops += [Op.WRITE] if name in WORKER_WRITES else []
        grants += [Grant(worker, op, Resource.TOPIC, topic) for op in ops]
    # Its own: internal topics, changelogs, Faust's leader topic (all `<app_id>-...`), its group.
    grants += [
        Grant(worker, Op.ALL, Resource.TOPIC, settings.internal_topic(""), Pattern.PREFIXED),
        Grant(worker, Op.ALL, Resource.GROUP, settings.app_id),
    ]
    rules_topic = settings.topic(t.RULES)
    grants += [Grant(rules, op, Resource.TOPIC, rules_topic) for op in (Op.DESCRIBE, Op.WRITE)]
    for name in sorted(WORKER_WRITES):
        grants += [
            Grant(reader, op, Resource.TOPIC, settings.topic(name)) for op in (Op.DESCRIBE, Op.READ)
        ]
    grants.append(Grant(reader, Op.READ, Resource.GROUP, f"{who.reader}-", Pattern.PREFIXED))
    return grants + _notifier(settings, f"User:{who.notify}")


def _notifier(settings: Settings, notify: str) -> list[Grant]:
    """``ordertriage notify``: reads notifications, writes people's actions and feedback
    status changes, owns its group, its ledger (``<notify_group>-ledger``) and dead letters."""
    grants = [
        Grant(notify, op, Resource.TOPIC, settings.topic(t.NOTIFICATIONS))
        for op in (Op.DESCRIBE, Op.READ)
    ]
    for name in (t.ACTIONS, t.FEEDBACK_STATUS, *NOTIFY_ONLY):
        ops = (Op.DESCRIBE, Op.WRITE)
        grants += [Grant(notify, op, Resource.TOPIC, settings.topic(name)) for op in ops]
    prefix = f"{settings.notify_group}-"
    grants.append(Grant(notify, Op.ALL, Resource.TOPIC, prefix, Pattern.PREFIXED))
    grants.append(Grant(notify, Op.READ, Resource.GROUP, settings.notify_group))
    return grants


class _Acls(CreateAclsRequest):
    """CreateAcls with many creations in one request (aiokafka's builds one)."""

    def __init__(self, grants: list[Grant]) -> None:
        self._grants = grants

    def build(self, request_struct_class: type) -> object:  # type: ignore[override]
        return request_struct_class(
            [(g.resource, g.name, g.pattern, g.principal, "*", g.op, ALLOW) for g in self._grants]
        )


class _DeleteAcls(DeleteAclsRequest):
    def __init__(self, grants: list[Grant]) -> None:
        self._grants = grants

    def build(self, request_struct_class: type) -> object:  # type: ignore[override]
        return request_struct_class(
            [(g.resource, g.name, g.pattern, g.principal, "*", g.op, ALLOW) for g in self._grants]
        )


async def apply(settings: Settings, grants: list[Grant], *, remove: bool = False) -> None:
    """Add (or with ``remove``, delete) ``grants`` in one request, as a super user."""
    admin = clients.admin(settings.bootstrap)
    await admin.start()
    try:
        request = _DeleteAcls(grants) if remove else _Acls(grants)
        response = await admin._send_request(request)  # type: ignore[arg-type]
        results = response.filter_responses if remove else response.creation_responses
        for grant, result in zip(grants, results, strict=True):
            if result[0]:
                raise RuntimeError(f"{grant}: Kafka error {result[0]}: {result[1]}")
    finally:
        await admin.close()


async def create_public_topics(settings: Settings) -> None:
    """The public topics, so that no principal below the super user needs Create on them."""
    admin = clients.admin(settings.bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        for name in sorted(public_topics()):
            topic = settings.topic(name)
            if topic in existing:
                continue
            published = name in PUBLISHED
            new = NewTopic(
                topic,
                1 if published else settings.topic_partitions,
                settings.topic_replication_factor,
                topic_configs={
                    **settings.replication_topic_config,
                    **(t.RULES_TOPIC_CONFIG if published else {}),
                },
            )
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics([new])
    finally:
        await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make acls", description=__doc__.split("\n\n")[0])
    defaults = Principals()
    parser.add_argument("--worker", default=defaults.worker, help="the worker's user name")
    parser.add_argument("--rules", default=defaults.rules, help="the rule publisher's user")
    parser.add_argument("--reader", default=defaults.reader, help="the read-only consumer")
    parser.add_argument("--notify", default=defaults.notify, help="ordertriage notify's user")
    parser.add_argument("--dry-run", action="store_true", help="print the ACLs, change nothing")
    args = parser.parse_args(argv)
    settings = get_settings()
    grants = plan(settings, Principals(args.worker, args.rules, args.reader, args.notify))
    for grant in grants:
        sys.stdout.write(f"{grant}\n")
    if not args.dry_run:
        asyncio.run(create_public_topics(settings))
        asyncio.run(apply(settings, grants))
        sys.stdout.write(f"applied {len(grants)} ACLs on {settings.bootstrap}\n")


if __name__ == "__main__":
    main()
