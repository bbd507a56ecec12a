"""Which partition a key belongs on, and which producer pattern put a record elsewhere.

ordertriage keeps each order's state on the partition Kafka's default partitioner (murmur2 of
the key, as the Java client and aiokafka compute it) gives its order id. Upstream producers
are not ours to configure: librdkafka's default (``consistent_random``: CRC-32 of the key),
null keys, or keys other than the order id put a record on another partition, where its
order's state does not live. ``Routing`` tells which records those are (and counts the
pattern, for operators who can fix the producer); the order agent re-keys them.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from aiokafka.partitioner import murmur2


class Pattern(StrEnum):
    NULL_KEY = "null_key"  # no key: librdkafka and aiokafka spread such records at random
    KEY_MISMATCH = "key_mismatch"  # keyed by something other than the order id
    LIBRDKAFKA_CONSISTENT = "librdkafka_consistent"  # CRC-32 of the key (librdkafka default)
    OTHER = "other"  # some other partitioner, or a different partition count upstream


ADVICE = {
    Pattern.NULL_KEY: "key each record by its order id",
    Pattern.KEY_MISMATCH: "key each record by its order id",
    Pattern.LIBRDKAFKA_CONSISTENT: "set partitioner=murmur2_random in the librdkafka producer",
    Pattern.OTHER: "use Kafka's default (murmur2) partitioner keyed by the order id",
}


def partition_of(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (Java client, aiokafka, Faust) for a non-null key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def pattern_of(key: bytes | None, partition: int, owner: bytes, partitions: int) -> Pattern:
    """Why a record keyed ``key`` for ``owner`` landed on ``partition`` (a misrouted one)."""
    if key is None:
        return Pattern.NULL_KEY
    if key != owner:
        return Pattern.KEY_MISMATCH
    if zlib.crc32(key) % partitions == partition:
        return Pattern.LIBRDKAFKA_CONSISTENT
    return Pattern.OTHER


@dataclass
class Routing:
    """Checks input records against the partition their owner's state lives on."""

    partitions: int
    #: (topic, pattern) -> misrouted records seen by this worker.
    seen: Counter[tuple[str, Pattern]] = field(default_factory=Counter)

    def misrouted(
        self, topic: str, key: bytes | None, partition: int, owner: str
    ) -> Pattern | None:
        """None when the record is where ``owner``'s state lives; else the pattern (counted)."""
        wanted = owner.encode()
        if key == wanted and partition_of(wanted, self.partitions) == partition:
            return None  # the usual case: one comparison and one hash
        if partition_of(wanted, self.partitions) == partition:
            return None  # keyed otherwise, yet on the right partition: nothing to do
        pattern = pattern_of(key, partition, wanted, self.partitions)
        self.seen[(topic, pattern)] += 1
        return pattern

    def summary(self) -> dict[str, dict[str, int | str]]:
        """Per input topic: misrouted records per pattern, and the producer fix for each."""
        out: dict[str, dict[str, int | str]] = {}
        for (topic, pattern), n in sorted(self.seen.items()):
            out.setdefault(topic, {})[pattern.value] = n
            out[topic][f"{pattern.value}_fix"] = ADVICE[pattern]
        return out
