"""Feedback models as versioned data: published to a topic, followed by every worker.

Like rule sets (``streams.rules.rulebook``): every worker reads the whole models topic from the
start and the last valid record of each role wins. ``live`` classifies; ``shadow`` classifies
beside it on every message, and the two are compared (``ordertriage feedback shadow``) before
the shadow is promoted. A record whose content does not match its version, or whose classes
differ from the rule set's categories, is refused and the previous model kept.
"""

from __future__ import annotations

import asyncio
import base64
import getpass
import logging
from collections.abc import Awaitable
from datetime import UTC, datetime

from aiokafka import TopicPartition
from pydantic import ValidationError

from schemas.events import FeedbackModelPublished
from streams.classify.feedback import artifact
from streams.classify.feedback.model import FeedbackModel
from streams.kafka import clients
from streams.rules.topic import ensure_topic
from streams.settings import Settings
from streams.topics import FEEDBACK_MODELS

log = logging.getLogger("ordertriage.models")


class ModelBook:
    """The live model and the shadow, swapped by reference (a message sees one of each).

    Without a model given, the shipped one is loaded when first needed: building it imports
    scikit-learn and SciPy (~2.5 s of CPU), which a worker's start then does not wait for.
    :func:`follow` builds it in a thread once the tables are recovered and feedback has asked
    for it (``wanted``): a worker that sees no feedback never pays it, and one catching up on
    orders after a restart does not pay it then unless feedback comes.
    """

    def __init__(self, live: FeedbackModel | None = None) -> None:
        self._live = live
        self.shadow: FeedbackModel | None = None
        #: The models topic read and a live model held: feedback may be classified.
        self.ready = asyncio.Event()
        #: Set by the first feedback event: build the shipped model if none is held.
        self.wanted = asyncio.Event()

    @property
    def live(self) -> FeedbackModel:
        if self._live is None:
            self._live = artifact.load()
        return self._live

    @live.setter
    def live(self, model: FeedbackModel) -> None:
        self._live = model

    @property
    def loaded(self) -> bool:
        return self._live is not None

    async def load(self) -> None:
        """Build the shipped model off the event loop, if no model is held yet."""
        if self._live is None:
            model = await asyncio.to_thread(artifact.load)
            if self._live is None:
                self._live = model

    def offer(self, value: bytes | None, position: str) -> bool:
        """Apply the record in ``value`` if valid; True if the live or shadow model changed."""
        try:
            record = FeedbackModelPublished.model_validate_json(value or b"")
            model = None if record.role == "no-shadow" else model_of(record)
        except (ValidationError, ValueError) as exc:
            log.error("Ignoring the feedback model at %s: %s", position, str(exc)[:300])
            return False
        if record.role == "live" and model is not None:
            old = self._live.version if self._live is not None else None  # not built for this
            changed = model.version != old
            self.live = model
        else:
            old = self.shadow.version if self.shadow else None
            changed = (model.version if model else None) != old
            self.shadow = model
        if changed:
            log.info(
                "Feedback model %s: %s -> %s (published by %s at %s)",
                record.role,
                old,
                record.version if model else None,
                record.published_by,
                record.published_at.isoformat(),
            )
        return changed


def model_of(record: FeedbackModelPublished) -> FeedbackModel:
    """The record's model, verified against its version (raises ``ModelFileError``)."""
    npz = base64.b64decode(record.arrays_npz_b64, validate=True)
    model = artifact.loads(record.model_json, npz, f"model {record.version}")
    if model.version != record.version:
        raise artifact.ModelFileError(f"content is {model.version}, not {record.version}")
    return model


def make_record(
    model: FeedbackModel | None, role: str, by: str | None, comment: str | None
) -> FeedbackModelPublished:
    text, npz = artifact.dumps(model) if model is not None else ("", b"")
    return FeedbackModelPublished(
        version=model.version if model is not None else "",
        role=role,  # type: ignore[arg-type]
        model_json=text,
        arrays_npz_b64=base64.b64encode(npz).decode(),
        published_by=by or getpass.getuser(),
        published_at=datetime.now(UTC),
        comment=comment,
    )


async def publish(settings: Settings, record: FeedbackModelPublished) -> int:
    """Send ``record``; its offset on the models topic."""
    name = await ensure_topic(settings, FEEDBACK_MODELS)
    producer = clients.producer(
        settings.bootstrap, acks="all", enable_idempotence=True, max_request_size=4 * 2**20
    )
    await producer.start()
    try:
        key = f"{record.published_at.isoformat()}|{record.role}|{record.version}".encode()
        meta = await producer.send_and_wait(name, record.model_dump_json().encode(), key=key)
        return int(meta.offset)
    finally:
        await producer.stop()


async def history(settings: Settings) -> list[tuple[int, FeedbackModelPublished | None, str]]:
    """Every record on the models topic: (offset, record or None, problem if invalid)."""
    name = await ensure_topic(settings, FEEDBACK_MODELS)
    tp = TopicPartition(name, 0)
    consumer = clients.consumer(settings.bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: list[tuple[int, FeedbackModelPublished | None, str]] = []
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                try:
                    record = FeedbackModelPublished.model_validate_json(r.value or b"")
                except ValidationError as exc:
                    out.append((r.offset, None, f"not a model record: {exc.error_count()} errors"))
                    continue
                try:
                    if record.role != "no-shadow":
                        model_of(record)
                    out.append((r.offset, record, ""))
                except ValueError as exc:
                    out.append((r.offset, record, str(exc)[:200]))
    finally:
        await consumer.stop()
    return out


async def follow(
    book: ModelBook, settings: Settings, after: Awaitable[object] | None = None
) -> None:
    """Read the models topic from the beginning and keep following it; ``ready`` is set once
    it is read to its end and a live model is held (the shipped one built when ``wanted``).

    ``after``: wait for it (the worker's recovery) first, so the imports' seconds of CPU do not
    compete with the start; feedback waits for ``ready`` meanwhile.
    """
    if after is not None:
        await after
    topic_read = asyncio.Event()
    tasks = [
        asyncio.ensure_future(_read_models(book, settings, topic_read)),
        asyncio.ensure_future(_ready_when_wanted(book, topic_read)),
    ]
    try:
        await asyncio.gather(*tasks)  # a failed build fails the follower, as it did before
    finally:
        for task in tasks:
            task.cancel()


async def _ready_when_wanted(book: ModelBook, topic_read: asyncio.Event) -> None:
    await topic_read.wait()
    if not book.loaded:  # no live model published: the shipped one, once feedback needs it
        await book.wanted.wait()
        await book.load()
    log.info(
        "Feedback ready: live model %s, shadow %s",
        book.live.version,
        book.shadow.version if book.shadow else None,
    )
    book.ready.set()


async def _read_models(book: ModelBook, settings: Settings, topic_read: asyncio.Event) -> None:
    name = await ensure_topic(settings, FEEDBACK_MODELS)
    tp = TopicPartition(name, 0)
    consumer = clients.consumer(
        settings.bootstrap,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=8 * 2**20,
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        if end == 0:
            topic_read.set()
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                # Off the event loop: the first model built imports scikit-learn and SciPy.
                await asyncio.to_thread(book.offer, record.value, f"{name}/0/{record.offset}")
            if not topic_read.is_set() and await consumer.position(tp) >= end:
                log.info("Models topic read to offset %d", end)
                topic_read.set()
    finally:
        await consumer.stop()
