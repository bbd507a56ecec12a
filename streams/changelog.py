"""Tables fed by one input topic recover exactly what the committed input produced.

One input event can write several tables (a customer's totals and the record that counted the
order), and each write is its own changelog record, so a kill -9 can keep some and lose others.
The fix Quix Streams uses, done here for Faust: every changelog record carries the input
position whose processing wrote it, and a worker recovering a partition skips records from
input at or past the group's committed offset. Offsets are committed only once the changelog is
flushed (``faust_tuning``), so every skipped record belongs to input that will be processed
again, from the start of the event, against state without any of its writes.

That is sound only when one committed offset covers everything a record holds, so it is
enabled per table (``exact_recovery``) for tables written from a single input topic. Faust
commits each partition on its own: a table fed by several topics (the order book reads created
orders, status changes and ticks) can hold a record written by committed input that already
includes the effect of an uncommitted one, and filtering then double-counts (seen: analytics
windows 22,027 events over in a kill -9 run while one topic's commits were held back).

Standby replicas would apply records before their input is committed, so the app runs
without them (with the in-memory store a takeover re-reads the changelog anyway).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from faust.streams import current_event
from faust.types import TP, EventT
from faust.types.tuples import FutureMessage

log = logging.getLogger("ordertriage.changelog")

#: Header on every changelog record: ``topic:partition:offset`` of the input that wrote it.
INPUT_HEADER = "ordertriage-input"


def input_header(topic: str, partition: int, offset: int) -> bytes:
    # Kafka topic names cannot contain ':'.
    return f"{topic}:{partition}:{offset}".encode()


def parse_input_header(value: bytes) -> tuple[str, int, int]:
    topic, partition, offset = value.decode().rsplit(":", 2)
    return topic, int(partition), int(offset)


class CommittedOffsets:
    """The group's committed offsets, read once per rebalance before tables recover."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.group = group
        self.offsets: dict[tuple[str, int], int] | None = None
        # The assignment the offsets were read for: every table of one rebalance gets the same
        # set object, and every rebalance must read afresh (a snapshot kept across rebalances
        # would skip records committed since).
        self._read_for: object | None = None
        self.skipped = 0
        self._lock = asyncio.Lock()

    async def refresh(self, assignment: object, attempts: int = 5) -> None:
        """Read the committed offsets once per rebalance (``assignment``: its assigned set)."""
        async with self._lock:
            if self._read_for is assignment:
                return
            for attempt in range(1, attempts + 1):
                try:
                    self.offsets = await self._fetch()
                    self._read_for = assignment
                    return
                except Exception as exc:
                    log.warning(
                        "reading committed offsets failed (%s/%s): %r", attempt, attempts, exc
                    )
                    await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
            # Without them nothing is filtered: state then relies on the per-record
            # position checks alone, as before this module existed. Loud, not fatal.
            log.error("committed offsets unknown: recovering tables without filtering")
            self.offsets = None
            self._read_for = assignment

    async def _fetch(self) -> dict[tuple[str, int], int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            found = await admin.list_consumer_group_offsets(self.group)
        finally:
            await admin.close()
        return {
            (tp.topic, tp.partition): meta.offset for tp, meta in found.items() if meta.offset >= 0
        }

    def committed(self, header: bytes) -> bool:
        """Whether the input that wrote a changelog record is covered by a committed offset."""
        if self.offsets is None:
            return True
        topic, partition, offset = parse_input_header(header)
        done = self.offsets.get((topic, partition))
        return done is not None and offset < done


#: Set by the app before the worker starts (tables are declared at import time).
committed_offsets: CommittedOffsets | None = None


class CommitAwareTable(faust.Table):  # type: ignore[misc]  # Faust's classes are untyped
    """A Faust table whose changelog records name their input; with ``exact_recovery`` its
    recovery skips records of uncommitted input."""

    #: Only for tables written from one input topic (see the module docstring).
    exact_recovery = False

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> FutureMessage:
        event = current_event()
        headers = None
        if event is not None:
            m = event.message
            headers = [(INPUT_HEADER, input_header(m.topic, m.partition, m.offset))]
        return self.changelog_topic.send_soon(
            key=key,
            value=value,
            partition=partition,
            key_serializer=key_serializer or self.key_serializer,
            value_serializer=value_serializer or self.value_serializer,
            headers=headers,
            callback=self._on_changelog_sent,
            eager_partitioning=True,
        )

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        if committed_offsets is not None and self.exact_recovery and assigned:
            await committed_offsets.refresh(assigned)
        await super().on_rebalance(assigned, revoked, newly_assigned, generation_id)

    def apply_changelog_batch(self, batch: Iterable[EventT]) -> None:
        batch = list(batch)
        if committed_offsets is None or not self.exact_recovery:
            super().apply_changelog_batch(batch)
            return
        active = self.app.tables.recovery.active_tps
        kept = []
        for event in batch:
            header = _header(event)
            if (
                header is not None
                and event.message.tp in active
                and not committed_offsets.committed(header)
            ):
                committed_offsets.skipped += 1
                continue
            kept.append(event)
        if len(kept) < len(batch):
            log.info(
                "%s: skipped %d changelog records of uncommitted input",
                self.name,
                len(batch) - len(kept),
            )
        super().apply_changelog_batch(kept)


def _header(event: EventT) -> bytes | None:
    headers = event.message.headers or ()
    items = headers.items() if isinstance(headers, dict) else headers
    for name, value in items:
        if name == INPUT_HEADER:
            return bytes(value)
    return None
