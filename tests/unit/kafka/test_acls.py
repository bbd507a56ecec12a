"""streams.kafka.acls: every topic the worker touches is covered, and nothing more is granted."""

from __future__ import annotations

import pytest

from streams import topics as t
from streams.kafka.acls import (
    NOTIFY_ONLY,
    WORKER_READS,
    WORKER_WRITES,
    Op,
    Principals,
    Resource,
    plan,
    public_topics,
)
from streams.settings import Settings

WHO = Principals()


def allowed(grants: list, principal: str, op: Op, resource: Resource, name: str) -> bool:
    return any(
        g.principal == f"User:{principal}" and g.op in (op, Op.ALL) and g.covers(resource, name)
        for g in grants
    )


def test_every_declared_topic_has_a_role() -> None:
    assert public_topics() <= WORKER_READS | WORKER_WRITES | NOTIFY_ONLY
    assert t.CREATED in public_topics() and t.RULES in public_topics()


def test_a_topic_without_a_role_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(t, "NEW_THING", "orders.new-thing", raising=False)
    with pytest.raises(ValueError, match=r"orders\.new-thing"):
        plan(Settings(), WHO)


def test_the_worker_may_use_every_topic_and_table_it_declares() -> None:
    """Built as the worker builds itself: subscribed topics, outputs, changelogs, the rules."""
    from streams import agents
    from streams.app import build

    settings = Settings(app_id="acl-check", topic_prefix="stg.")
    w = build(settings)
    agents.register(w)
    grants = plan(settings, WHO)
    subscribed = {name for agent in w.app.agents.values() for name in agent.channel.topics}
    for name in subscribed:
        assert allowed(grants, WHO.worker, Op.READ, Resource.TOPIC, name), name
    for topic in w.topics.outputs:
        assert allowed(grants, WHO.worker, Op.WRITE, Resource.TOPIC, topic.get_topic_name())
    for table in w.app.tables.values():
        changelog = table.changelog_topic.get_topic_name()
        assert allowed(grants, WHO.worker, Op.WRITE, Resource.TOPIC, changelog), changelog
    assert allowed(grants, WHO.worker, Op.READ, Resource.TOPIC, "stg." + t.RULES)
    assert allowed(grants, WHO.worker, Op.READ, Resource.GROUP, "acl-check")


def test_least_privilege() -> None:
    grants = plan(Settings(app_id="ot"), WHO)
    # The worker owns its prefix, not another app's, and does not write its inputs.
    assert not allowed(grants, WHO.worker, Op.READ, Resource.TOPIC, "other-app-changelog")
    assert not allowed(grants, WHO.worker, Op.WRITE, Resource.TOPIC, t.CREATED)
    assert not allowed(grants, WHO.worker, Op.READ, Resource.GROUP, "ot-notify")
    # The rule publisher writes the rules topic and nothing else; it reads nothing.
    assert allowed(grants, WHO.rules, Op.WRITE, Resource.TOPIC, t.RULES)
    rules = [g for g in grants if g.principal == f"User:{WHO.rules}"]
    assert {g.name for g in rules} == {t.RULES} and Op.READ not in {g.op for g in rules}
    # The reader reads outputs in its own groups, never inputs, and writes nothing.
    assert allowed(grants, WHO.reader, Op.READ, Resource.TOPIC, t.CLASSIFIED)
    assert not allowed(grants, WHO.reader, Op.READ, Resource.TOPIC, t.CREATED)
    assert allowed(grants, WHO.reader, Op.READ, Resource.GROUP, "ordertriage-reader-tail")
    assert not allowed(grants, WHO.reader, Op.READ, Resource.GROUP, "ot")
    reader = [g for g in grants if g.principal == f"User:{WHO.reader}"]
    assert not {Op.WRITE, Op.CREATE, Op.ALL} & {g.op for g in reader}
    # The notifier reads notifications in its group and writes actions; it never reads inputs.
    assert allowed(grants, WHO.notify, Op.READ, Resource.TOPIC, t.NOTIFICATIONS)
    assert allowed(grants, WHO.notify, Op.WRITE, Resource.TOPIC, t.ACTIONS)
    assert allowed(grants, WHO.notify, Op.READ, Resource.GROUP, "ordertriage-notify")
    assert allowed(grants, WHO.notify, Op.WRITE, Resource.TOPIC, "ordertriage-notify-ledger")
    assert not allowed(grants, WHO.notify, Op.READ, Resource.TOPIC, t.CREATED)
    assert not allowed(grants, WHO.notify, Op.READ, Resource.TOPIC, t.CLASSIFIED)
