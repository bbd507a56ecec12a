"""The pure classification core: plain Python in, plain Python out, no Kafka and no I/O."""

from streams.classify.customers import CustomerSnapshot, CustomerStats, apply_order
from streams.classify.engine import (
    Decision,
    Outcome,
    classify,
    classify_created,
    classify_status_change,
    reclassify,
)
from streams.classify.facts import OrderFacts
from streams.classify.lifecycle import (
    TRANSITIONS,
    InvalidTransition,
    check_transition,
    status_category,
)
from streams.classify.notify import newly_fired, notifications
from streams.classify.rules import RuleSet, RuleSetError

__all__ = [
    "TRANSITIONS",
    "CustomerSnapshot",
    "CustomerStats",
    "Decision",
    "InvalidTransition",
    "OrderFacts",
    "Outcome",
    "RuleSet",
    "RuleSetError",
    "apply_order",
    "check_transition",
    "classify",
    "classify_created",
    "classify_status_change",
    "newly_fired",
    "notifications",
    "reclassify",
    "status_category",
]
