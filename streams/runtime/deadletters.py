"""Where a record came from, and how what cannot be processed reaches the dead letters."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TypeVar

from faust.types import TopicT
from faust.types.tuples import Message
from pydantic import BaseModel

from schemas.codec import DecodeError, decode, unknown_fields
from streams.classify.masking import mask_text
from streams.metrics import Metrics
from streams.privacy.crypto import Keyring
from streams.privacy.replay import DLQ, SEALED_AAD, SEALED_HEADER
from streams.records import Source

log = logging.getLogger("ordertriage")

M = TypeVar("M", bound=BaseModel)

#: Header carrying the original record's coordinates across internal topics.
SOURCE_HEADER = "ordertriage.source"
#: What is kept of an original too large to dead-letter whole (enough to recognise it).
TRUNCATED_BYTES = 65_536


def utcnow() -> datetime:
    return datetime.now(UTC)


def source_of(message: Message) -> Source:
    key = message.key
    return Source(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        timestamp=message.timestamp,
        key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
    )


def origin_of(message: Message) -> Source:
    """Where the user produced the record: internal hops carry it in ``SOURCE_HEADER``."""
    carried = headers_of(message).get(SOURCE_HEADER)
    return Source.model_validate_json(carried) if carried else source_of(message)


def headers_of(message: Message) -> dict[str, bytes]:
    raw = message.headers or {}
    items: Iterable[tuple[str, bytes]] = raw.items() if isinstance(raw, Mapping) else raw
    return {k: v for k, v in items}


def dead_letter_headers(
    source: Source, code: str, reason: str, error_class: str
) -> list[tuple[str, bytes]]:
    fields = {
        "reason_code": code,
        "reason": reason[:2000],
        "error_class": error_class,
        "source_topic": source.topic,
        "source_partition": str(source.partition),
        "source_offset": str(source.offset),
        "source_timestamp": str(source.timestamp),
        "failed_at": utcnow().isoformat(),
    }
    return [(DLQ + k, v.encode()) for k, v in fields.items()]


class DeadLetters:
    """Sends what cannot be processed to the dead-letter topic; never raises on bad input."""

    def __init__(
        self,
        topic: TopicT,
        metrics: Metrics,
        *,
        attempts: int = 3,
        backoff_seconds: float = 0.2,
        max_value_bytes: int = 900_000,
        keyring: Keyring | None = None,
    ) -> None:
        self.topic = topic
        # Originals hold personal data (contact fields, feedback text): sealed when a keyring
        # is given (always, in the worker); None only in tests of this class alone.
        self.keyring = keyring
        self.metrics = metrics
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_value_bytes = max_value_bytes

    async def send(
        self,
        *,
        value: bytes | None,
        source: Source,
        code: str,
        reason: str,
        error_class: str,
    ) -> None:
        """Send the original bytes unchanged, with why and where from in headers.

        Headers (Kafka Connect's DLQ convention) keep the value byte-exact and its size
        unchanged, so a record near the broker's size limit still fits, and replaying it is a
        plain re-send to ``source_topic``. An original larger than ``max_value_bytes`` cannot
        be sent whole (Faust's producer refuses requests over 1,000,000 bytes and the broker's
        default ``message.max.bytes`` is ~1 MB; headers need room too), and a failing
        dead-letter send would crash the agent: its first 64 KiB go instead, with its size and
        SHA-256 in
        ``value_truncated`` / ``value_sha256`` headers, and the source coordinates point at
        the full record while the input topic retains it.
        """
        reason = mask_text(reason)
        headers = dead_letter_headers(source, code, reason, error_class)
        if value is not None and len(value) > self.max_value_bytes:
            headers += [
                (DLQ + "value_truncated", str(len(value)).encode()),
                (DLQ + "value_sha256", hashlib.sha256(value).hexdigest().encode()),
            ]
            value = value[:TRUNCATED_BYTES]
        if value and self.keyring is not None:
            value = self.keyring.seal_bytes(value, SEALED_AAD)
            headers.append((SEALED_HEADER, b"ot1"))
        self.metrics.deadletters.labels(reason=code).inc()
        log.warning(
            "dead-letter %s from %s[%d]@%d: %s",
            code,
            source.topic,
            source.partition,
            source.offset,
            reason[:300],
        )
        await self.topic.send(
            key=source.key.encode() if source.key is not None else None,
            value=value if value is not None else b"",
            headers=headers,
        )

    async def decode(self, model: type[M], message: Message, *, max_bytes: int) -> M | None:
        """The record as ``model``, or None once it is dead-lettered with the reason."""
        try:
            event = decode(model, message.value, max_bytes=max_bytes)
        except DecodeError as exc:
            await self.send(
                value=message.value,
                source=source_of(message),
                code=exc.code,
                reason=exc.reason,
                error_class="DecodeError",
            )
            return None
        if unknown_fields(event):
            self.metrics.unknown_fields.labels(topic=message.topic).inc()
        return event

    async def process(self, message: Message, handle: Callable[[Message], Awaitable[None]]) -> None:
        """Process one record with bounded retries; if it keeps failing, dead-letter it.

        A retry is safe: state records which source position it applied, so a retry after a
        partial write takes the replay path (state kept, outputs re-sent with the same ids).
        A transient fault gets ``attempts`` tries with doubling backoff; a deterministic one
        (a bug for that input) costs a few hundred ms, then the stream moves on.
        """
        for attempt in range(1, self.attempts + 1):
            try:
                await handle(message)
                return
            except Exception as exc:
                where = f"{message.topic}[{message.partition}]@{message.offset}"
                if attempt < self.attempts:
                    log.warning("attempt %d failed for %s: %r; retrying", attempt, where, exc)
                    await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
                    continue
                log.exception("processing failed for %s after %d attempts", where, attempt)
                await self.send(
                    value=message.value,
                    source=origin_of(message),
                    code="processing_error",
                    reason=f"{type(exc).__name__}: {exc} (after {attempt} attempts)",
                    error_class=type(exc).__name__,
                )

    @asynccontextmanager
    async def guard(self, message: Message) -> AsyncIterator[None]:
        """Run one record's processing; a bug for that record dead-letters it, not the agent."""
        try:
            yield
        except Exception as exc:
            log.exception(
                "processing failed for %s[%d]@%d", message.topic, message.partition, message.offset
            )
            await self.send(
                value=message.value,
                source=source_of(message),
                code="processing_error",
                reason=f"{type(exc).__name__}: {exc}",
                error_class=type(exc).__name__,
            )
