"""Commit what was processed before a rebalance takes the partitions away.

Faust's consumer, told that partitions are revoked, first forgets their acknowledged offsets
(``Consumer.on_partitions_revoked`` pops ``_acked``, ``_read_offset`` and the committed
offsets) and only then runs the app's handler, which waits for the events in flight and
commits. The commit then has nothing left to commit for the revoked partitions, and in
Kafka's eager protocol every partition is revoked at every rebalance: whatever a worker
processed since its last periodic commit (up to ``broker_commit_interval``, 2.8 s) was read
again after each join or leave, by its new owner or by the same worker. Outputs carry stable
ids, so state stayed exact, but every such output was sent twice, dead letters included
(``make faults-workers``, librdkafka-2-workers: 57-66 repeated outputs and two dead letters
twice in the runs whose inputs were already flowing when the second worker joined;
faust-streaming/faust#502 reports the same).

Here the revocation first does what the app's handler does (stop the flow, clear the agents'
buffers, wait for the events in flight) and commits, while Faust still holds the offsets, as
Kafka's Java consumer commits in ``onJoinPrepare``. The commit path flushes the producer and
the record cache first (``streams.runtime.faust_tuning``), so nothing is committed ahead of
its outputs. A failed commit is only logged: the partitions are read again from the last
commit, as before.
"""

from __future__ import annotations

import functools
import logging
import weakref
from collections.abc import Set

from faust import App
from faust.transport.consumer import Consumer
from faust.types import TP

log = logging.getLogger(__name__)

#: The apps this is installed on (Faust's class is patched once per process).
_APPS: weakref.WeakSet[App] = weakref.WeakSet()


def install(app: App) -> None:
    _APPS.add(app)
    _patch_faust()


@functools.cache
def _patch_faust() -> None:
    original = Consumer.on_partitions_revoked

    async def on_partitions_revoked(self: Consumer, revoked: Set[TP]) -> None:
        app = self.app
        if app in _APPS and not app.should_stop and revoked:
            try:
                await commit_processed(self)
            except Exception:  # the partitions are read again from the last commit
                log.warning("commit before giving up partitions failed", exc_info=True)
        await original(self, revoked)

    Consumer.on_partitions_revoked = on_partitions_revoked  # type: ignore[method-assign]


async def commit_processed(consumer: Consumer) -> None:
    """The steps of Faust's revocation handler up to its commit, taken before the forgetting.

    Taken again by Faust's handler right after, they find nothing left to do."""
    app = consumer.app
    assignment = consumer.assignment()
    if not assignment:
        return
    consumer.stop_flow()
    app.flow_control.suspend()
    consumer.pause_partitions(assignment)
    app.flow_control.clear()  # queued events are never started: they are read again
    await consumer.wait_empty()  # the events in flight end and are acked, then a commit
