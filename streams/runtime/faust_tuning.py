"""Faust behaviour that costs the worker CPU and that Faust has no setting for (``make bench``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from faust import App
from faust.transport.producer import ProducerBuffer

from streams.runtime.write_cache import flush as flush_table_writes


def keep_root_log_level(app: App, level: str) -> None:
    """Undo the DEBUG root level Faust's worker leaves behind at log levels >= warning.

    For its start-up spinner the worker sets the root logger to DEBUG (the console handler
    still filters), and never resets it: every ``log.debug`` in Faust and aiokafka then builds
    a record nobody prints (profiled: ~5% of the worker's CPU under load).
    """
    wanted = logging.getLevelName(level.upper())

    @app.task
    async def reset_root_log_level() -> None:
        root = logging.getLogger()
        if root.level < wanted:
            root.setLevel(wanted)


async def _flush_everything(self: ProducerBuffer) -> None:
    """Wait until every buffered message has been handed to the Kafka producer.

    Faust's ``ProducerBuffer.flush`` returns as soon as 0.1 s pass without a message leaving
    the buffer. The consumer calls it right before committing offsets, so under load an
    offset was committed while its table writes (changelog records) were still buffered, and
    a kill -9 then lost those state changes (found by the verifier, ``make faults``). Here the
    flush returns only when the buffer is empty; if the producer stops it raises, so the
    commit does not happen. The coalesced tables' waiting changelog writes are sent first
    (``streams.runtime.write_cache``): they belong to offsets this commit covers.
    """
    await flush_table_writes(self.app)
    while self.size:
        if self.state != "running":
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.message_sent.wait(), timeout=1.0)


def flush_before_commit() -> None:
    """Make the commit path's flush complete (see ``_flush_everything``)."""
    ProducerBuffer.flush = _flush_everything  # type: ignore[method-assign]


def producer_metadata_for(app: App, names: Callable[[], Iterable[str]]) -> None:
    """Keep the producer's metadata refreshes to the worker's own topics.

    An aiokafka client that tracks no topic yet asks the broker for every topic of the
    cluster, and Faust forces a refresh after declaring each of its topics at start-up (its
    leader topic, each changelog, each channel): about 60 refreshes, each decoding the whole
    cluster's metadata on the event loop. On a broker holding 986 topics that took 100-300 ms
    a time, so a fresh worker needed 18.7 s and 13 CPU seconds to become ready (11.7 s and 6
    on a broker with few topics), and the event loop lagged ~200 ms every 300 ms meanwhile.
    With the client's topics named before it starts, each refresh asks for those only; a
    topic first sent to later is added by aiokafka as usual. ``names`` is called when Faust
    creates its producer, after the tables are declared.
    """
    faust_producer = app.producer
    new_producer = faust_producer._new_producer

    def tracking_our_topics(*args: Any, **kwargs: Any) -> Any:
        producer = new_producer(*args, **kwargs)
        wanted = sorted(set(names()))
        if wanted:
            producer.client.set_topics(wanted)
        return producer

    faust_producer._new_producer = tracking_our_topics  # type: ignore[method-assign]


def topic_names(app: App) -> set[str]:
    """The changelog topics of ``app``'s tables and the topics its agents read."""
    names = {table.changelog_topic.get_topic_name() for table in app.tables.values()}
    for channel in app.topics:
        names.update(getattr(channel, "topics", ()))
    return names
