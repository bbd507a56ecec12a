"""Classification accuracy from people's corrections (pure: counted by the insight stage).

A corrected record (cause ``corrected``) counts in the insight bucket of its time, like any
other event, under pseudo-dimensions the HTTP queries do not list:

* ``accuracy:orders``: created orders, per rules version (the denominator);
* ``accuracy:corrections``: per correction of a value the *rules* decided, the dimension, the
  rules version and rule (or thresholds) that decided it, the decided and the corrected
  value. Once corrected, a dimension stays the person's, so each (order, dimension) is
  counted here at most once: the share corrected is a share of orders;
* ``accuracy:overridden``: a correction of another person's correction (not a rule's error);
* ``accuracy:confirmed``: a "correction" to the value the order already had.

Shares compare corrections made in a window with orders created in it: for a long enough
window that is the share of the rules' decisions people found wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from schemas.events import AppliedCorrection, ClassifiedOrder
from streams.classify.corrections import corrected_by

ORDERS = "accuracy:orders"
CORRECTIONS = "accuracy:corrections"
OVERRIDDEN = "accuracy:overridden"
CONFIRMED = "accuracy:confirmed"
SEP = "|"
CELLS = (ORDERS, CORRECTIONS, OVERRIDDEN, CONFIRMED)


def decider(decided_by: str) -> str:
    """What decided a value, without a person's id: a rule, thresholds, or ``a person``."""
    if corrected_by(decided_by) is not None:
        return "a person"
    return decided_by.split(" (rules ")[0]


def contributions(record: ClassifiedOrder) -> list[tuple[str, str]]:
    """The accuracy cells one classified record counts in (none for most records)."""
    if record.cause == "order-created":
        return [(ORDERS, record.rules_version)]
    applied = record.correction
    if record.cause != "corrected" or applied is None:
        return []
    dim = applied.dimension.value
    if applied.decided == applied.value:
        return [(CONFIRMED, dim)]
    if corrected_by(applied.decided_by) is not None:
        return [(OVERRIDDEN, dim)]
    return [(CORRECTIONS, key(applied))]


def key(applied: AppliedCorrection) -> str:
    parts = (
        applied.dimension.value,
        applied.decided_version,
        decider(applied.decided_by),
        applied.decided,
        applied.value,
    )
    return SEP.join(p.replace(SEP, "/") for p in parts)


@dataclass
class DimensionAccuracy:
    corrected: int = 0
    overridden: int = 0
    confirmed: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    by_version: dict[str, int] = field(default_factory=dict)
    confusion: dict[str, int] = field(default_factory=dict)


def summary(counts: Mapping[str, Mapping[str, int]]) -> dict[str, object]:
    """The accuracy report from summed cells (``pseudo-dimension -> value -> count``)."""
    orders = dict(counts.get(ORDERS, {}))
    total = sum(orders.values())
    dims: dict[str, DimensionAccuracy] = {}
    for value, n in counts.get(CORRECTIONS, {}).items():
        dim, version, rule, decided, corrected = value.split(SEP)
        d = dims.setdefault(dim, DimensionAccuracy())
        d.corrected += n
        d.by_rule[rule] = d.by_rule.get(rule, 0) + n
        d.by_version[version] = d.by_version.get(version, 0) + n
        pair = f"{decided} -> {corrected}"
        d.confusion[pair] = d.confusion.get(pair, 0) + n
    for name, attr in ((OVERRIDDEN, "overridden"), (CONFIRMED, "confirmed")):
        for dim, n in counts.get(name, {}).items():
            d = dims.setdefault(dim, DimensionAccuracy())
            setattr(d, attr, getattr(d, attr) + n)

    def share(n: int, of: int) -> float | None:
        return round(n / of, 4) if of else None

    return {
        "orders": total,
        "orders_by_rules_version": dict(sorted(orders.items())),
        "dimensions": {
            dim: {
                "corrected": d.corrected,
                "share_corrected": share(d.corrected, total),
                "accuracy": share(total - d.corrected, total),
                "overridden_corrections": d.overridden,
                "confirmed": d.confirmed,
                "by_rule": _ranked(d.by_rule),
                "by_rules_version": {
                    v: {
                        "corrected": n,
                        "orders": orders.get(v, 0),
                        "share": share(n, orders.get(v, 0)),
                    }
                    for v, n in sorted(d.by_version.items())
                },
                "confusion": _ranked(d.confusion),
            }
            for dim, d in sorted(dims.items())
        },
    }


def _ranked(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
