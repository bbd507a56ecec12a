"""Faust's own sensor metrics, renamed to Prometheus conventions (seconds, not milliseconds).

``faust.sensors.prometheus`` names its latency histograms ``*_ms`` and observes milliseconds,
which ``promtool check metrics`` rejects. We build the same metrics in seconds, into the
registry the worker exposes.
"""

from __future__ import annotations

import math
from typing import Any

from faust import App
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SecondsPrometheusMonitor(PrometheusMonitor):
    """Faust's Prometheus monitor, observing latencies in seconds."""

    def secs_to_ms(self, timestamp: float) -> float:
        return timestamp  # the name lies now; every caller feeds the renamed histograms


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
    scratch = CollectorRegistry()
    original = FaustMetrics.create(scratch, prefix)
    renamed = {field: _renamed(m, registry) for field, m in original._asdict().items()}
    app.monitor = SecondsPrometheusMonitor(metrics=FaustMetrics(**renamed))
