"""The locked HTTP API on two real workers sharing the partitions and one generated token.

Neither worker is given a token: the first generates one into a private file, the second
reuses it (two workers on one machine). Every route of openapi.yaml that declares the API
token is tried on both workers without a token, with a wrong one and with the right one, so a
route added later cannot be forgotten; a lookup of a key the other worker owns is forwarded
with the token, and the gathered figures come from both.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import murmur2

from streams.apiauth import headers
from streams.topics import FEEDBACK_RECEIVED
from streams.web import OPEN_PATHS
from streams.web.insight import SPEC
from tests.integration import events as ev
from tests.integration.harness import CLASSIFIED, Kafka, Worker, wait_for
from tests.integration.openapi_check import Contract

pytestmark = pytest.mark.integration


def spread(per_partition: int = 2, partitions: int = 4) -> list[str]:
    """Order ids on every partition (murmur2, as the producer places them): each worker owns
    some, whatever the assignment."""
    chosen: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(ids) < per_partition for ids in chosen.values()):
        order_id = f"AUTH-{n}"
        ids = chosen[(murmur2(order_id.encode()) & 0x7FFFFFFF) % partitions]
        if len(ids) < per_partition:
            ids.append(order_id)
        n += 1
    return sorted(o for ids in chosen.values() for o in ids)


ORDERS = spread()
PERSON = "u-7"  # ev.status's changed_by: a staff member once the status change is counted


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, Worker, Path]]:
    tmp = tmp_path_factory.mktemp("api")
    token_file = tmp / "run" / "api-token"
    shared = {"ORDERTRIAGE_API_TOKEN": "", "ORDERTRIAGE_API_TOKEN_GENERATED_FILE": str(token_file)}
    first = Worker(tmp, env_overrides=shared).start(timeout=120)
    second = Worker(
        tmp,
        run_id=first.run_id,  # same app id and topics: a second member of the group
        instance="-b",
        env_overrides={**shared, "ORDERTRIAGE_DATA_DIR": str(tmp / "data-b")},
    ).start(timeout=120)
    try:
        yield first, second, token_file
    finally:
        second.stop()
        first.stop()


def local_partitions(worker: Worker) -> set[int] | None:
    r = worker.get("/stats/status", scope="local")
    return set(r.json()["partitions"]) if r.status_code == 200 else None


def test_generated_token_is_shared_private_and_only_its_path_is_logged(
    run: tuple[Worker, Worker, Path],
) -> None:
    first, second, token_file = run
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    for worker in (first, second):
        worker.token = token
        log = worker.log_path.read_text(errors="replace")
        assert token not in log
        wait_for(
            lambda w=worker: str(token_file) in w.log_path.read_text(errors="replace"),
            30,
            f"the token file's path in {worker.log_path}",
        )
    assert "(generated)" in first.log_path.read_text()
    assert "(reused)" in second.log_path.read_text()


def paths() -> list[tuple[str, list[Any]]]:
    """Every GET route of openapi.yaml with the security it declares (the default: the API's)."""
    return [
        (path, ops["get"].get("security", SPEC["security"])) for path, ops in SPEC["paths"].items()
    ]


def test_every_data_route_is_locked_and_a_forwarded_lookup_works(
    run: tuple[Worker, Worker, Path],
) -> None:
    first, second, token_file = run
    token = token_file.read_text().strip()
    first.token = second.token = token

    def settled() -> bool:
        shares = [local_partitions(w) for w in (first, second)]
        if shares[0] is None or shares[1] is None or not shares[0] or not shares[1]:
            return False
        return not shares[0] & shares[1] and len(shares[0] | shares[1]) == 4

    wait_for(settled, 90, "both workers sharing the four partitions")
    kafka = Kafka(first)
    for n, order_id in enumerate(ORDERS):
        kafka.created(ev.dumps(ev.created(order_id, f"C-AUTH-{n}", "4800.00")), order_id)
    classified = kafka.read(CLASSIFIED, lambda rs: len(rs) >= len(ORDERS))
    kafka.status(ev.dumps(ev.status(ORDERS[0], "new", "confirmed")), ORDERS[0])
    kafka.send(
        FEEDBACK_RECEIVED,
        ev.dumps(ev.feedback("FB-AUTH", "delivery was late", customer_id="C-AUTH-0")),
        b"FB-AUTH",
    )
    kafka.read(CLASSIFIED, lambda rs: len(rs) > len(ORDERS))
    kafka.close()

    values = {
        "order_id": ORDERS[0],
        "customer_id": "C-AUTH-0",
        "feedback_id": "FB-AUTH",
        "person_id": PERSON,
        "dimension": "status",
    }
    contract = Contract(first.get("/openapi.json").json(), first.url, second.url)
    locked = [p for p, security in paths() if security and {} not in security]
    open_ = [p for p, security in paths() if not security]
    assert set(open_) == OPEN_PATHS and "/orders/{order_id}" in locked
    for path in [p for p, _ in paths()]:
        url_path = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
        for worker in (first, second):
            url = f"{worker.url}{url_path}"
            if path not in locked:  # probes, and /metrics on loopback
                assert httpx.get(url, timeout=10).status_code == 200, path
                continue
            for given in ({}, headers("wrong-token-" + "w" * 30), {"Authorization": token}):
                r = httpx.get(url, headers=given, timeout=10)
                assert r.status_code == 401, (path, given.keys(), r.text)
                assert r.headers["WWW-Authenticate"].startswith('Bearer realm="ordertriage"')
                contract.check(r, valid_request=False)

            def answered(w: Worker = worker, p: str = url_path) -> bool:
                return w.get(p).status_code == 200  # data may still be on its way

            wait_for(answered, 60, f"200 from {url} with the token")
            contract.check(worker.get(url_path))

    # A key on the other worker's partitions: forwarded by table_route with the token.
    owned = {w.url: local_partitions(w) or set() for w in (first, second)}
    by_partition = {r.key.decode(): r.partition for r in classified if r.key}
    assert set(by_partition.values()) == {0, 1, 2, 3}, by_partition
    for asked, owner in ((first, second), (second, first)):
        order_id = next(o for o, p in by_partition.items() if p in owned[owner.url])
        body = asked.get(f"/orders/{order_id}").json()
        assert body["order_id"] == order_id, body
        assert httpx.get(f"{asked.url}/orders/{order_id}", timeout=10).status_code == 401

    # Gathered from both workers (the peer's share fetched with the token): every order counted.
    def counted() -> bool:
        r = first.get("/stats/value_tier", window="today")
        return r.status_code == 200 and r.json()["total"] == len(ORDERS)

    wait_for(counted, 60, f"{len(ORDERS)} orders counted across both workers")
