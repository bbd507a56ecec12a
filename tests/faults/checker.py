"""The verifier's checker: every output topic and changelog, read to its end, against the input.

Run it with the workers stopped. What it demands:

- every valid input event is classified (its ``event_id`` on its order) and never dead-lettered;
- every bad record is dead-lettered with the expected reason and its original bytes (a prefix
  and the size/SHA-256 headers when too large to send back), exactly once when ``exact`` (no
  crash in the run), else at least once and only repeated with the same source position;
- repeated outputs carry the same ids: a classified record per (order, event) may repeat, a
  notification id always names the same (order, kind, cause event);
- the orders table holds every valid order at the status its applied changes lead to, and
  nothing else; the customers table holds, per customer, the order count and spend per
  currency computed here from the input, to the cent;
- the analytics windows of each size, and the insight buckets behind ``/stats``, count every
  applied event once, no more, no less;
- the consumer group has committed every input and internal record (ticks excepted: a worker
  sends itself a clock tick up to the moment it stops).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter, defaultdict
from decimal import Decimal

import orjson
from aiokafka import TopicPartition

from streams.kafka import clients
from streams.kafka import io as kafka_io
from streams.topics import CLASSIFIED, CREATED, DEADLETTER, NOTIFICATIONS, STATUS_CHANGED
from tests.faults.verifier import VALID, H, Report, Sent
from tests.integration.harness import Record, bootstrap, dead_letter_original, same_original


async def read_all(topics: list[str]) -> dict[str, list[Record]]:
    """Every record of ``topics`` from the beginning up to their end offsets now."""
    consumer = clients.consumer(
        bootstrap(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    out: dict[str, list[Record]] = {t: [] for t in topics}
    try:
        tps = [
            TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or [])
        ]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [
                TopicPartition(t, p)
                for t in topics
                for p in (consumer.partitions_for_topic(t) or [])
            ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        todo = {tp for tp, end in ends.items() if end > 0}
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=1000)
            for tp, records in batch.items():
                out[tp.topic].extend(r for r in records if r.offset < ends[tp])
            todo = {tp for tp in todo if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()
    return out


async def group_lag(group: str, topics: list[str]) -> dict[str, int]:
    """Per topic: records after the group's committed offsets (0 everywhere = all processed)."""
    return await kafka_io.group_lag(bootstrap(), group, topics)


def missing_dead_letters(sent: list[Sent], prefix: str) -> list[str]:
    """The inputs that must be dead-lettered and are not (yet) in the dead-letter topic."""
    dead = asyncio.run(read_all([prefix + DEADLETTER]))[prefix + DEADLETTER]
    positions = {dead_position(r, prefix) for r in dead}
    return [
        f"{s.position} ({s.plan.expect}, key {s.plan.key!r})"
        for s in sent
        if VALID not in s.plan.expect.split("|") and s.position not in positions
    ]


def dead_position(record: Record, prefix: str) -> tuple[str, int, int]:
    topic = header(record, "source_topic").removeprefix(prefix)
    return topic, int(header(record, "source_partition")), int(header(record, "source_offset"))


def header(record: Record, name: str) -> str:
    return dict(record.headers).get(H + name, b"").decode()


def check(sent: list[Sent], prefix: str, app_id: str, *, exact: bool) -> Report:
    """Compare everything the run wrote with everything the broker acknowledged."""
    topics = [prefix + t for t in (CLASSIFIED, NOTIFICATIONS, DEADLETTER)]
    tables = [
        f"{app_id}-orders-changelog",
        f"{app_id}-customers-changelog",
        f"{app_id}-analytics-windows-changelog",
        f"{app_id}-insight-buckets-changelog",
    ]
    read = asyncio.run(read_all(topics + tables))
    report = Report(events=len(sent))
    check_dead_letters(sent, read[prefix + DEADLETTER], prefix, report, exact=exact)
    applied = check_classified(sent, read[prefix + CLASSIFIED], report)
    check_notifications(read[prefix + NOTIFICATIONS], report)
    check_orders_table(sent, applied, read[tables[0]], report)
    check_customers_table(sent, read[tables[1]], report)
    check_windows_table(sent, applied, read[tables[2]], report)
    check_insight_buckets(sent, applied, read[tables[3]], report)
    internal = [
        f"{app_id}-orders-by-customer",
        f"{app_id}-orders-enriched",
        f"{app_id}-insight-customers",
    ]
    inputs = [prefix + t for t in (CREATED, STATUS_CHANGED, CLASSIFIED)]
    lag = asyncio.run(group_lag(app_id, [*inputs, *internal]))
    for topic, behind in lag.items():
        if behind:
            report.problem(f"consumer lag {behind} on {topic} after the run")
    return report


def check_dead_letters(
    sent: list[Sent], dead: list[Record], prefix: str, report: Report, *, exact: bool
) -> None:
    by_position: dict[tuple[str, int, int], list[Record]] = defaultdict(list)
    for r in dead:
        by_position[dead_position(r, prefix)].append(r)
    expected = {s.position: s for s in sent}
    for position, records in by_position.items():
        s = expected.get(position)
        if s is None:
            report.problem(f"dead letter for no acknowledged input: {position}")
            continue
        allowed = set(s.plan.expect.split("|"))
        codes = {header(r, "reason_code") for r in records}
        if not codes <= allowed:
            report.lost += s.plan.expect == VALID
            report.problem(f"{position} dead-lettered as {codes}, expected {s.plan.expect}")
        if len(records) > 1:
            report.duplicate_outputs += len(records) - 1
            if exact:
                report.problem(f"{position} dead-lettered {len(records)} times")
        for r in records:
            if not same_value(r, s.plan.value):
                report.problem(f"{position}: dead letter does not carry the original value")
    for position, s in expected.items():
        allowed = set(s.plan.expect.split("|"))
        if VALID not in allowed and position not in by_position:
            report.lost += 1
            report.problem(f"{position} ({s.plan.expect}) never dead-lettered")
    report.dead_letters = len(by_position)


def same_value(record: Record, original: bytes | None) -> bool:
    value, original = dead_letter_original(record), original or b""
    truncated = header(record, "value_truncated")
    if not truncated:
        # Sealed (docs/security.md): compared once opened, as the replay tool opens it.
        return (
            same_original(record, original) or header(record, "reason_code") == "processing_error"
        )
    digest = header(record, "value_sha256")
    return (
        int(truncated) == len(original)
        and original.startswith(value)
        and digest == hashlib.sha256(original).hexdigest()
    )


def check_classified(sent: list[Sent], classified: list[Record], report: Report) -> set[str]:
    """Every valid event classified; returns the event ids that were applied."""
    seen = Counter((r.key, orjson.loads(r.value)["event_id"]) for r in classified)
    report.duplicate_outputs += sum(n - 1 for n in seen.values())
    applied = {event_id for _, event_id in seen}
    dead_or_expected: set[str] = set()
    for s in sent:
        if s.plan.value is None or s.plan.expect.split("|")[0] != VALID:
            continue
        event = s.event()
        dead_or_expected.add(event["event_id"])
        if s.plan.expect == VALID and event["event_id"] not in applied:
            report.lost += 1
            report.problem(f"{s.position} event {event['event_id']} never classified")
    for key, event_id in seen:
        if event_id not in dead_or_expected:
            report.problem(f"classified {key!r} for event {event_id} that was never sent valid")
    return applied


def check_notifications(notes: list[Record], report: Report) -> None:
    causes: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    count: Counter[str] = Counter()
    for r in notes:
        n = orjson.loads(r.value)
        causes[n["notification_id"]].add((n["order_id"], n["kind"], n["cause_event_id"]))
        count[n["notification_id"]] += 1
    report.duplicate_outputs += sum(n - 1 for n in count.values())
    for notification_id, why in causes.items():
        if len(why) > 1:
            report.problem(f"notification id {notification_id} reused for {sorted(why)}")


def latest(changelog: list[Record]) -> dict[str, dict]:
    state: dict[str, dict] = {}
    for r in changelog:
        key = r.key.decode() if r.key else ""
        if r.value is None:
            state.pop(key, None)
        else:
            state[key] = orjson.loads(r.value)
    return state


def check_orders_table(
    sent: list[Sent], applied: set[str], changelog: list[Record], report: Report
) -> None:
    table = latest(changelog)
    created: dict[str, dict] = {}
    changes: dict[str, list[dict]] = defaultdict(list)
    for s in sent:
        if VALID not in s.plan.expect.split("|"):
            continue
        event = s.event()
        if s.plan.topic == CREATED:
            created[event["order"]["order_id"]] = event
        elif event["event_id"] in applied:
            changes[event["order_id"]].append(event)
    for order_id in created:
        state = table.get(order_id)
        if state is None:
            report.lost += 1
            report.problem(f"order {order_id} missing from the orders table")
            continue
        walk = sorted(changes[order_id], key=lambda e: e["occurred_at"])
        want = walk[-1]["to_status"] if walk else "new"
        got = state["classification"]["status"]
        if got != want:
            report.duplicated_state += 1
            report.problem(f"order {order_id} is {got} in the table, its input says {want}")
    for order_id in set(table) - set(created):
        report.problem(f"order {order_id} in the table but never validly created")


def check_customers_table(sent: list[Sent], changelog: list[Record], report: Report) -> None:
    want: dict[str, tuple[int, Counter[str]]] = {}
    for s in sent:
        if not s.plan.counts:
            continue
        order = s.event()["order"]
        count, spend = want.get(order["customer"]["customer_id"], (0, Counter()))
        spend[order["currency"]] += Decimal(order["total_amount"])
        want[order["customer"]["customer_id"]] = (count + 1, spend)
    table = latest(changelog)
    for customer_id, (count, spend) in want.items():
        stats = table.get(customer_id, {"order_count": 0, "lifetime_spend": {}})
        got_spend = {c: Decimal(str(v)) for c, v in stats["lifetime_spend"].items()}
        if stats["order_count"] != count or got_spend != dict(spend):
            report.duplicated_state += abs(stats["order_count"] - count) or 1
            report.problem(
                f"customer {customer_id}: table {stats['order_count']} orders {got_spend},"
                f" input {count} orders {dict(spend)}"
            )
    for customer_id in set(table) - set(want):
        report.problem(f"customer {customer_id} in the table but never validly counted")


def applied_valid(sent: list[Sent], applied: set[str]) -> int:
    valid = {
        s.event()["event_id"]
        for s in sent
        if s.plan.value is not None and VALID in s.plan.expect.split("|")
    }
    return len(valid & applied)


def check_insight_buckets(
    sent: list[Sent], applied: set[str], changelog: list[Record], report: Report
) -> None:
    """The insight buckets (``/stats``) count every applied event once in ``status``."""
    want = applied_valid(sent, applied)
    got = sum(
        cell["count"]
        for bucket in latest(changelog).values()
        for cell in bucket["cells"].get("status", {}).values()
    )
    report.windows_off = max(report.windows_off, abs(got - want))
    if got != want:
        report.problem(f"insight buckets count {got} events in status, {want} were applied")


def check_windows_table(
    sent: list[Sent], applied: set[str], changelog: list[Record], report: Report
) -> None:
    """Each window size counts every applied event (created or status change) exactly once,
    crash or no crash (each window records the offsets it has counted)."""
    want = applied_valid(sent, applied)
    counted: Counter[int] = Counter()
    for window in latest(changelog).values():
        counted[window["window_seconds"]] += window["events"]
    if want and not counted:
        report.problem(f"no analytics windows, {want} applied events")
    for size, got in sorted(counted.items()):
        report.windows_off = max(report.windows_off, abs(got - want))
        if got != want:
            report.problem(f"{size}s windows count {got} events, {want} were applied")
