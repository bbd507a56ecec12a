"""Ride out an ACL removed while the worker runs: refused topics wait, no record is skipped.

Measured on the secure local broker with Read on an input topic revoked: the next offset commit
fails with ``TopicAuthorizationFailedError`` and Faust's consumer thread crashes the app; the
process stays up, ``/readyz`` still answers 200, and nothing is consumed once the ACL is back.
Installed here instead:

- a fetch refused for a topic returns no records (aiokafka raises only when it drained nothing
  else, and leaves the partition's position where it was: the next fetch starts there again);
- a commit refused is reported as not done, so Faust keeps the offsets and commits them on a
  later turn (a commit carries absolute offsets: nothing is committed past what was processed);
- each refused topic is logged once, with the principal and the fix, and listed in ``/readyz``
  until no refusal was seen for ``clear_after`` seconds.
"""

from __future__ import annotations

import functools
import logging
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError
from faust import App
from faust.types import TP

log = logging.getLogger(__name__)

_BY_APP: weakref.WeakKeyDictionary[App, Authorization] = weakref.WeakKeyDictionary()


@dataclass
class Authorization:
    """Topics (or the group) the broker refused lately, and since when."""

    principal: str
    clear_after: float = 10.0
    #: resource -> (first refusal, last refusal), monotonic seconds.
    refused: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: a commit was refused since the last one Faust made (its result is turned into False).
    commit_refused: bool = False

    def refuse(self, resources: Iterable[str], what: str) -> None:
        now = time.monotonic()
        for name in resources:
            first = self.refused.get(name, (now, now))[0]
            if name not in self.refused:
                log.error(
                    "Kafka refused to %s %s for %s: records wait, nothing is skipped. Fix:"
                    " restore its ACL (`make acls`, docs/security.md).",
                    what,
                    name,
                    self.principal,
                )
            self.refused[name] = (first, now)

    def current(self) -> dict[str, float]:
        """Resource -> seconds it has been refused, for those refused within ``clear_after``."""
        now = time.monotonic()
        for name, (_, last) in list(self.refused.items()):
            if now - last > self.clear_after:
                del self.refused[name]
                log.warning("Kafka access to %s is back for %s", name, self.principal)
        return {name: round(now - first, 1) for name, (first, _) in self.refused.items()}


def _names(error: Exception) -> list[str]:
    arg = error.args[0] if error.args else "?"
    return sorted(arg) if isinstance(arg, set | frozenset | list | tuple) else [str(arg)]


def install(app: App, principal: str) -> Authorization:
    authorization = Authorization(principal)
    _BY_APP[app] = authorization
    _patch_faust()
    return authorization


@functools.cache
def _patch_faust() -> None:
    """Patch Faust's consumer thread once per process (each app finds its own bookkeeping)."""
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    original_fetch = AIOKafkaConsumerThread._fetch_records
    original_commit = AIOKafkaConsumerThread._commit
    original_create = AIOKafkaConsumerThread._create_consumer

    async def _fetch_records(self: AIOKafkaConsumerThread, *args: Any, **kwargs: Any) -> Any:
        authorization = _BY_APP.get(self.app)
        if authorization is None:
            return await original_fetch(self, *args, **kwargs)
        try:
            return await original_fetch(self, *args, **kwargs)
        except TopicAuthorizationFailedError as e:
            authorization.refuse(_names(e), "fetch from topic")
            return {}

    def _create_consumer(self: AIOKafkaConsumerThread, *args: Any, **kwargs: Any) -> Any:
        consumer = original_create(self, *args, **kwargs)
        authorization = _BY_APP.get(self.app)
        if authorization is None:
            return consumer
        commit = consumer.commit

        async def guarded_commit(offsets: Mapping[Any, Any] | None = None) -> None:
            try:
                await commit(offsets)
            except TopicAuthorizationFailedError as e:
                authorization.refuse(_names(e), "commit offsets of topic")
                authorization.commit_refused = True
            except GroupAuthorizationFailedError:
                authorization.refuse([f"group {self.app.conf.id}"], "commit offsets in")
                authorization.commit_refused = True

        consumer.commit = guarded_commit
        return consumer

    async def _commit(self: AIOKafkaConsumerThread, offsets: Mapping[TP, int]) -> bool:
        done = await original_commit(self, offsets)
        authorization = _BY_APP.get(self.app)
        if authorization is not None and authorization.commit_refused:
            authorization.commit_refused = False
            return False  # Faust keeps these offsets and tries again on its next commit
        return bool(done)

    AIOKafkaConsumerThread._fetch_records = _fetch_records  # type: ignore[method-assign]
    AIOKafkaConsumerThread._create_consumer = _create_consumer  # type: ignore[method-assign]
    AIOKafkaConsumerThread._commit = _commit  # type: ignore[method-assign]
