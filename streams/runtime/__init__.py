"""What adapts Faust and aiokafka to ordertriage's guarantees, installed by ``install``.

Each module here repairs or tunes one behaviour of the framework (its docstring says which and
why); none of them knows an agent. ``install`` is the one place they are applied to an app.
"""

from __future__ import annotations

from faust import App
from prometheus_client import CollectorRegistry

from streams.metrics import Metrics
from streams.runtime import (
    bulk_restore,
    changelog_pause,
    codecs,
    commit_on_revoke,
    continuity,
    gc_pauses,
    loop_lag,
    routing,
    seek_first,
    value_cache,
)
from streams.runtime.faust_metrics import setup_faust_metrics
from streams.runtime.faust_tuning import (
    flush_before_commit,
    no_startup_spinner,
    tune_fetch_rounds,
)


def install(
    app: App,
    registry: CollectorRegistry,
    metrics: Metrics,
    *,
    gc_freeze: bool = True,
    fetch_coalesce_s: float = 0.0,
    backlog_linger_s: float = 0.0,
    restore_from: str | None = None,
    value_cache_entries: int = 0,
) -> continuity.Continuity:
    """Apply every adaptation to ``app``; returns the input-continuity bookkeeping.

    ``restore_from``: the bootstrap servers RocksDB tables are restored from in bulk (None: by
    Faust alone); ``value_cache_entries``: decoded values each RocksDB table keeps (0: none).
    """
    codecs.register()
    no_startup_spinner()
    flush_before_commit()
    routing.install()
    seek_first.install(app)
    commit_on_revoke.install(app)
    changelog_pause.install(app)
    if restore_from is not None:
        bulk_restore.install(app, restore_from)
    value_cache.install(value_cache_entries, app, registry)
    setup_faust_metrics(app, registry)
    gc_pauses.install(app, metrics.gc_full_pause_seconds, freeze=gc_freeze)
    loop_lag.install(app, metrics.event_loop_lag_seconds)
    tune_fetch_rounds(app, coalesce_s=fetch_coalesce_s, backlog_linger_s=backlog_linger_s)
    return continuity.install(
        app,
        lambda tp, missing, seen: metrics.refetched_offsets.labels(topic=tp.topic).inc(
            seen - missing
        ),
    )
