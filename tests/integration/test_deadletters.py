"""Bad input never stops the stream: every case lands in the dead-letter topic exactly once,
with the original bytes and where it came from, and the next valid event is processed."""

from __future__ import annotations

from collections import Counter

import orjson

from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    CREATED,
    DEADLETTER,
    STATUS_CHANGED,
    Kafka,
    Record,
    same_original,
)

H = "ordertriage.dlq."


def header(record: Record, name: str) -> str:
    return dict(record.headers)[H + name].decode()


def test_every_bad_input_is_dead_lettered_once(kafka: Kafka) -> None:
    good = ev.created("G1", "C-G", "2000.00")
    missing = {k: v for k, v in ev.created("X1", "C-X", "1.00").items() if k != "order"}
    wrong_type = ev.created("X2", "C-X", "1.00")
    wrong_type["order"]["total_amount"] = "lots"
    bad_enum = ev.created("X3", "C-X", "1.00")
    bad_enum["order"]["customer"]["type"] = "martian"
    deep = b'{"event_id": "d", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    dup = ev.created("G2", "C-G", "3000.00")
    same_order = ev.created("G2", "C-G", "3000.00")  # same order id, another event id
    confirm = ev.status("G1", "new", "confirmed")

    bad_created: dict[str, bytes | None] = {
        "invalid_json": b'{"event_id": "broken", "order": {',
        "not_utf8": b'{"event_id": "\xff\xfe"}',
        "empty_value": None,
        "schema_violation/missing": orjson.dumps(missing),
        "schema_violation/type": orjson.dumps(wrong_type),
        "schema_violation/enum": orjson.dumps(bad_enum),
        "invalid_json/deep": deep,
        "too_large": b'{"pad": "' + b"x" * 70_000 + b'"}',
    }
    sent: dict[str, tuple[str, int, int, bytes | None]] = {}
    for label, value in bad_created.items():
        meta = kafka.send(CREATED, value, b"X")
        sent[label] = (meta.topic, meta.partition, meta.offset, value)
    meta = kafka.send(CREATED, orjson.dumps(ev.created("N1", "C-N", "5.00")), None)  # null key
    kafka.created(ev.dumps(good), "G1")
    kafka.created(ev.dumps(dup), "G2")
    meta = kafka.created(ev.dumps(dup), "G2")
    sent["duplicate_event/created"] = (meta.topic, meta.partition, meta.offset, ev.dumps(dup))
    meta = kafka.created(ev.dumps(same_order), "G2")
    sent["duplicate_order"] = (meta.topic, meta.partition, meta.offset, ev.dumps(same_order))
    kafka.status(ev.dumps(confirm), "G1")
    bad_status = {
        "duplicate_event/status": ev.dumps(confirm),
        "invalid_transition": ev.dumps(ev.status("G1", "confirmed", "completed", minutes=9)),
        "status_mismatch": ev.dumps(ev.status("G1", "new", "cancelled", minutes=9)),
        "unknown_order": ev.dumps(ev.status("GHOST", "new", "confirmed")),
        "schema_violation/status": b'{"event_id": "s", "order_id": "G1", "to_status": "x"}',
    }
    for label, value in bad_status.items():
        key = b"GHOST" if label == "unknown_order" else b"G1"
        meta = kafka.send(STATUS_CHANGED, value, key)
        sent[label] = (meta.topic, meta.partition, meta.offset, value)
    # Processing goes on after all that: this one must be classified.
    kafka.status(ev.dumps(ev.status("G1", "confirmed", "processing", minutes=10)), "G1")

    dead = kafka.read(DEADLETTER, lambda rs: len(rs) >= len(sent), timeout=60)
    assert len(dead) == len(sent), [header(r, "reason_code") for r in dead]
    by_source = {
        (
            header(r, "source_topic"),
            int(header(r, "source_partition")),
            int(header(r, "source_offset")),
        ): r
        for r in dead
    }
    for label, (topic, partition, offset, value) in sent.items():
        record = by_source[(topic, partition, offset)]
        assert header(record, "reason_code") == label.split("/")[0], label
        assert (record.value or b"") != (value or b"") or not value, label  # sealed
        assert same_original(record, value), label  # the original, once opened
        assert header(record, "reason"), label
        assert header(record, "error_class"), label
        assert header(record, "failed_at"), label
    assert Counter(header(r, "reason_code") for r in dead)["duplicate_event"] == 2

    classified = kafka.read(CLASSIFIED, lambda rs: len(rs) >= 5)
    statuses = [ev.loads(r.value) for r in classified if r.key == b"G1"]
    assert [s["status"] for s in statuses] == ["new", "confirmed", "processing"]
    orders = {ev.loads(r.value)["order_id"] for r in classified}
    assert orders == {"G1", "G2", "N1"}  # a null key is tolerated: the order id is in the value
