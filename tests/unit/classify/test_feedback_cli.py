"""``ordertriage feedback`` train / classify / evaluate on small files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from streams.cli.main import main
from tests.unit.classify.conftest import read_jsonl


def write(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_classify_writes_one_line_per_input_and_survives_bad_lines(tmp_path: Path) -> None:
    source = write(
        tmp_path / "in.jsonl",
        [
            {"id": "a", "text": "快递 three days late 还没到", "channel": "chat"},
            "{not json",
            {"id": "c", "text": "   "},
            {"id": "d"},
            {"id": "e", "text": "Charged twice for one order", "rating": 1, "language": "en"},
            "[1, 2]",
        ],
    )
    result = CliRunner().invoke(main, ["feedback", "classify", "--jsonl", str(source)])
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.output.splitlines()]
    assert [o["id"] for o in out] == ["a", "line-2", "c", "d", "e", "line-6"]
    assert out[0]["category"] == "delivery_issue" and out[0]["language"] == "mixed"
    assert out[4]["category"] == "billing_issue"
    for o in (out[0], out[4]):
        assert {"confidence", "needs_review", "reasons", "model_version"} <= set(o)
    assert out[1]["error"].startswith("not JSON")
    assert out[2]["error"] == out[3]["error"] == "no text"
    assert out[5]["error"] == "not a JSON object"


def test_evaluate_prints_every_figure_and_json(tmp_path: Path) -> None:
    rows = read_jsonl("dev.jsonl")[::5]
    source = write(tmp_path / "dev.jsonl", [*rows, {"id": "x", "text": "no label"}])
    runner = CliRunner()
    text = runner.invoke(main, ["feedback", "evaluate", "--jsonl", str(source)])
    assert text.exit_code == 0, text.output
    for needle in (
        "precision",
        "macro-F1",
        "confusion",
        "routed without review",
        "per language",
        "time per message",
        "1 skipped",
    ):
        assert needle in text.output
    result = runner.invoke(main, ["feedback", "evaluate", "--jsonl", str(source), "--json"])
    figures = json.loads(result.output)
    assert figures["messages"] == len(rows) and figures["skipped"] == 1
    assert sum(map(sum, figures["confusion"])) == len(rows)
    assert 0 <= figures["coverage"] <= 1 and figures["ms_per_message"]["p99"] > 0
    assert set(figures["per_class"]) == set(figures["classes"])


def test_train_is_reproducible_and_the_model_is_usable(tmp_path: Path) -> None:
    rows = [r for r in read_jsonl("train.jsonl") if r["language"] == "en"][::2]
    data = write(tmp_path / "small.jsonl", rows)
    dev = write(tmp_path / "dev.jsonl", read_jsonl("dev.jsonl")[:30])
    runner = CliRunner()
    versions = []
    for out in ("m1", "m2"):
        args = [
            "feedback",
            "train",
            "--data",
            str(data),
            "--dev",
            str(dev),
            "--out",
            str(tmp_path / out),
        ]
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        assert f"training on {len(rows)} messages" in result.output
        assert "KiB" in result.output and "macro-F1" in result.output
        versions.append(result.output.split("model ", 1)[1].split()[0])
    assert versions[0] == versions[1]
    source = write(tmp_path / "one.jsonl", [{"id": "1", "text": "where is my parcel"}])
    result = runner.invoke(
        main, ["feedback", "classify", "--jsonl", str(source), "--model", str(tmp_path / "m1")]
    )
    assert json.loads(result.output)["model_version"] == versions[0]


def test_train_refuses_unknown_labels(tmp_path: Path) -> None:
    data = write(tmp_path / "bad.jsonl", [{"id": "1", "text": "hi", "label": "spam"}] * 6)
    result = CliRunner().invoke(
        main, ["feedback", "train", "--data", str(data), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code != 0 and "spam" in result.output


def test_a_swapped_model_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "model.json").write_text("{}")
    (tmp_path / "m" / "model.npz").write_bytes(b"\x80\x04junk")
    source = write(tmp_path / "one.jsonl", [{"id": "1", "text": "hello"}])
    result = CliRunner().invoke(
        main, ["feedback", "classify", "--jsonl", str(source), "--model", str(tmp_path / "m")]
    )
    assert result.exit_code == 1 and "cannot load the model safely" in result.output
