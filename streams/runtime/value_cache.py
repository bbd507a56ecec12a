"""RocksDB tables keep their most recently used values decoded, in front of the database.

The memory store holds decoded values; RocksDB holds bytes, so every table read decodes the
value's JSON with its pydantic codec, and a hot key is decoded again on every event that reads
it: a person's KPIs (~28 KB) on every staff fact, a bucket on every classified record, an order
on each of its events. Profiled on a RocksDB worker draining a backlog: ~12% of its samples in
those decodes (``make throughput`` with ``ORDERTRIAGE_STORE=rocksdb://``, docs/performance.md).

Each RocksDB store here keeps the last ``entries`` keys it read or wrote within an event, with
the value and the partition it was read from or written to (Faust's RocksDB store keeps one
database per partition and reads an event's keys from its partition's database only).
Writes still go to the database at once (write-through), so whatever reads the database itself
(a scan, an HTTP view outside an event, Faust's recovery, the bulk restore, a standby) sees
the same values, and a crash loses nothing the database would have held. A read returns the
value object last written or read, as the memory store does.

The cache is dropped whenever the database may change under it other than through the store:
changelog batches applied (recovery, standby replicas) drop their keys, and a rebalance, the
end of a recovery and a reset drop everything.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from faust import App
from faust.stores.rocksdb import Store as RocksStore
from faust.streams import current_event
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class ValueCache:
    """Key -> (partition, decoded value), least recently used first; at most ``entries``."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.values: OrderedDict[Any, tuple[int, Any]] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Any, partition: int) -> tuple[bool, Any]:
        found = self.values.get(key)
        if found is None or found[0] != partition:
            self.misses += 1
            return False, None
        self.hits += 1
        self.values.move_to_end(key)
        return True, found[1]

    def put(self, key: Any, partition: int, value: Any) -> None:
        self.values[key] = (partition, value)
        self.values.move_to_end(key)
        if len(self.values) > self.entries:
            self.values.popitem(last=False)

    def drop(self, key: Any) -> None:
        self.values.pop(key, None)

    def clear(self) -> None:
        self.values.clear()


def install(
    entries: int, app: App | None = None, registry: CollectorRegistry | None = None
) -> None:
    """Give every RocksDB store a cache of ``entries`` decoded values (0: none); with ``app``
    and ``registry``, its lookups are counted when Prometheus scrapes."""
    global _ENTRIES
    _ENTRIES = entries
    if entries > 0:
        _patch_rocksdb_store()
        if app is not None and registry is not None:
            registry.register(LookupCollector(app))


class LookupCollector(Collector):
    """``ordertriage_rocksdb_value_cache_lookups_total{table, result}``: hits and misses, read
    from the caches at scrape time (so an operator can size the setting)."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "ordertriage_rocksdb_value_cache_lookups",
            "Table reads within an event answered by the decoded-value cache (hit) or not",
            labels=["table", "result"],
        )
        for name, table in self.app.tables.items():
            store = getattr(table, "_data", None)  # a store already made: never make one here
            cache = store.__dict__.get("_ordertriage_values") if store is not None else None
            if cache is not None:
                family.add_metric([name, "hit"], cache.hits)
                family.add_metric([name, "miss"], cache.misses)
        yield family


_ENTRIES = 0


def cache_of(store: RocksStore) -> ValueCache | None:
    """The store's cache (made on first use), or None when off or the table is not partitioned
    by its key (global tables and tables with their own partitioner read across databases)."""
    cache: ValueCache | None = store.__dict__.get("_ordertriage_values")
    table = store.table
    if cache is None and _ENTRIES > 0 and not (table.is_global or table.use_partitioner):
        cache = store.__dict__["_ordertriage_values"] = ValueCache(_ENTRIES)
    return cache


def _partition() -> int | None:
    event = current_event()
    return None if event is None else event.message.partition


@functools.cache
def _patch_rocksdb_store() -> None:
    get, set_, delete = RocksStore.__getitem__, RocksStore.__setitem__, RocksStore.__delitem__
    contains, apply_batch = RocksStore.__contains__, RocksStore.apply_changelog_batch
    on_rebalance, on_recovered = RocksStore.on_rebalance, RocksStore.on_recovery_completed
    reset = RocksStore.reset_state

    def __getitem__(self: RocksStore, key: Any) -> Any:
        cache, partition = cache_of(self), _partition()
        if cache is None or partition is None:
            return get(self, key)
        hit, value = cache.get(key, partition)
        if not hit:
            value = get(self, key)  # KeyError when absent: nothing cached
            cache.put(key, partition, value)
        return value

    def __setitem__(self: RocksStore, key: Any, value: Any) -> None:
        set_(self, key, value)  # Faust's store writes within an event only
        cache, partition = cache_of(self), _partition()
        if cache is not None and partition is not None:
            cache.put(key, partition, value)

    def __delitem__(self: RocksStore, key: Any) -> None:
        cache = cache_of(self)
        if cache is not None:
            cache.drop(key)
        delete(self, key)

    def __contains__(self: RocksStore, key: object) -> bool:
        cache, partition = cache_of(self), _partition()
        if cache is not None and partition is not None and cache.get(key, partition)[0]:
            return True
        return bool(contains(self, key))

    def apply_changelog_batch(self: RocksStore, batch: Iterable[Any], *args: Any) -> None:
        batch = list(batch)
        cache = cache_of(self)
        if cache is not None:
            for event in batch:
                if event.message.key is not None:
                    cache.drop(self._decode_key(event.message.key))
        apply_batch(self, batch, *args)

    async def on_rebalance_(self: RocksStore, *args: Any, **kwargs: Any) -> None:
        _clear(self)
        await on_rebalance(self, *args, **kwargs)
        _clear(self)

    async def on_recovery_completed_(self: RocksStore, *args: Any, **kwargs: Any) -> None:
        await on_recovered(self, *args, **kwargs)
        _clear(self)

    def reset_state(self: RocksStore) -> None:
        _clear(self)
        reset(self)

    RocksStore.__getitem__ = __getitem__  # type: ignore[method-assign]
    RocksStore.__setitem__ = __setitem__  # type: ignore[method-assign]
    RocksStore.__delitem__ = __delitem__  # type: ignore[method-assign]
    RocksStore.__contains__ = __contains__  # type: ignore[method-assign]
    RocksStore.apply_changelog_batch = apply_changelog_batch  # type: ignore[method-assign]
    RocksStore.on_rebalance = on_rebalance_  # type: ignore[method-assign]
    RocksStore.on_recovery_completed = on_recovery_completed_  # type: ignore[method-assign]
    RocksStore.reset_state = reset_state  # type: ignore[method-assign]


def _clear(store: RocksStore) -> None:
    cache = store.__dict__.get("_ordertriage_values")
    if cache is not None:
        cache.clear()
