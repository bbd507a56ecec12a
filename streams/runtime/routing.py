"""Route a table lookup to its owner even before this worker has written to that table.

Faust's router finds a key's owner with the producer's partitioner over the producer's
metadata of the table's changelog. aiokafka's producer learns a topic's metadata only when it
first sends to it, so a worker that had not yet written a record of a table (none of its keys
on its partitions) failed every forwarded lookup of that table with a ``TypeError`` (HTTP 500)
until it did: seen in CI as ``/customers/{id}`` and ``/orders/{id}`` never answering from the
worker that does not own the key. The assignment already lists every partition of each
changelog with its owner, so the same partitioner runs over those when the producer knows
nothing yet; a topic the assignment lacks too is unavailable (503, retry), not an error.
"""

from __future__ import annotations

from typing import Any

from faust.assignor.partition_assignor import PartitionAssignor
from faust.types import TP
from yarl import URL


def _key_store(self: PartitionAssignor, topic: str, key: bytes) -> URL:
    producer: Any = self.app.producer._ensure_producer()  # type: ignore[attr-defined]
    known = producer._metadata.partitions_for_topic(topic)
    partitions = sorted(known or {tp.partition for tp in self._tps_url if tp.topic == topic})
    if not partitions:
        raise KeyError(topic)  # Faust's router answers 503 Service Unavailable
    partition = producer._partitioner(key, partitions, partitions)
    return URL(self._tps_url[TP(topic, partition)])


def install() -> None:
    """Replace Faust's ``PartitionAssignor.key_store`` (process-wide, idempotent)."""
    PartitionAssignor.key_store = _key_store  # type: ignore[method-assign]
