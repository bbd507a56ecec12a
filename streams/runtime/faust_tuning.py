"""Faust behaviour that costs the worker CPU and that Faust has no setting for (``make bench``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

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
