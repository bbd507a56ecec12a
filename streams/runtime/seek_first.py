"""A stream partition delivers nothing after a rebalance until it is sought to its committed offset.

Faust "pauses" partitions only in its own bookkeeping (the set of partitions its fetch call asks
aiokafka for): aiokafka keeps the records it prefetched for a paused partition and hands them
over the moment the partition is asked for again. At the end of a rebalance Faust's recovery
resumes the stream partitions and only *then* seeks them to their committed offsets, awaiting the
consumer thread in between. A partition this worker kept through the rebalance therefore delivered
its prefetched records in that gap: records after one the rebalance had dropped mid-delivery
(Faust cancels a record's hand-over when the flow stops), which the seek then brought back *after*
them, where Faust's read-offset check discarded it unseen. Seen in ``make faults-workers``
(scale-1-4-1, about one run in two): an order's "new -> confirmed" lost on the worker that kept its
partition, its later changes dead-lettered as ``status_mismatch``, the partition unable to commit
until the next rebalance re-read it.

So here a stream partition Faust resumes stays paused until the next seek to the committed offsets
has run (the seek also drops aiokafka's prefetched records); changelog partitions resume at once,
recovery reads them. A pause in between (a new rebalance) cancels the resume, and so does a
generation change during the seek: that rebalance's recovery resumes and seeks again. Faust's
queue-pressure callback, which puts a partition back among the active ones when its agent's
buffer drains, leaves a paused partition paused too.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Iterable

from faust import App
from faust.types import TP

#: Per installed app: stream partitions resumed by Faust and waiting for their seek.
_UNSOUGHT: weakref.WeakKeyDictionary[App, set[TP]] = weakref.WeakKeyDictionary()


def install(app: App) -> None:
    _UNSOUGHT[app] = set()
    _patch_faust()


@functools.cache
def _patch_faust() -> None:
    from faust.transport.consumer import Consumer

    original_resume = Consumer.resume_partitions
    original_pause = Consumer.pause_partitions
    original_perform_seek = Consumer.perform_seek
    original_buffer_drop = Consumer.on_buffer_drop

    def resume_partitions(self: Consumer, tps: Iterable[TP]) -> None:
        unsought = _UNSOUGHT.get(self.app)
        if unsought is None:
            return original_resume(self, tps)
        tps = set(tps)
        streams = {tp for tp in tps if not self._is_changelog_tp(tp)}
        unsought.update(streams)
        return original_resume(self, tps - streams)

    def pause_partitions(self: Consumer, tps: Iterable[TP]) -> None:
        tps = set(tps)
        unsought = _UNSOUGHT.get(self.app)
        if unsought is not None:
            unsought.difference_update(tps)  # a pause (a new rebalance) cancels a resume
        return original_pause(self, tps)

    async def perform_seek(self: Consumer) -> None:
        generation = self.app.consumer_generation_id
        await original_perform_seek(self)
        unsought = _UNSOUGHT.get(self.app)
        if unsought:
            sought = unsought & set(self.assignment())
            unsought.clear()
            if self.app.consumer_generation_id == generation:  # else the next one resumes
                original_resume(self, sought)

    def on_buffer_drop(self: Consumer, tp: TP) -> None:
        if _UNSOUGHT.get(self.app) is not None and tp in self._paused_partitions:
            self._buffered_partitions.discard(tp)  # the resume puts it back
            return
        original_buffer_drop(self, tp)

    Consumer.resume_partitions = resume_partitions  # type: ignore[method-assign]
    Consumer.pause_partitions = pause_partitions  # type: ignore[method-assign]
    Consumer.perform_seek = perform_seek  # type: ignore[method-assign]
    Consumer.on_buffer_drop = on_buffer_drop  # type: ignore[method-assign]
