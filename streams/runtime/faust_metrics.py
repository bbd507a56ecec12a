"""Faust's own sensor metrics: Prometheus names and units, and per-record counts read at scrape.

``faust.sensors.prometheus`` names its latency histograms ``*_ms`` and observes milliseconds,
which ``promtool check metrics`` rejects: we build the same metrics in seconds, into the
registry the worker exposes.

It also updates ``prometheus_client`` metrics for every record in, every event, every table
get or set and every send: a labelled child lookup and a lock each time (profiled: ~8% of the
worker's CPU under load). Faust's base ``Monitor`` already counts all of these in plain
Python ints and dicts, so for those hooks we keep only its counting, and a collector turns the
counts into the same metric names when Prometheus scrapes (``ScrapeTimeCollector``). The
per-record latency histograms become averages over Faust's recent window (gauges). Hooks that
run once per commit, rebalance, assignment or web request still update their metrics directly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from faust import App
from faust.sensors.monitor import Monitor
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

#: FaustMetrics fields served at scrape time from the Monitor's counts (not registered).
SCRAPED = frozenset(
    {
        "messages_received",
        "active_messages",
        "messages_received_per_topics",
        "messages_received_per_topics_partition",
        "events_runtime_latency",
        "total_events",
        "total_active_events",
        "total_events_per_stream",
        "table_operations",
        "topic_messages_sent",
        "total_sent_messages",
        "producer_send_latency",
        "topic_partition_end_offset",
    }
)


class SecondsPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus monitor, observing latencies in seconds; per-record hooks count only.

    Each per-record hook calls the base ``Monitor``'s (plain counters), skipping
    ``PrometheusMonitor``'s metric updates; ``ScrapeTimeCollector`` exposes the counts.
    """

    def secs_to_ms(self, timestamp: float) -> float:
        return timestamp  # the name lies now; every caller feeds the renamed histograms

    on_message_in = Monitor.on_message_in
    on_stream_event_in = Monitor.on_stream_event_in
    on_stream_event_out = Monitor.on_stream_event_out
    on_message_out = Monitor.on_message_out
    on_table_get = Monitor.on_table_get
    on_table_set = Monitor.on_table_set
    on_table_del = Monitor.on_table_del
    on_send_initiated = Monitor.on_send_initiated
    on_send_completed = Monitor.on_send_completed
    track_tp_end_offset = Monitor.track_tp_end_offset


def _average(values: Any) -> float:
    return sum(values) / len(values) if values else 0.0


class ScrapeTimeCollector(Collector):
    """The per-record metrics, read from the monitor's counts when Prometheus scrapes."""

    def __init__(self, monitor: Monitor, prefix: str = "faust") -> None:
        self.monitor = monitor
        self.prefix = prefix

    def collect(self) -> Iterator[Metric]:
        m, p = self.monitor, self.prefix
        by_tp = ["topic", "partition"]
        yield CounterMetricFamily(
            f"{p}_messages_received", "Total messages received", m.messages_received_total
        )
        yield GaugeMetricFamily(f"{p}_active_messages", "Total active messages", m.messages_active)
        yield _labelled(
            CounterMetricFamily(
                f"{p}_messages_received_per_topic", "Messages received per topic", labels=["topic"]
            ),
            (([topic], n) for topic, n in m.messages_received_by_topic.items()),
        )
        yield _labelled(
            GaugeMetricFamily(
                f"{p}_messages_received_per_topics_partition",
                "Last offset received per topic partition",
                labels=by_tp,
            ),
            (([tp.topic, str(tp.partition)], n) for tp, n in m.tp_read_offsets.items()),
        )
        yield GaugeMetricFamily(
            f"{p}_events_runtime_avg_seconds",
            "Average time an event took, over the last events",
            _average(m.events_runtime),
        )
        yield CounterMetricFamily(f"{p}_total_events", "Total events received", m.events_total)
        yield GaugeMetricFamily(f"{p}_total_active_events", "Total active events", m.events_active)
        yield _labelled(
            CounterMetricFamily(
                f"{p}_total_events_per_stream", "Events received per stream", labels=["stream"]
            ),
            (([stream], n) for stream, n in m.events_by_stream.items()),
        )
        yield _labelled(
            CounterMetricFamily(
                f"{p}_table_operations", "Total table operations", labels=["table", "operation"]
            ),
            (
                ([f"table.{name}", op], getattr(state, op))
                for name, state in m.tables.items()
                for op in ("keys_retrieved", "keys_updated", "keys_deleted")
            ),
        )
        yield _labelled(
            CounterMetricFamily(
                f"{p}_topic_messages_sent", "Total messages sent per topic", labels=["topic"]
            ),
            (([f"topic.{topic}"], n) for topic, n in m.messages_sent_by_topic.items()),
        )
        yield CounterMetricFamily(
            f"{p}_total_sent_messages", "Total messages sent", m.messages_sent
        )
        yield GaugeMetricFamily(
            f"{p}_producer_send_latency_avg_seconds",
            "Average time a send took, over the last sends",
            _average(m.send_latency),
        )
        yield _labelled(
            GaugeMetricFamily(
                f"{p}_topic_partition_end_offset", "Offset ends per topic partition", labels=by_tp
            ),
            (([tp.topic, str(tp.partition)], n) for tp, n in m.tp_end_offsets.items()),
        )


F = TypeVar("F", CounterMetricFamily, GaugeMetricFamily)


def _labelled(family: F, samples: Iterable[tuple[list[str], float]]) -> F:
    """``family`` with one sample per label set, in label order (a stable exposition)."""
    for labels, value in sorted(samples):
        family.add_metric(labels, value)
    return family


def _renamed(metric: Any, registry: CollectorRegistry) -> Any:
    name: str = metric._name
    kwargs: dict[str, Any] = {
        "labelnames": metric._labelnames,
        "registry": registry,
    }
    if isinstance(metric, Histogram):
        if name.endswith("_ms"):
            name = name[: -len("_ms")] + "_seconds"
        bounds = [b / 1000 for b in metric._upper_bounds if not math.isinf(b)]
        return Histogram(
            name, metric._documentation.replace(" in ms", ""), buckets=bounds, **kwargs
        )
    if isinstance(metric, Counter):
        return Counter(name, metric._documentation, **kwargs)
    if isinstance(metric, Gauge):
        return Gauge(name, metric._documentation, **kwargs)
    raise TypeError(f"unexpected metric type {type(metric).__name__}")


def setup_faust_metrics(app: App, registry: CollectorRegistry, prefix: str = "faust") -> None:
    scratch, unexposed = CollectorRegistry(), CollectorRegistry()
    original = FaustMetrics.create(scratch, prefix)
    renamed = {
        field: _renamed(m, unexposed if field in SCRAPED else registry)
        for field, m in original._asdict().items()
    }
    monitor = SecondsPrometheusMonitor(metrics=FaustMetrics(**renamed))
    app.monitor = monitor
    registry.register(ScrapeTimeCollector(monitor, prefix))
