"""The delivery loop: read notifications, deliver each once per channel, then commit.

Per input partition and batch: plan the deliveries, drop those the ledger has finished, record
``intent`` (durably) for the rest, call the channels, record the outcomes, and only then commit
the input offsets. A crash anywhere replays the batch against the ledger: finished deliveries
are skipped; one with an ``intent`` and no outcome is *in doubt* (the call may or may not have
reached the platform). Channels that de-duplicate (e-mail by Message-ID, the webhook by
Idempotency-Key) get it again with the same id; a chat robot cannot de-duplicate, so it is
not called again: the delivery is dead-lettered as ``in_doubt`` for a person to check.
A rebalance waits for the batch in flight, and the next batch for the ledger's read (``Reload``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError
from aiokafka.structs import OffsetAndMetadata
from pydantic import SecretStr, ValidationError

from schemas.events import DeliveryDeadLetter, Notification
from streams.notify import messages, metrics, ratelimit, tokens
from streams.notify.channels import Sender
from streams.notify.config import NotifyConfig
from streams.notify.ledger import DONE, Entry, Ledger
from streams.notify.messages import Item, Message
from streams.notify.plan import Delivery, Problem, plan

log = logging.getLogger("ordertriage.notify")
ROBOTS = frozenset({"dingtalk", "feishu", "wecom"})
#: Calls in flight per channel that has no tight rate limit (mail, webhook, Slack).
PARALLEL = 8
_DIGEST_NS = uuid.UUID("2b1f0d6e-4c3a-4e8f-9a51-646967657374")


@dataclass(frozen=True)
class Pending:
    delivery: Delivery
    born: float  # the notification record's timestamp (s): where latency starts
    partition: int


class Notifier:
    def __init__(
        self,
        config: NotifyConfig,
        secrets: dict[str, SecretStr],
        *,
        ledger: Ledger,
        producer: AIOKafkaProducer,
        session: aiohttp.ClientSession,
        deadletter_topic: str,
        attempts: int,
        backoff: float,
    ) -> None:
        self.config, self.ledger, self.producer = config, ledger, producer
        self.deadletter_topic = deadletter_topic
        self.link_secret = secrets["links.secret"].get_secret_value().encode()
        self.senders = {
            name: Sender(name, ch, secrets, session, attempts=attempts, backoff=backoff)
            for name, ch in config.channels.items()
        }
        self._robots = {n for n, ch in config.channels.items() if ch.type in ROBOTS}
        self.limiters = {
            name: ratelimit.limiter(ch.type, ch.rate_per_minute)
            for name, ch in config.channels.items()
        }
        #: Held by one batch, or by a rebalance from revocation to the ledger read (``Reload``).
        self.turn = asyncio.Lock()
        self.reload_failed: Exception | None = None

    def seed_limiters(self) -> None:
        """After a restart, what the ledger says was sent in the last minute still counts."""
        now = time.time()
        for name, limiter in self.limiters.items():
            limiter.sent.clear()
            limiter.sent.extend(self.ledger.sent_times(name, now - 60.0))

    # --- links ---------------------------------------------------------------------------------

    def ack_url(self, notification: Notification, person: str) -> str:
        expires = int(time.time() + self.config.links.ttl.total_seconds())
        claims = tokens.Claims(notification.notification_id, person, "ack", expires)
        return f"{self.config.links.base_url}/act?token={tokens.sign(self.link_secret, claims)}"

    def item(self, d: Delivery) -> Item:
        n = d.notification
        order_url = self.config.links.order_url
        return Item(
            n,
            self.ack_url(n, d.person),
            order_url.format(order_id=n.order_id) if order_url and n.order_id else None,
        )

    # --- one batch -----------------------------------------------------------------------------

    async def handle(self, batch: dict[int, list[ConsumerRecord[bytes, bytes]]]) -> None:
        """Deliver one batch (input partition -> records); returns once all is recorded."""
        now = datetime.now(UTC)
        todo: list[Pending] = []
        early: list[tuple[Entry, int]] = []
        dead: list[DeliveryDeadLetter] = []
        seen: set[str] = set()  # the same notification twice in one batch
        for partition, records in batch.items():
            for record in records:
                try:
                    notification = Notification.model_validate_json(record.value or b"")
                except ValidationError as exc:
                    log.warning("skipping a malformed notification at %s: %s", record.offset, exc)
                    metrics.UNROUTED.labels("malformed").inc()
                    continue
                deliveries, problems = plan(notification, self.config, now)
                for p in problems:
                    if self.ledger.get(p.key) is None and p.key not in seen:
                        seen.add(p.key)
                        early.append((_entry_of_problem(p), partition))
                        dead.append(_dead_of_problem(p, now))
                        metrics.UNROUTED.labels(p.reason).inc()
                for d in deliveries:
                    if d.key in seen:
                        metrics.DELIVERIES.labels(d.channel, "duplicate").inc()
                        continue
                    seen.add(d.key)
                    pending = self._check(
                        Pending(d, record.timestamp / 1000, partition), early, dead, now
                    )
                    if pending is not None:
                        todo.append(pending)
        await self._deadletter(dead)
        await self.ledger.write(early)
        by_channel: dict[str, list[Pending]] = defaultdict(list)
        for pending in todo:
            by_channel[pending.delivery.channel].append(pending)
        await asyncio.gather(*(self._channel(name, group) for name, group in by_channel.items()))

    def _check(
        self,
        pending: Pending,
        early: list[tuple[Entry, int]],
        dead: list[DeliveryDeadLetter],
        now: datetime,
    ) -> Pending | None:
        """What the ledger says of a delivery: done, quiet, in doubt, or still to send."""
        d = pending.delivery
        entry = self.ledger.get(d.key)
        if entry is not None and entry.state == "digested":
            digest = self.ledger.get(_digest_key(entry.digest_id or "", d.channel))
            if digest is None or digest.state == "intent":
                entry = entry.model_copy(update={"state": "intent"})  # its digest is in doubt
        if entry is not None and entry.state in DONE:
            metrics.DELIVERIES.labels(d.channel, "duplicate").inc()
            return None
        if d.quiet:
            early.append((_entry(d, "quiet", detail="quiet hours"), pending.partition))
            metrics.DELIVERIES.labels(d.channel, "quiet").inc()
            return None
        if entry is not None and entry.state == "intent" and not self.senders[d.channel].idempotent:
            early.append((entry.model_copy(update={"state": "in_doubt"}), pending.partition))
            why = "the notifier stopped between calling the channel and recording the answer"
            dead.append(_dead(d, "in_doubt", why, entry.attempts, now))
            metrics.DELIVERIES.labels(d.channel, "in_doubt").inc()
            return None
        return pending

    async def _channel(self, name: str, batch: list[Pending]) -> None:
        """Send what the rate limit allows one by one; fold the rest into one digest."""
        limiter = self.limiters[name]
        batch.sort(key=lambda p: messages.importance(p.delivery.notification))
        if (wait := limiter.wait(time.time())) > 0:
            await asyncio.sleep(wait)  # bounded by the longest window (60 s)
        alone, fold = ratelimit.split(len(batch), limiter.room(time.time()))
        singles, rest = batch[:alone], batch[alone:] if fold else []
        units: list[tuple[str, Message, list[Pending], list[tuple[Entry, int]]]] = []
        for p in singles:
            d = p.delivery
            intent = [(_entry(d, "intent"), p.partition)]
            units.append((d.key, messages.single(self.item(d), d.language), [p], intent))
        if rest:
            digest_id = str(
                uuid.uuid5(_DIGEST_NS, "\x1f".join(sorted(p.delivery.key for p in rest)))
            )
            key = _digest_key(digest_id, name)
            lang = rest[0].delivery.language
            digest = Entry(key=key, state="intent", channel=name, digest_id=digest_id)
            intent = [
                (_entry(p.delivery, "digested", digest_id=digest_id), p.partition) for p in rest
            ]
            # The digest's record goes with every member's partition, so whoever reads a
            # member back finds it.
            intent += [(digest, part) for part in sorted({p.partition for p in rest})]
            units.append(
                (key, messages.digest([self.item(p.delivery) for p in rest], lang), rest, intent)
            )
            metrics.DIGESTED.labels(name).inc(len(rest))
        written: list[asyncio.Future[object]] = []
        dead: list[DeliveryDeadLetter] = []
        # Rate-limited robots one at a time (their order and windows matter); the others a
        # few at once, so one slow mail server does not hold every message behind it.
        gate = asyncio.Semaphore(1 if limiter.windows and name in self._robots else PARALLEL)

        async def one(
            key: str, message: Message, covered: list[Pending], intent: list[tuple[Entry, int]]
        ) -> None:
            async with gate:
                # Intent is durable right before the call, not before the batch: after a
                # crash only calls that had started are in doubt.
                await self.ledger.write(intent)
                limiter.record(time.time())
                first = covered[0].delivery
                out = await self.senders[name].send(message, _delivery_id(key), first.to)
            for p in covered:
                metrics.LATENCY.labels(name).observe(max(0.0, out.called_at - p.born))
            metrics.RETRIES.labels(name).inc(out.attempts - 1)
            state = "sent" if out.answer.ok else "failed"
            metrics.DELIVERIES.labels(name, state).inc(len(covered))
            single = len(covered) == 1 and key == first.key
            base = _entry(first, state) if single else Entry(key=key, state=state, channel=name)
            entry = base.model_copy(
                update={
                    "attempts": out.attempts,
                    "detail": out.answer.detail[:500],
                    "at": time.time(),
                    "latency_s": out.called_at - covered[0].born,
                }
            )
            # Recorded as soon as it is known: the window in doubt is this call plus one
            # broker round trip, not the whole batch.
            parts = sorted({p.partition for p in covered})
            written.extend(await self.ledger.write_soon([(entry, part) for part in parts]))
            if not out.answer.ok:
                reason = "exhausted" if out.answer.retryable else "rejected"
                for p in covered:
                    dead.append(
                        _dead(
                            p.delivery, reason, out.answer.detail, out.attempts, datetime.now(UTC)
                        )
                    )

        await asyncio.gather(*(one(*unit) for unit in units))
        await self._deadletter(dead)
        await asyncio.gather(*written)

    async def _deadletter(self, dead: list[DeliveryDeadLetter]) -> None:
        futures = [
            await self.producer.send(
                self.deadletter_topic,
                key=d.notification_id.encode(),
                value=d.model_dump_json().encode(),
            )
            for d in dead
        ]
        await asyncio.gather(*futures)

    # --- the loop ------------------------------------------------------------------------------

    async def run(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=500)
            if not batch:
                continue
            # A batch and a rebalance never overlap (see ``Reload``): records fetched for a
            # partition before it moved away are dropped, its new owner handles them.
            async with self.turn:
                if self.reload_failed is not None:
                    raise self.reload_failed
                owned = consumer.assignment()
                batch = {tp: records for tp, records in batch.items() if tp in owned}
                if not batch:
                    continue
                await self.handle({tp.partition: records for tp, records in batch.items()})
                offsets = {
                    tp: OffsetAndMetadata(records[-1].offset + 1, "")
                    for tp, records in batch.items()
                }
                try:
                    await consumer.commit(offsets)
                except CommitFailedError as exc:
                    # The group moved on: the batch comes back to whoever owns it now, and
                    # the ledger makes that replay skip what was delivered.
                    log.warning("commit refused by a rebalance, the batch replays: %s", exc)


class Reload(ConsumerRebalanceListener):  # type: ignore[misc]
    """Hold the delivery loop from revocation until the new partitions' ledger is read.

    aiokafka applies an assignment (and starts fetching) before it calls
    ``on_partitions_assigned``, and runs the listener beside the loop. Without the hold a
    batch would be delivered before its ledger partition is read (a delivery another
    instance made would go again), and a reload would overwrite in memory the outcomes of
    calls still in flight with their older ``intent`` (a delivery stuck in doubt, a rate
    limiter seeded short). With it, revocation waits for the batch in flight to be recorded
    and committed, and the loop resumes only on a ledger read to its end.
    """

    def __init__(self, ledger: Ledger, notifier: Notifier) -> None:
        self.ledger, self.notifier = ledger, notifier
        self._holding = False

    async def _hold(self) -> None:
        if not self._holding:
            await self.notifier.turn.acquire()
            self._holding = True

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            self.notifier.turn.release()

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._hold()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        await self._hold()
        try:
            if assigned:
                read = await self.ledger.load({tp.partition for tp in assigned})
                self.notifier.seed_limiters()
                log.info(
                    "ledger: read %d records for partitions %s",
                    read,
                    sorted(tp.partition for tp in assigned),
                )
        except Exception as exc:  # aiokafka would only log it: the loop must stop instead
            log.error("ledger: reading partitions %s failed: %s", sorted(assigned), exc)
            self.notifier.reload_failed = exc
        finally:
            self._release()


def _digest_key(digest_id: str, channel: str) -> str:
    return f"digest\x1f{digest_id}\x1f{channel}"


def _delivery_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _entry(d: Delivery, state: str, **extra: object) -> Entry:
    return Entry(
        key=d.key,
        state=state,  # type: ignore[arg-type]
        notification_id=d.notification.notification_id,
        channel=d.channel,
        person=d.person,
        to=d.to,
        at=time.time(),
        notification=d.notification,
        **extra,  # type: ignore[arg-type]
    )


def _entry_of_problem(p: Problem) -> Entry:
    return Entry(
        key=p.key,
        state="failed",
        notification_id=p.notification.notification_id,
        person=p.person or "",
        detail=p.detail,
        at=time.time(),
        notification=p.notification,
    )


def _dead(
    d: Delivery, reason: str, answer: str, attempts: int, now: datetime
) -> DeliveryDeadLetter:
    return DeliveryDeadLetter(
        delivery_id=_delivery_id(d.key),
        notification_id=d.notification.notification_id,
        channel=d.channel,
        person=d.person,
        reason=reason,
        answer=answer[:2000],  # type: ignore[arg-type]
        attempts=attempts,
        notification=d.notification,
        dead_at=now,
    )


def _dead_of_problem(p: Problem, now: datetime) -> DeliveryDeadLetter:
    return DeliveryDeadLetter(
        delivery_id=_delivery_id(p.key),
        notification_id=p.notification.notification_id,
        person=p.person,
        reason=p.reason,
        answer=p.detail,
        notification=p.notification,  # type: ignore[arg-type]
        dead_at=now,
    )
