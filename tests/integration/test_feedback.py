"""Customer feedback end to end on the real broker: received -> classified, routed, notified,
linked to its order, on the clock, in the review queue, and answered over HTTP."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

from streams.topics import (
    FEEDBACK_CLASSIFIED,
    FEEDBACK_CORRECTIONS,
    FEEDBACK_RECEIVED,
    FEEDBACK_STATUS,
)
from tests.integration import events as ev
from tests.integration.harness import (
    CLASSIFIED,
    DEADLETTER,
    NOTIFICATIONS,
    Kafka,
    Worker,
    wait_for,
)
from tests.integration.openapi_check import Contract

MESSAGES = [
    # (feedback id, text, channel, rating, expected category or None = review)
    ("FB-1", "快递 three days late 还没到,物流信息一直不更新", "chat", 2, "delivery_issue"),
    (
        "FB-2",
        "The filter cartridge does not fit the housing, water leaks everywhere",
        "email",
        1,
        "product_issue",
    ),
    ("FB-3", "发票抬头开错了,多扣了两百块钱,麻烦退一下差价", "phone", None, "billing_issue"),
    (
        "FB-4",
        "Your support agent Lily was patient and solved it in five minutes, thanks!",
        "review",
        5,
        "praise",
    ),
    ("FB-5", "嗯", "app", None, None),
]


def test_feedback_is_classified_routed_linked_and_answered(worker: Worker, kafka: Kafka) -> None:
    kafka.created(ev.dumps(ev.created("SO-9", "C-9", "30000.00", vip=True)), "SO-9")
    kafka.read(CLASSIFIED, lambda rs: len(rs) >= 1)
    for fid, text, channel, rating, _ in MESSAGES:
        order = "SO-9" if fid == "FB-1" else None
        event = ev.feedback(
            fid,
            text,
            channel=channel,
            rating=rating,
            order_id=order,
            customer_id="C-9" if order else f"C-{fid}",
        )
        kafka.send(FEEDBACK_RECEIVED, ev.dumps(event), fid.encode())
    kafka.send(FEEDBACK_RECEIVED, b'{"feedback_id": "FB-x", "text": ""}', b"FB-x")
    records = kafka.read(FEEDBACK_CLASSIFIED, lambda rs: len({r.key for r in rs}) >= 5)
    got = {r.key.decode(): ev.loads(r.value) for r in records}
    for fid, _, _, _, category in MESSAGES:
        if category is None:
            assert got[fid]["needs_review"] and got[fid]["team"] is None, got[fid]
        else:
            assert (got[fid]["category"], got[fid]["needs_review"]) == (category, False), got[fid]
            assert got[fid]["assignee"], got[fid]
    assert got["FB-1"]["priority"] == "P2"  # a delivery complaint on a VIP's high-value order
    for r in records:  # the text stays in the input topic (reasons name keywords and n-grams)
        assert "物流信息一直不更新".encode() not in r.value and b"water leaks" not in r.value

    # The order is tagged; the team and the triage queue are told.
    tagged = kafka.read(CLASSIFIED, lambda rs: any(b"has-complaint" in r.value for r in rs))
    assert any(ev.loads(r.value)["event_id"] == "feedback:FB-1" for r in tagged)
    notes = kafka.read(NOTIFICATIONS, lambda rs: sum(b"feedback_" in r.value for r in rs) >= 5)
    kinds = {ev.loads(r.value).get("feedback_id"): ev.loads(r.value)["kind"] for r in notes}
    assert kinds["FB-5"] == "feedback_review" and kinds["FB-2"] == "feedback_assigned"
    dead = kafka.read(DEADLETTER, lambda rs: len(rs) >= 1)
    assert any(r.key == b"FB-x" for r in dead)

    contract = Contract(worker.get("/openapi.json").json(), worker.url)
    one = contract.check(worker.get("/feedback/FB-2")).json()
    assert one["team"] == "quality" and one["explain"]["model_version"].startswith("fb-")
    review = contract.check(worker.get("/feedback/queue?team=review")).json()
    assert [i["feedback_id"] for i in review["items"]] == ["FB-5"]
    assignee = one["assignee"]
    mine = contract.check(worker.get(f"/feedback/queue?assignee={assignee}")).json()
    assert "FB-2" in {i["feedback_id"] for i in mine["items"]}

    # A person resolves it: it leaves the queue; a status for an unknown feedback is refused.
    done = ev.feedback_status("FB-2", "resolved", by=assignee)
    kafka.send(FEEDBACK_STATUS, ev.dumps(done), b"FB-2")
    kafka.send(FEEDBACK_STATUS, ev.dumps(ev.feedback_status("FB-404", "resolved")), b"FB-404")
    kafka.read(
        FEEDBACK_CLASSIFIED,
        lambda rs: any(r.key == b"FB-2" and ev.loads(r.value)["status"] == "resolved" for r in rs),
    )
    mine = contract.check(worker.get(f"/feedback/queue?assignee={assignee}")).json()
    assert "FB-2" not in {i["feedback_id"] for i in mine["items"]}
    dead = kafka.read(DEADLETTER, lambda rs: any(r.key == b"FB-404" for r in rs))
    assert contract.check(worker.get("/feedback/nope")).status_code == 404

    # Someone in triage gives FB-5 its category: it is routed, and the label is kept.
    fix = {
        "event_id": "c-5",
        "schema_version": 1,
        "occurred_at": done["occurred_at"],
        "feedback_id": "FB-5",
        "value": "service_issue",
        "corrected_by": "u-9",
    }
    kafka.send(FEEDBACK_CORRECTIONS, ev.dumps(fix), b"FB-5")
    kafka.read(
        FEEDBACK_CLASSIFIED,
        lambda rs: any(r.key == b"FB-5" and ev.loads(r.value)["corrected_by"] for r in rs),
    )
    review = contract.check(worker.get("/feedback/queue?team=review")).json()
    assert review["items"] == []
    routed = contract.check(worker.get("/feedback/FB-5")).json()
    assert (routed["category"], routed["team"]) == ("service_issue", "service")
    labels = worker.data_dir / "corrections.jsonl"
    cli(worker, "feedback", "corrections", "--out", str(labels))
    (line,) = [ev.loads(x) for x in labels.read_bytes().splitlines()]
    assert (line["id"], line["text"], line["label"]) == ("FB-5", "嗯", "service_issue")


def test_a_model_is_published_as_a_shadow_compared_and_promoted_without_a_restart(
    worker: Worker, kafka: Kafka, tmp_path: Path
) -> None:
    """Retrain (with the dev split too: another model), publish it as a shadow, read the
    comparison, promote: the running worker classifies with it from then on."""
    out, data = tmp_path / "model", DATA / "train.jsonl"
    train = cli(
        worker,
        "feedback",
        "train",
        "--out",
        str(out),
        "--data",
        str(data),
        "--data",
        str(DATA / "dev.jsonl"),
    )
    candidate = re.search(r"model (fb-[0-9a-f]{12})", train.stdout)
    assert candidate is not None, train.stdout
    shipped = ev.loads(cli(worker, "feedback", "classify", "--jsonl", "-", stdin=SAMPLE).stdout)
    assert candidate.group(1) != shipped["model_version"]
    cli(worker, "feedback", "publish", "--model", str(out), "--shadow", "--by", "ana")

    def send(fid: str) -> None:
        event = ev.feedback(fid, "快递 three days late 还没到", channel="chat")
        kafka.send(FEEDBACK_RECEIVED, ev.dumps(event), fid.encode())

    def classified(fid: str) -> dict:
        rs = kafka.read(FEEDBACK_CLASSIFIED, lambda rs: any(r.key == fid.encode() for r in rs))
        return next(ev.loads(r.value) for r in rs if r.key == fid.encode())

    send("FB-s1")
    first = classified("FB-s1")
    assert first["model_version"] == shipped["model_version"]  # the live one decides
    assert first["shadow_model_version"] == candidate.group(1)
    report = cli(worker, "feedback", "shadow").stdout
    assert f"shadow {candidate.group(1)}: 1/1 agree" in report, report
    assert "promoted" not in cli(worker, "feedback", "models").stdout
    cli(worker, "feedback", "promote", "--by", "ana")
    listed = cli(worker, "feedback", "models").stdout
    assert f"live: {candidate.group(1)}; shadow: none" in listed, listed

    def promoted() -> bool:
        send(f"FB-p{time.monotonic_ns()}")
        rs = kafka.read(FEEDBACK_CLASSIFIED, lambda rs: len(rs) >= 2, timeout=10)
        return any(ev.loads(r.value)["model_version"] == candidate.group(1) for r in rs)

    wait_for(promoted, 60, "the worker classifying with the promoted model")


DATA = Path(__file__).parents[2] / "streams" / "classify" / "feedback" / "data"
SAMPLE = '{"id": "x", "text": "快递 three days late 还没到", "channel": "chat"}\n'


def cli(worker: Worker, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "streams.cli", *args],
        env=worker.env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result
