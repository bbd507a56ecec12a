"""Queryable state over HTTP on two workers: every response checked against /openapi.json.

Two workers share the partitions, so counts and open orders must be gathered from both, and
customer lookups forwarded to the owner; asking either worker must give the same answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.integration import events as ev
from tests.integration.harness import CLASSIFIED, Kafka, Worker, wait_for
from tests.integration.openapi_check import Contract

TIERS = {"250.00": "low", "4800.00": "medium", "12500.00": "high"}


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    first = Worker(tmp_path).start()
    second = Worker(
        tmp_path,
        run_id=first.run_id,  # same app id and topics: a second member of the group
        env_overrides={"ORDERTRIAGE_DATA_DIR": str(tmp_path / "data-second")},
    ).start()
    try:
        yield first, second
    finally:
        second.stop()
        first.stop()


def test_queries_agree_with_the_events_and_the_openapi_description(
    workers: tuple[Worker, Worker],
) -> None:
    first, second = workers

    def settled() -> bool:
        # Both members own partitions and together all of them: the join's rebalance is over.
        shares = []
        for worker in (first, second):
            r = worker.get("/stats/status", scope="local")
            if r.status_code != 200 or not r.json()["partitions"]:
                return False
            shares.append(set(r.json()["partitions"]))
        return not shares[0] & shares[1] and len(shares[0] | shares[1]) == 4

    wait_for(settled, 60, "both workers sharing the partitions")
    kafka = Kafka(first)
    now = datetime.now(UTC)
    amounts = list(TIERS)
    produced = []
    for n in range(24):
        amount = amounts[n % 3]
        ptype = ["electronics", "furniture"][n % 2]
        event = ev.created(
            f"Q{n}",
            f"C-Q{n % 5}",
            amount,
            currency="CNY",
            items=[{"sku": f"S{n}", "product_type": ptype, "quantity": 1, "unit_price": amount}],
        )
        event["occurred_at"] = (now - timedelta(minutes=10)).isoformat()
        kafka.created(ev.dumps(event), f"Q{n}")
        produced.append((f"Q{n}", f"C-Q{n % 5}", Decimal(amount), ptype))
    # Sent once each order is classified: a status change must not overtake its order here.
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 24)
    cancel = ev.status("Q0", "new", "cancelled")
    cancel["occurred_at"] = (now - timedelta(minutes=5)).isoformat()
    kafka.status(ev.dumps(cancel), "Q0")
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 25)
    kafka.close()

    contract = Contract(first.get("/openapi.json").json(), first.url, second.url)

    def get(worker: Worker, path: str, _valid: bool = True, **params: object) -> httpx.Response:
        response = worker.get(path, **params)
        return contract.check(response, valid_request=_valid)

    def counted() -> bool:
        r = get(first, "/stats/status", window="last_hour")
        return r.status_code == 200 and r.json()["total"] == 25

    wait_for(counted, 60, "25 records counted in the last hour")

    # Counts per tier: computed here from what was produced.
    tiers = Counter(TIERS[str(a)] for _, _, a, _ in produced)
    tier_amounts: dict[str, Decimal] = Counter()
    for _, _, a, _ in produced:
        tier_amounts[TIERS[str(a)]] += a
    for worker in (first, second):
        for window in ("last_hour", "today", "last_7_days"):
            body = get(worker, "/stats/value_tier", window=window).json()
            got = {v["value"]: (v["count"], Decimal(v["amounts"]["CNY"])) for v in body["values"]}
            assert got == {t: (tiers[t], tier_amounts[t]) for t in tiers}, (worker.port, window)
    status = get(second, "/stats/status", window="today").json()
    assert {v["value"]: v["count"] for v in status["values"]} == {"new": 24, "cancelled": 1}
    assert get(first, "/stats/nope", False).status_code == 404
    assert get(first, "/stats/priority", False, window="yesterday").status_code == 400

    # Open orders: 23 (Q0 was cancelled), paged 5 at a time, from either worker.
    expected = sorted(o for o, _, _, t in produced if t == "electronics" and o != "Q0")
    for worker in (first, second):
        seen, after = [], None
        while True:
            params = {"dimension": "product_type", "value": "electronics", "limit": 5}
            body = get(worker, "/open-orders", **params, **({"after": after} if after else {}))
            body = body.json()
            seen += [item["order_id"] for item in body["items"]]
            after = body["next"]
            if after is None:
                break
        assert sorted(seen) == expected and len(seen) == len(set(seen))
    assert get(first, "/open-orders", False, limit=0).status_code == 400

    # Customers: C-Q0 ordered Q0, Q5, Q10, Q15, Q20; forwarded to the owner from either worker.
    mine = [(o, a) for o, c, a, _ in produced if c == "C-Q0"]
    for worker in (first, second):
        body = get(worker, "/customers/C-Q0").json()
        assert body["order_count"] == len(mine)
        assert Decimal(body["lifetime_spend"]["CNY"]) == sum(a for _, a in mine)
        # The segment of the customer's latest order (same occurred_at: the highest order id).
        latest = max(o for o, _ in mine)
        assert body["segment"] == get(first, f"/orders/{latest}").json()["customer_segment"]
        # No contact data; the care stage's view (docs/customers.md) once it has the orders.
        assert set(body) == {"customer_id", "segment", "order_count", "lifetime_spend", "care"}
        assert body["care"] is None or body["care"]["segment"] in {"new", "regular", "vip"}
    assert get(second, "/customers/nobody").status_code == 404
    get(first, "/orders/Q1")
    get(second, "/orders/Q1/explain")
    get(first, "/healthz")
