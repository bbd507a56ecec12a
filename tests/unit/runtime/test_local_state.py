"""streams.runtime.local_state: RocksDB tables survive a clean exit, not a crash."""

from __future__ import annotations

from pathlib import Path

from streams.runtime.local_state import discard_after_crash, mark_clean


def tables(tmp_path: Path) -> Path:
    tabledir = tmp_path / "v1" / "tables"
    (tabledir / "orders-0.db").mkdir(parents=True)
    return tabledir


def test_tables_are_dropped_after_a_crash_and_kept_after_a_clean_exit(tmp_path: Path) -> None:
    appdir, tabledir = tmp_path / "v1", tables(tmp_path)
    assert discard_after_crash(appdir, tabledir, "rocksdb://")  # no clean exit recorded
    assert not tabledir.exists()

    tabledir = tables(tmp_path)
    mark_clean(appdir)
    assert not discard_after_crash(appdir, tabledir, "rocksdb://")
    assert tabledir.exists()
    # The record is used up: a crash of this run drops them at the next start.
    assert discard_after_crash(appdir, tabledir, "rocksdb://")


def test_the_memory_store_has_nothing_local_to_drop(tmp_path: Path) -> None:
    appdir, tabledir = tmp_path / "v1", tables(tmp_path)
    assert not discard_after_crash(appdir, tabledir, "memory://")
    assert tabledir.exists()
