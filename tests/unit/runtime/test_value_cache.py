"""streams.runtime.value_cache: RocksDB tables keep recent values decoded, written through."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from faust.streams import _current_event
from faust.types.tuples import Message

from streams.app import build
from streams.classify.insight import CustomerSeen
from streams.runtime import value_cache
from streams.settings import Settings


class Event:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(partition=partition)


@contextmanager
def within_event(partition: int) -> Iterator[None]:
    """As an agent's code runs: Faust's store reads the event's partition's database."""
    event = Event(partition)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


def seen(order_id: str) -> CustomerSeen:
    return CustomerSeen(segment="vip", order_id=order_id, occurred_at=datetime.now(UTC))


@pytest.fixture
def worker(tmp_path: Path) -> Any:
    return build(Settings(store="rocksdb://", data_dir=tmp_path, rocksdb_value_cache_entries=2))


@pytest.fixture
def store(worker: Any) -> Iterator[Any]:
    table = worker.tables.insight_customers
    yield table.data
    for db in table.data._dbs.values():
        db.close()
    value_cache.install(0)


def test_a_written_value_is_read_back_decoded_and_the_database_has_it(
    worker: Any, store: Any
) -> None:
    value = seen("O-1")
    with within_event(0):
        store["C-1"] = value
        assert store["C-1"] is value and "C-1" in store  # no decode
        assert store.get("C-2") is None
    cache = value_cache.cache_of(store)
    assert cache is not None and cache.hits == 2
    lookups = "ordertriage_rocksdb_value_cache_lookups_total"
    for result, count in (("hit", 2), ("miss", 1)):  # the miss: C-2, absent
        labels = {"table": "insight-customers", "result": result}
        assert worker.registry.get_sample_value(lookups, labels) == count
    # Outside an event the database answers, with what was written.
    assert store["C-1"] == value and store["C-1"] is not value
    with within_event(1):  # another partition's database: not there
        assert "C-1" not in store
        with pytest.raises(KeyError):
            store["C-1"]


def test_the_least_recently_used_values_leave_first(store: Any) -> None:
    with within_event(0):
        store["C-1"], store["C-2"] = seen("O-1"), seen("O-2")
        assert store["C-1"].order_id == "O-1"  # C-1 is now the most recent
        store["C-3"] = seen("O-3")
    cache = value_cache.cache_of(store)
    assert cache is not None and list(cache.values) == ["C-1", "C-3"]
    with within_event(0):
        assert store["C-2"].order_id == "O-2"  # from the database


def test_changelog_records_and_recovery_replace_what_is_cached(store: Any) -> None:
    with within_event(0):
        store["C-1"], store["C-2"] = seen("O-1"), seen("O-2")
    newer = seen("O-9")
    message = Message("t", 0, 7, 0.0, 0, [], b"C-1", newer.model_dump_json().encode(), None)
    with within_event(0):
        store.apply_changelog_batch([SimpleNamespace(message=message)], None, None)
        assert store["C-1"] == newer  # a standby's or a recovery's write is read, not the cache
    cache = value_cache.cache_of(store)
    assert cache is not None and "C-2" in cache.values
    with within_event(0):
        store._db_for_partition(0).delete(b"C-2")  # as the bulk restore writes: not seen
    asyncio.run(store.on_recovery_completed(set(), set()))
    assert not cache.values
    with within_event(0):
        assert "C-2" not in store


def test_deletes_reach_the_cache_and_the_database(store: Any) -> None:
    with within_event(0):
        store["C-1"] = seen("O-1")
        del store["C-1"]
        assert "C-1" not in store
    assert "C-1" not in store
