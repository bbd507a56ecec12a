"""Publishing rule sets to the rules topic and reading its history (for the CLI).

The topic has one partition and a unique key per publication (time + version), compacted:
nothing expires, so it is the audit trail; workers apply its last valid record.
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import ValidationError

from schemas.events import RulesPublished
from streams.classify.rules import RuleSet, RuleSetError
from streams.kafka import clients
from streams.settings import Settings
from streams.topics import RULES, RULES_TOPIC_CONFIG


def publisher_name(given: str | None) -> str:
    """Who publishes: the argument, else ORDERTRIAGE_PUBLISHED_BY, else the login name."""
    return given or os.environ.get("ORDERTRIAGE_PUBLISHED_BY") or getpass.getuser()


def make_record(path: Path, by: str, comment: str | None) -> RulesPublished:
    """Validate the file (raises :class:`RuleSetError`) and wrap it for the topic."""
    text = path.read_text()
    rules = RuleSet.from_text(text, str(path))
    return RulesPublished(
        version=rules.version,
        label=rules.label,
        rules_yaml=text,
        published_by=by,
        published_at=datetime.now(UTC),
        source=path.name,
        comment=comment,
    )


async def ensure_topic(settings: Settings, topic: str = RULES) -> str:
    """Create a one-partition, kept topic of published data (rules, feedback models)."""
    name = settings.topic(topic)
    admin = clients.admin(settings.bootstrap)
    await admin.start()
    try:
        # Listed first: on a secure cluster the publisher and the worker may describe and use
        # the topic but not create it (streams/kafka/acls.py), and Kafka refuses a
        # CreateTopics without Create even for a topic that exists.
        if name in await admin.list_topics():
            return name
        topic = NewTopic(
            name,
            1,
            settings.topic_replication_factor,
            topic_configs={**settings.replication_topic_config, **RULES_TOPIC_CONFIG},
        )
        await admin.create_topics([topic])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
    return name


async def publish(settings: Settings, record: RulesPublished) -> int:
    """Send ``record``; returns its offset on the rules topic."""
    name = await ensure_topic(settings)
    producer = clients.producer(settings.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        key = f"{record.published_at.isoformat()}|{record.version}".encode()
        meta = await producer.send_and_wait(name, record.model_dump_json().encode(), key=key)
        return int(meta.offset)
    finally:
        await producer.stop()


async def send_raw(settings: Settings, value: bytes, key: bytes = b"raw") -> None:
    """Put arbitrary bytes on the rules topic (tests: what workers do with a bad record)."""
    name = await ensure_topic(settings)
    producer = clients.producer(settings.bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(name, value, key=key)
    finally:
        await producer.stop()


async def history(settings: Settings) -> list[tuple[int, RulesPublished | None, str]]:
    """Every record on the rules topic: (offset, record or None, problem if invalid)."""
    name = await ensure_topic(settings)
    tp = TopicPartition(name, 0)
    consumer = clients.consumer(settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[int, RulesPublished | None, str]] = []
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for r in batch.get(tp, []):
                try:
                    record = RulesPublished.model_validate_json(r.value or b"")
                    RuleSet.from_text(record.rules_yaml, f"offset {r.offset}")
                    out.append((r.offset, record, ""))
                except ValidationError as exc:
                    out.append((r.offset, None, f"not a rules record: {exc.error_count()} errors"))
                except RuleSetError as exc:
                    out.append((r.offset, record, "; ".join(exc.problems)))
    finally:
        await consumer.stop()
    return out


async def live(settings: Settings) -> RulesPublished | None:
    """The record running workers use: the last valid one."""
    valid = [rec for _, rec, problem in await history(settings) if rec and not problem]
    return valid[-1] if valid else None
