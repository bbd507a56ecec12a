"""Where a key belongs, and which producer pattern put a record elsewhere."""

from __future__ import annotations

import zlib

from aiokafka.partitioner import DefaultPartitioner

from streams.kafka.partitioning import Pattern, Routing, partition_of, pattern_of

N = 12


def test_partition_of_is_what_aiokafka_and_faust_choose() -> None:
    for n in range(500):
        key = f"SO-{n:05d}".encode()
        assert partition_of(key, N) == DefaultPartitioner()(key, list(range(N)), list(range(N)))


def test_correctly_partitioned_records_are_not_misrouted_nor_counted() -> None:
    routing = Routing(N)
    for n in range(200):
        key = f"SO-{n}".encode()
        assert routing.misrouted("in", key, partition_of(key, N), f"SO-{n}") is None
    assert not routing.seen


def test_librdkafka_default_partitioner_is_recognised_and_counted() -> None:
    routing = Routing(N)
    patterns = []
    for n in range(300):
        key = f"SO-{n}".encode()
        crc = zlib.crc32(key) % N
        patterns.append(routing.misrouted("in", key, crc, f"SO-{n}"))
    wrong = [p for p in patterns if p is not None]
    # About 1 in N keys hashes to the same partition either way; the rest are misrouted.
    assert len(wrong) > 250 and set(wrong) == {Pattern.LIBRDKAFKA_CONSISTENT}
    assert routing.seen[("in", Pattern.LIBRDKAFKA_CONSISTENT)] == len(wrong)
    assert routing.summary()["in"]["librdkafka_consistent_fix"].startswith("set partitioner")


def test_null_keys_and_foreign_keys_are_told_apart() -> None:
    owner = b"SO-1"
    right = partition_of(owner, N)
    other = (right + 1) % N
    assert pattern_of(None, other, owner, N) is Pattern.NULL_KEY
    assert pattern_of(b"C-9", other, owner, N) is Pattern.KEY_MISMATCH
    routing = Routing(N)
    assert routing.misrouted("in", None, right, "SO-1") is None  # null key, right partition
    assert routing.misrouted("in", None, other, "SO-1") is Pattern.NULL_KEY
