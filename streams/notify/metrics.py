"""The notifier's Prometheus metrics, in its own registry (it is its own process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry()

DELIVERIES = Counter(
    "ordertriage_notify_deliveries",
    "deliveries by channel and outcome (sent, failed, in_doubt, quiet, duplicate)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "ordertriage_notify_retries", "channel calls beyond the first", ["channel"], registry=REGISTRY
)
DIGESTED = Counter(
    "ordertriage_notify_digested",
    "notifications folded into a digest because the channel's rate limit was reached",
    ["channel"],
    registry=REGISTRY,
)
UNROUTED = Counter(
    "ordertriage_notify_unrouted",
    "notifications or people with nowhere to go (unknown_role, no_channel)",
    ["reason"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "ordertriage_notify_latency_seconds",
    "from the notification record's timestamp to the first call to the channel",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
    registry=REGISTRY,
)
ACTIONS = Counter(
    "ordertriage_notify_actions",
    "ack/claim links followed, by result (written, used, forged, expired, malformed)",
    ["result"],
    registry=REGISTRY,
)
