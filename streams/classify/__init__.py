"""The pure classification core: plain Python in, plain Python out, no Kafka and no I/O."""

from streams.classify.config import ClassificationConfig, TierThresholds
from streams.classify.customers import CustomerSnapshot, CustomerStats, apply_order
from streams.classify.engine import classify_created, classify_status_change
from streams.classify.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    check_transition,
    status_category,
)
from streams.classify.notify import notifications_for

__all__ = [
    "TRANSITIONS",
    "ClassificationConfig",
    "CustomerSnapshot",
    "CustomerStats",
    "InvalidTransition",
    "TierThresholds",
    "apply_order",
    "check_transition",
    "classify_created",
    "classify_status_change",
    "notifications_for",
    "status_category",
]
