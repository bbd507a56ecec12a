"""Faust's per-record sensor counts reach Prometheus at scrape time, under the same names."""

from __future__ import annotations

from types import SimpleNamespace

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest

from streams.runtime.faust_metrics import setup_faust_metrics


def scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_records_tables_and_sends_are_counted_and_exposed_when_scraped() -> None:
    app = faust.App("metrics-test", autodiscover=False)
    registry = CollectorRegistry()
    setup_faust_metrics(app, registry)
    monitor = app.monitor
    tp = TP("orders.created", 2)
    for offset in range(3):
        monitor.on_message_in(tp, offset, SimpleNamespace())
    table = SimpleNamespace(name="staff")
    monitor.on_table_set(table, "ann", 1)
    monitor.on_table_get(table, "ann")
    monitor.on_table_get(table, "ann")
    state = monitor.on_send_initiated(None, "orders.classified", None, 3, 10)
    monitor.on_send_completed(None, state, None)
    monitor.track_tp_end_offset(tp, 9)

    text = scrape(registry)
    assert "faust_messages_received_total 3.0" in text
    assert 'faust_messages_received_per_topic_total{topic="orders.created"} 3.0' in text
    assert (
        'faust_messages_received_per_topics_partition{partition="2",topic="orders.created"} 2.0'
        in text
    )
    assert (
        'faust_table_operations_total{operation="keys_retrieved",table="table.staff"} 2.0' in text
    )
    assert 'faust_table_operations_total{operation="keys_updated",table="table.staff"} 1.0' in text
    assert 'faust_topic_messages_sent_total{topic="topic.orders.classified"} 1.0' in text
    assert 'faust_topic_partition_end_offset{partition="2",topic="orders.created"} 9.0' in text
    # ... and scraping again reads the counts as they are now, not a copy.
    monitor.on_message_in(tp, 3, SimpleNamespace())
    assert "faust_messages_received_total 4.0" in scrape(registry)


def test_the_hooks_that_run_once_per_commit_still_feed_their_metrics() -> None:
    app = faust.App("metrics-test-2", autodiscover=False)
    registry = CollectorRegistry()
    setup_faust_metrics(app, registry)
    app.monitor.on_tp_commit({TP("orders.created", 0): 41})
    assert (
        'faust_topic_partition_offset_commited{partition="0",topic="orders.created"} 41.0'
        in scrape(registry)
    )
    assert "faust_consumer_commit_latency_bucket" in scrape(registry)
