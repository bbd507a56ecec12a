"""The worker's active rule set, and the feed that follows the rules topic to switch it.

Every worker reads the whole rules topic (one partition, no consumer group) from the start:
the last valid record wins. The active set is one immutable object swapped by reference,
so an event is classified with exactly one rule set. The order agent waits for ``ready``
(the topic read to its end) before its first event, so a worker started after a publish
never classifies with an older set.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import TopicPartition
from pydantic import ValidationError

from schemas.events import RulesPublished
from streams.classify.rules import RuleSet, RuleSetError
from streams.kafka import clients
from streams.metrics import Metrics

log = logging.getLogger("ordertriage.rules")


@dataclass(frozen=True)
class Published:
    """The active rule set and where it came from (the built-in/file set has no record)."""

    rules: RuleSet
    record: RulesPublished | None = None


class Rulebook:
    def __init__(self, initial: RuleSet, metrics: Metrics) -> None:
        self.active = Published(initial)
        self.metrics = metrics
        self.ready = asyncio.Event()
        metrics.rules_info.labels(version=initial.version).set(1)

    @property
    def current(self) -> RuleSet:
        return self.active.rules

    def offer(self, value: bytes | None, position: str) -> bool:
        """Switch to the rule set in ``value`` if it is valid and new; True if it switched."""
        try:
            record = RulesPublished.model_validate_json(value or b"")
            rules = RuleSet.from_text(record.rules_yaml, f"rules topic at {position}")
        except (ValidationError, RuleSetError) as exc:
            self.metrics.rules_rejected.inc()
            problem = exc.problems if isinstance(exc, RuleSetError) else exc.errors()[:3]
            log.error(
                "Ignoring invalid rule set at %s, keeping %s: %s",
                position,
                self.current.version,
                problem,
            )
            return False
        if rules.version == self.current.version:
            self.active = Published(rules, record)
            return False
        old = self.current.version
        self.active = Published(rules, record)
        self.metrics.rules_info.clear()
        self.metrics.rules_info.labels(version=rules.version).set(1)
        self.metrics.rules_switches.inc()
        log.info(
            "Switched rules %s -> %s (published by %s at %s from %s)",
            old,
            rules.version,
            record.published_by,
            record.published_at.isoformat(),
            record.source,
        )
        return True


async def follow(rulebook: Rulebook, bootstrap: str, topic: str) -> None:
    """Read ``topic`` from the beginning, set ``ready`` at its end, then keep following."""
    tp = TopicPartition(topic, 0)
    consumer = clients.consumer(bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            rulebook.ready.set()
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                rulebook.offer(record.value, f"{topic}/0/{record.offset}")
            if not rulebook.ready.is_set() and await consumer.position(tp) >= end:
                log.info("Rules topic read; active rules %s", rulebook.current.version)
                rulebook.ready.set()
    finally:
        await consumer.stop()
