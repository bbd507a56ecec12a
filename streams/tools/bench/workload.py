"""The benchmark's input: seeded sample orders, padded to real sizes, one customer per partition.

Two adjustments to ``streams.tools.sample.SampleStream``, both so that measurements are comparable:

- **Sizes.** Real order events carry more than the sample's fields (product titles, warehouse,
  discounts; carrier and tracking number on status changes). Extra fields are accepted by the
  schema (``extra="allow"``) and travel with the order, so the padding costs what it would in
  production: created orders are ~0.9 KB, status changes ~0.5 KB.
- **A customer's orders share one input partition.** Customer history follows processing order,
  and Kafka orders nothing across partitions, so two systems could legitimately see a
  customer's orders in different orders and segment them differently. With each order id
  suffixed until it hashes (murmur2, as producers must) to its customer's partition, history is
  deterministic and the classifications of ordertriage and the peer can be compared digest for
  digest.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
from aiokafka.partitioner import murmur2

from streams.tools.sample import SampleStream
from streams.topics import CREATED

#: Input records per sample order (creation plus ~3.9 status changes on average).
RECORDS_PER_ORDER = 4.9

WAREHOUSES = ["SH-01", "BJ-02", "GZ-03", "CD-04", "WH-05"]
CARRIERS = ["SF Express", "JD Logistics", "EMS", "ZTO", "YTO"]
COLORS = ["black", "white", "silver", "blue", "red", "natural oak"]


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java client, aiokafka): murmur2 of the key bytes."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class Workload:
    """``events`` input records (about; whole orders) of ``seed``, for topics under ``prefix``."""

    events: int
    seed: int = 4242
    partitions: int = 4
    order_prefix: str = "BO"

    @property
    def orders(self) -> int:
        return max(1, round(self.events / RECORDS_PER_ORDER))

    def records(self, prefix: str) -> Iterator[tuple[str, bytes, bytes]]:
        rng = random.Random(self.seed)  # noqa: S311 - reproducible padding, not crypto
        sample = SampleStream(
            self.orders, seed=self.seed, bad_share=0.0, order_prefix=self.order_prefix
        )
        renamed: dict[str, str] = {}
        for topic, _key, value in sample:
            event = orjson.loads(value)
            if topic == CREATED:
                order = event["order"]
                order_id = self._aligned_id(order["order_id"], order["customer"]["customer_id"])
                renamed[order["order_id"]] = order_id
                order["order_id"] = order_id
                _pad_created(order, rng)
            else:
                order_id = renamed[event["order_id"]]
                event["order_id"] = order_id
                _pad_status(event, rng)
            yield prefix + topic, order_id.encode(), orjson.dumps(event)

    def _aligned_id(self, order_id: str, customer_id: str) -> str:
        wanted = partition_of(customer_id.encode(), self.partitions)
        candidate, n = order_id, 0
        while partition_of(candidate.encode(), self.partitions) != wanted:
            n += 1
            candidate = f"{order_id}-{n}"
        return candidate


def _pad_created(order: dict[str, object], rng: random.Random) -> None:
    items = order["items"]
    assert isinstance(items, list)
    for item in items:
        item["title"] = f"{item['product_type'].title()} model {item['sku']} {rng.choice(COLORS)}"
        item["warehouse"] = rng.choice(WAREHOUSES)
        item["discount"] = "0.00"
        item["tax_rate"] = "0.13"
        item["attributes"] = {"color": rng.choice(COLORS), "warranty_months": rng.choice([0, 12])}
    order["shipping"] = {
        "method": rng.choice(["standard", "express", "pickup"]),
        "warehouse": rng.choice(WAREHOUSES),
        "promised_days": rng.randint(1, 7),
    }
    order["source_system"] = "erp-eu-central/orders-v3"
    order["sales_rep"] = f"rep-{rng.randint(100, 999)}"


def _pad_status(event: dict[str, object], rng: random.Random) -> None:
    event["source_system"] = "erp-eu-central/fulfilment-v2"
    event["warehouse"] = rng.choice(WAREHOUSES)
    event["shipment"] = {
        "carrier": rng.choice(CARRIERS),
        "tracking_number": f"TRK{rng.getrandbits(48):012X}",
        "parcels": rng.randint(1, 4),
        "weight_kg": round(rng.uniform(0.2, 40), 2),
    }
    event["note"] = "status updated by the fulfilment workflow; see the order history for details"
