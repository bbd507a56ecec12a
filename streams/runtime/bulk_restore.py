"""RocksDB tables are restored from their changelogs in bulk, not record by record through Faust.

Faust's recovery hands every changelog record through its whole stream machinery: the fetch
loop's ``wait_first`` (four futures per record), the conductor, a queue, a ``wait_for`` task per
record, and ``need_recovery`` summing the remaining offsets of every partition after each one.
py-spy of a worker restoring 200k orders: those ~45% of its samples, RocksDB's writes 4.5%; about
8,000 records/s, so 1M orders took ~125 s after a kill -9 or on a new machine.

Here, once Faust has decided where each active changelog partition starts (``_build_offsets``),
a plain consumer reads the partitions of RocksDB tables up to the highwaters Faust measured and
writes each fetched batch into the partition's database as one ``WriteBatch`` holding the batch's
last offset too, which is what Faust's own ``apply_changelog_batch`` writes (record bytes as they
are, a tombstone as a delete, the offset under Faust's key). Each batch moves Faust's start offset
along, so a rebalance or a crash mid-way leaves every database consistent with the offset it
stores, and Faust's record-by-record loop then reads only what is left. Faust awaits this step
under ``broker_request_timeout``: the restore stops at three quarters of it and leaves the rest
to Faust, as does a failure (the broker away, a refused request). The memory store keeps
Faust's path (it stores decoded values).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from typing import Any

from aiokafka import TopicPartition
from faust import App
from faust.stores.rocksdb import Store as RocksStore
from faust.tables.recovery import Recovery
from faust.types import TP

from streams.kafka import clients

log = logging.getLogger("ordertriage.bulk_restore")

#: Per installed app: the bootstrap servers its restore reads from.
_BOOTSTRAP: weakref.WeakKeyDictionary[App, str] = weakref.WeakKeyDictionary()

#: Records per fetch call, and bytes per partition and per fetch: large batches are the point.
MAX_RECORDS = 20_000
PARTITION_FETCH_BYTES = 4 * 1024 * 1024
FETCH_BYTES = 32 * 1024 * 1024


def install(app: App, bootstrap: str) -> None:
    _BOOTSTRAP[app] = bootstrap
    _patch_faust()


@functools.cache
def _patch_faust() -> None:
    original = Recovery._build_offsets

    async def _build_offsets(
        self: Recovery, consumer: Any, tps: set[TP], destination: Any, title: str
    ) -> None:
        await original(self, consumer, tps, destination, title)
        bootstrap = _BOOTSTRAP.get(self.app)
        if bootstrap is not None and destination is self.active_offsets:
            deadline = time.monotonic() + 0.75 * self.app.conf.broker_request_timeout
            await restore(self, bootstrap, tps, deadline)

    Recovery._build_offsets = _build_offsets  # type: ignore[method-assign]


async def restore(recovery: Recovery, bootstrap: str, tps: set[TP], deadline: float) -> int:
    """Read the RocksDB tables' partitions of ``tps`` up to their highwaters; records applied."""
    offsets, highwaters = recovery.active_offsets, recovery.active_highwaters
    stores: dict[TP, RocksStore] = {}
    for tp in tps:
        store = getattr(recovery.tp_to_table.get(tp), "data", None)
        high, start = highwaters.get(tp), offsets.get(tp)
        if (
            isinstance(store, RocksStore)
            and high is not None
            and start is not None
            and start < high
        ):
            stores[tp] = store
    if not stores or time.monotonic() >= deadline:
        return 0
    began, applied, pending = time.monotonic(), 0, set(stores)
    reader = clients.consumer(
        bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # as the app's: an offset gone is read from the start
        max_partition_fetch_bytes=PARTITION_FETCH_BYTES,
        fetch_max_bytes=FETCH_BYTES,
    )
    try:
        await asyncio.wait_for(reader.start(), max(deadline - time.monotonic(), 0.001))
        try:
            reader.assign([TopicPartition(tp.topic, tp.partition) for tp in stores])
            for tp in stores:
                reader.seek(TopicPartition(tp.topic, tp.partition), offsets[tp] + 1)
            while pending and time.monotonic() < deadline:
                if recovery.signal_recovery_start.is_set():  # another rebalance began
                    break
                fetched = await reader.getmany(
                    *(TopicPartition(tp.topic, tp.partition) for tp in pending),
                    timeout_ms=500,
                    max_records=MAX_RECORDS,
                )
                for ktp, records in fetched.items():
                    tp = TP(ktp.topic, ktp.partition)
                    applied += _write(stores[tp], tp, records, highwaters[tp], offsets)
                for tp in list(pending):
                    position = await reader.position(TopicPartition(tp.topic, tp.partition))
                    if position > highwaters[tp]:
                        offsets[tp] = max(offsets[tp], highwaters[tp])
                        pending.discard(tp)
        finally:
            await _stop(reader)
    except Exception:  # the broker away, a refused request, a disk error: Faust's path reads
        log.warning("bulk restore stopped; Faust's recovery reads the rest", exc_info=True)
    seconds = time.monotonic() - began
    log.info(
        "restored %d changelog records of %d partitions in %.1f s (%.0f/s)%s",
        applied,
        len(stores),
        seconds,
        applied / seconds if seconds else 0.0,
        f"; {len(pending)} left to Faust's recovery" if pending else "",
    )
    return applied


async def _stop(reader: Any) -> None:
    """aiokafka's group-less consumer, stopped soon after it was assigned partitions, cancels
    its committed-offsets task and re-raises that task's CancelledError: only ours counts."""
    try:
        await reader.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


def _write(store: RocksStore, tp: TP, records: list[Any], high: int, offsets: Any) -> int:
    """One batch of one partition into its database, with its last offset, in one write."""
    batch, last, count = _new_batch(store), None, 0
    for record in records:
        if record.offset > high:  # written after Faust measured: its own loop reads those
            break
        if record.value is None:
            batch.delete(record.key)
        else:
            batch.put(record.key, record.value)
        last, count = record.offset, count + 1
    if last is None:
        return 0
    batch.put(store.offset_key, str(last).encode())
    store._db_for_partition(tp.partition).write(batch)
    offsets[tp] = last
    return count


def _new_batch(store: RocksStore) -> Any:
    if store.use_rocksdict:
        import rocksdict

        return rocksdict.WriteBatch(raw_mode=True)
    import rocksdb  # type: ignore[import-not-found]

    return rocksdb.WriteBatch()
