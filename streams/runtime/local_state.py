"""RocksDB's local state is trusted only after a clean shutdown.

A RocksDB store writes every table update to local disk at once, and to its changelog through
the producer. After a kill -9 the local database holds updates of events whose changelog
records never reached Kafka and whose input was not committed: the replay then takes those
events for already applied and re-sends only the last change's outputs, so their changelog
records and the outputs of earlier changes are never written (the verifier's
``kill-9x5-rocksdb`` run: 4 events lost). So a worker records a clean exit (exit status 0,
after Faust flushed and committed), and one that starts without that record drops its local
tables and rebuilds them from the changelogs, as the memory store always does.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger("ordertriage.local_state")

MARKER = "clean-shutdown"


def discard_after_crash(appdir: Path, tabledir: Path, store: str) -> bool:
    """Drop the local tables unless the last run ended cleanly; whether they were dropped."""
    marker = appdir / MARKER
    clean = marker.exists()
    marker.unlink(missing_ok=True)  # until this run ends cleanly
    if clean or not store.startswith("rocksdb") or not tabledir.exists():
        return False
    if not any(tabledir.iterdir()):
        return False
    log.warning(
        "the last run did not end cleanly: dropping local tables in %s, rebuilding them"
        " from their changelogs",
        tabledir,
    )
    shutil.rmtree(tabledir)
    return True


def mark_clean(appdir: Path) -> None:
    appdir.mkdir(parents=True, exist_ok=True)
    (appdir / MARKER).touch()
