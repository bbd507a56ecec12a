"""A seeded, realistic stream of order events (and a small share of bad ones) for demos/tests.

Pure: yields ``(topic_name, key, value)`` with no Kafka in sight; the CLI produces them.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from streams.topics import CREATED, FEEDBACK_RECEIVED, STATUS_CHANGED

# sku prefix -> (product type, typical unit price in CNY)
CATALOG: dict[str, tuple[str, int]] = {
    "TV": ("electronics", 2800),
    "PH": ("electronics", 2100),
    "LP": ("computers", 5200),
    "SRV": ("computers", 16000),
    "DSK": ("furniture", 1900),
    "CHR": ("furniture", 650),
    "TEA": ("groceries", 120),
    "RICE": ("groceries", 60),
    "SW": ("software", 2400),
    "SUP": ("services", 2600),
}
CURRENCIES = [
    ("CNY", Decimal(1), 0.8),
    ("USD", Decimal("0.14"), 0.15),
    ("EUR", Decimal("0.13"), 0.05),
]
CHANNELS = ["online", "store", "partner", "phone"]
REGIONS = ["east", "north", "south", "west", "central"]
# Status walks: most orders complete, some cancel or come back.
PATHS: list[tuple[list[str], float]] = [
    (["confirmed", "processing", "shipped", "delivered", "completed"], 0.6),
    (["confirmed", "processing", "shipped"], 0.15),
    (["cancelled"], 0.07),
    (["confirmed", "cancelled"], 0.05),
    (["confirmed", "processing", "shipped", "delivered", "returned"], 0.05),
    ([], 0.08),
]
FIRST_NAMES = ["Wei", "Li", "Ana", "Jon", "Mei", "Sam", "Ravi", "Yuki"]


@dataclass
class _Customer:
    customer_id: str
    type: str
    vip: bool
    name: str
    currency: tuple[str, Decimal, float]


@dataclass
class SampleStream:
    """Events of ``count`` orders: creation, their status walks, and bad records mixed in."""

    count: int
    seed: int = 7
    bad_share: float = 0.03
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    prefix: str = ""
    order_prefix: str = "SO"

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - reproducible sample data, not crypto
        self.customers = [self._customer(i) for i in range(max(1, self.count // 3))]

    def _customer(self, i: int) -> _Customer:
        rng = self.rng
        currency = rng.choices(CURRENCIES, weights=[c[2] for c in CURRENCIES])[0]
        return _Customer(
            customer_id=f"C-{self.seed}-{i:05d}",
            type="enterprise" if rng.random() < 0.35 else "individual",
            vip=rng.random() < 0.06,
            name=f"{rng.choice(FIRST_NAMES)} {chr(65 + i % 26)}.",
            currency=currency,
        )

    def _event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _order(self, n: int, at: datetime) -> dict[str, Any]:
        rng = self.rng
        # Repeat customers: squaring skews picks toward the first customers, who order often.
        customer = self.customers[int(len(self.customers) * rng.random() ** 2)]
        code, rate, _ = customer.currency
        big = customer.type == "enterprise"
        items = []
        for sku_prefix in rng.sample(sorted(CATALOG), k=rng.choice([1, 1, 1, 2, 2, 3])):
            product_type, base = CATALOG[sku_prefix]
            price = (Decimal(base) * Decimal(rng.uniform(0.7, 1.3)) * rate).quantize(
                Decimal("0.01")
            )
            qty = rng.choice([1, 1, 1, 1, 2, 3]) * (rng.choice([1, 1, 2, 5, 20]) if big else 1)
            items.append(
                {
                    "sku": f"{sku_prefix}-{rng.randint(10, 99)}",
                    "product_type": product_type,
                    "quantity": qty,
                    "unit_price": str(price),
                }
            )
        total = sum(Decimal(i["unit_price"]) * i["quantity"] for i in items)
        return {
            "event_id": self._event_id(),
            "schema_version": 1,
            "occurred_at": at.isoformat(),
            "order": {
                "order_id": f"{self.order_prefix}-{self.seed}-{n:07d}",
                "currency": code,
                "total_amount": str(total),
                "channel": rng.choice(CHANNELS),
                "region": rng.choice(REGIONS),
                "customer": {
                    "customer_id": customer.customer_id,
                    "type": customer.type,
                    "vip": customer.vip,
                    "name": customer.name,
                    "email": f"{customer.customer_id.lower()}@example.com",
                    "phone": f"+86-10-{rng.randint(10000000, 99999999)}",
                },
                "items": items,
            },
        }

    def __iter__(self) -> Iterator[tuple[str, bytes | None, bytes]]:
        """Orders in creation order; each order's status walk follows within a few events."""
        rng = self.rng
        pending: list[tuple[int, str, bytes, bytes]] = []  # (due index, topic, key, value)
        at = self.start
        emitted = 0
        for n in range(self.count):
            at += timedelta(seconds=rng.uniform(0.5, 3))
            created = self._order(n, at)
            order_id = created["order"]["order_id"]
            key = order_id.encode()
            yield self.prefix + CREATED, key, orjson.dumps(created)
            emitted = n + 1
            path = rng.choices([p for p, _ in PATHS], weights=[w for _, w in PATHS])[0]
            previous, t, due_at = "new", at, emitted
            for step, status in enumerate(path):
                t += timedelta(minutes=rng.uniform(5, 600))
                change = {
                    "event_id": self._event_id(),
                    "schema_version": 1,
                    "occurred_at": t.isoformat(),
                    "order_id": order_id,
                    "from_status": previous,
                    "to_status": status,
                    "changed_by": f"u-{rng.randint(1, 40)}",
                }
                # Later steps never overtake earlier ones of the same order.
                due_at = max(due_at + 1, emitted + 2 * (step + 1) + rng.randint(0, 3))
                pending.append(
                    (
                        due_at,
                        self.prefix + STATUS_CHANGED,
                        key,
                        orjson.dumps(change),
                    )
                )
                previous = status
            if rng.random() < self.bad_share:
                yield self._bad(created)
            due = [p for p in pending if p[0] <= emitted]
            pending = [p for p in pending if p[0] > emitted]
            for _, topic, k, v in sorted(due, key=lambda p: p[0]):
                yield topic, k, v
        for _, topic, k, v in sorted(pending, key=lambda p: p[0]):
            yield topic, k, v

    def _bad(self, created: dict[str, Any]) -> tuple[str, bytes | None, bytes]:
        """One malformed or unprocessable record, of a kind picked at random."""
        kind = self.rng.choice(["json", "missing", "type", "transition", "duplicate", "unknown"])
        order_id = created["order"]["order_id"]
        key = order_id.encode()
        if kind == "json":
            return self.prefix + CREATED, key, b'{"event_id": "broken", "order": {'
        if kind == "missing":
            broken = {k: v for k, v in created.items() if k != "order"}
            return self.prefix + CREATED, key, orjson.dumps(broken)
        if kind == "type":
            broken = orjson.loads(orjson.dumps(created))
            broken["order"]["total_amount"] = "lots"
            return self.prefix + CREATED, key, orjson.dumps(broken)
        if kind == "duplicate":
            return self.prefix + CREATED, key, orjson.dumps(created)
        if kind == "transition":
            change = {
                "event_id": self._event_id(),
                "schema_version": 1,
                "occurred_at": created["occurred_at"],
                "order_id": order_id,
                "from_status": "new",
                "to_status": "delivered",
            }
            return self.prefix + STATUS_CHANGED, key, orjson.dumps(change)
        change = {
            "event_id": self._event_id(),
            "schema_version": 1,
            "occurred_at": created["occurred_at"],
            "order_id": f"{order_id}-GHOST",
            "from_status": "new",
            "to_status": "confirmed",
        }
        return self.prefix + STATUS_CHANGED, f"{order_id}-GHOST".encode(), orjson.dumps(change)


#: Messages for sample feedback: the classifier's dev split (written apart from its training
#: data), so the demo shows the model on text it did not learn from.
FEEDBACK_DATA = Path(__file__).resolve().parents[1] / "classify" / "feedback" / "data" / "dev.jsonl"


def sample_feedback(
    order_ids: list[str], count: int, *, seed: int = 7, prefix: str = ""
) -> Iterator[tuple[str, bytes | None, bytes]]:
    """``count`` feedback.received events, about half of them naming one of ``order_ids``."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not crypto
    lines = [orjson.loads(line) for line in FEEDBACK_DATA.read_text().splitlines() if line]
    now = datetime.now(UTC)
    for n in range(count):
        line = rng.choice(lines)
        feedback_id = f"FB-{seed}-{n}"
        event: dict[str, Any] = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "schema_version": 1,
            "occurred_at": (now + timedelta(seconds=n)).isoformat(),
            "feedback_id": feedback_id,
            "channel": line.get("channel") or "app",
            "customer_id": f"C-{rng.randint(1, 400):04d}",
            "text": line["text"],
        }
        if line.get("rating") is not None:
            event["rating"] = line["rating"]
        if order_ids and rng.random() < 0.5:
            event["order_id"] = rng.choice(order_ids)
        yield prefix + FEEDBACK_RECEIVED, feedback_id.encode(), orjson.dumps(event)
