"""``ordertriage feedback``: train, classify and evaluate the customer feedback classifier."""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson

DATA_DIR = Path(__file__).resolve().parent.parent / "classify" / "feedback" / "data"


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, record or None, error or None) per non-blank line."""
    with path.open("rb") if str(path) != "-" else sys.stdin.buffer as handle:
        for number, raw in enumerate(handle, 1):
            if not raw.strip():
                continue
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield number, None, f"not JSON: {exc}"
                continue
            if not isinstance(record, dict):
                yield number, None, "not a JSON object"
            elif not isinstance(record.get("text"), str) or not record["text"].strip():
                yield number, record, "no text"
            else:
                yield number, record, None


def _record_id(number: int, record: dict[str, Any] | None) -> str:
    value = record.get("id") if record else None
    return str(value) if value is not None else f"line-{number}"


def _rating(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _classifier(model_dir: Path | None, rules_file: Path | None) -> Any:
    from streams.classify.feedback import artifact
    from streams.classify.feedback.classifier import FeedbackClassifier
    from streams.classify.rules import RuleSet, RuleSetError

    try:
        ruleset = RuleSet.from_file(rules_file) if rules_file else RuleSet.default()
        return FeedbackClassifier(artifact.load(model_dir), ruleset.feedback, ruleset.version)
    except (RuleSetError, artifact.ModelFileError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _load_examples(paths: tuple[Path, ...]) -> list[Any]:
    from streams.classify.feedback.train import Example

    examples = []
    for path in paths:
        for number, record, error in _lines(path):
            if error or record is None or not isinstance(record.get("label"), str):
                raise click.ClickException(f"{path}:{number}: {error or 'no label'}")
            examples.append(
                Example(
                    text=record["text"],
                    label=record["label"],
                    channel=_optional_str(record.get("channel")),
                    rating=_rating(record.get("rating")),
                    id=_record_id(number, record),
                )
            )
    return examples


model_option = click.option(
    "--model",
    "model_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="model directory (default: the shipped model)",
)
rules_option = click.option(
    "--rules",
    "rules_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="rules file whose feedback section to use (default: the shipped rules)",
)


@click.group()
def feedback() -> None:
    """Classify customer feedback (Chinese, English, mixed): train, classify, evaluate."""


@feedback.command()
@click.option(
    "--data",
    "data_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="labelled JSON lines (repeatable; default: the shipped train.jsonl)",
)
@click.option(
    "--dev",
    "dev_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=DATA_DIR / "dev.jsonl",
    show_default=True,
    help="labelled JSON lines to report figures on (not trained on)",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="where to write model.npz and model.json (default: the shipped model)",
)
@rules_option
def train(
    data_files: tuple[Path, ...], dev_file: Path, out: Path | None, rules_file: Path | None
) -> None:
    """Train the model (reproducible: the same data gives the same version)."""
    from streams.classify.feedback import artifact
    from streams.classify.feedback.train import train as fit
    from streams.classify.rules import RuleSet, RuleSetError

    try:
        ruleset = RuleSet.from_file(rules_file) if rules_file else RuleSet.default()
    except RuleSetError as exc:
        raise click.ClickException(str(exc)) from None
    examples = _load_examples(data_files or (DATA_DIR / "train.jsonl",))
    counts = Counter(e.label for e in examples)
    click.echo(
        f"training on {len(examples)} messages: "
        + ", ".join(f"{name} {counts[name]}" for name in ruleset.feedback.categories)
    )
    started = time.monotonic()
    try:
        model = fit(examples, ruleset.feedback)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    target = out or artifact.shipped_dir()
    files = artifact.save(model, target)
    size = sum(f.stat().st_size for f in files)
    click.echo(
        f"model {model.version} in {time.monotonic() - started:.1f}s:"
        f" {len(model.char_terms)} char + {len(model.word_terms)} word features,"
        f" scales model {model.model_scale} rules {model.rule_scale}"
    )
    click.echo(
        f"wrote {target} ({size / 1024:.0f} KiB: "
        + ", ".join(f"{f.name} {f.stat().st_size / 1024:.0f} KiB" for f in files)
        + ")"
    )
    if dev_file:
        ctx = click.get_current_context()
        ctx.invoke(evaluate, jsonl=dev_file, model_dir=target, rules_file=rules_file, as_json=False)


@feedback.command()
@click.option(
    "--jsonl",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    required=True,
    help="JSON lines with id and text (channel, rating, language)",
)
@model_option
@rules_option
def classify(jsonl: Path, model_dir: Path | None, rules_file: Path | None) -> None:
    """One JSON line per input on stdout; a bad line gets an `error` and the rest goes on."""
    classifier = _classifier(model_dir, rules_file)
    out = sys.stdout.buffer
    for number, record, error in _lines(jsonl):
        result: dict[str, Any] = {"id": _record_id(number, record)}
        if error or record is None:
            result["error"] = error
        else:
            decision = classifier.classify(
                record["text"],
                channel=_optional_str(record.get("channel")),
                rating=_rating(record.get("rating")),
                language=_optional_str(record.get("language")),
            )
            result.update(decision.model_dump(mode="json"))
        out.write(orjson.dumps(result) + b"\n")
    out.flush()


@feedback.command()
@click.option(
    "--jsonl",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="JSON lines with id, text and label",
)
@model_option
@rules_option
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def evaluate(jsonl: Path, model_dir: Path | None, rules_file: Path | None, as_json: bool) -> None:
    """Per-class P/R/F1, macro-F1, confusion, coverage and precision at the threshold, timing."""
    from streams.classify.feedback.metrics import Scored, report

    classifier = _classifier(model_dir, rules_file)
    scored, skipped, timings = [], 0, []
    for _number, record, error in _lines(jsonl):
        if error or record is None or not isinstance(record.get("label"), str):
            skipped += 1
            continue
        started = time.perf_counter()
        decision = classifier.classify(
            record["text"],
            channel=_optional_str(record.get("channel")),
            rating=_rating(record.get("rating")),
            language=_optional_str(record.get("language")),
        )
        timings.append(time.perf_counter() - started)
        scored.append(
            Scored(
                record["label"],
                decision.category,
                decision.confidence,
                decision.needs_review,
                decision.language,
            )
        )
    if not scored:
        raise click.ClickException(f"{jsonl}: no labelled lines")
    figures = report(scored, classifier.model.classes)
    ordered = sorted(timings)
    figures.update(
        skipped=skipped,
        model_version=classifier.model.version,
        rules_version=classifier.rules_version,
        review_threshold=classifier.rules.review_threshold,
        ms_per_message={
            "median": round(statistics.median(ordered) * 1000, 3),
            "p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        },
    )
    if as_json:
        click.echo(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(_text_report(figures))


def _text_report(f: dict[str, Any]) -> str:
    classes = f["classes"]
    width = max(len(c) for c in classes)
    lines = [
        f"{f['messages']} messages ({f['skipped']} skipped), model {f['model_version']},"
        f" rules {f['rules_version']}",
        "",
        f"{'class':<{width}}  precision  recall     f1  support",
    ]
    for name in classes:
        row = f["per_class"][name]
        lines.append(
            f"{name:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}"
            f"  {row['f1']:5.3f}  {row['support']:7d}"
        )
    lines += [
        "",
        f"macro-F1 {f['macro_f1']:.3f}   accuracy {f['accuracy']:.3f}   ECE {f['ece']:.3f}",
        "",
        "confusion (rows: true, columns: predicted)",
    ]
    short = [c[:8] for c in classes]
    lines.append(" " * (width + 2) + " ".join(f"{s:>8}" for s in short))
    for name, row in zip(classes, f["confusion"], strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{v:8d}" for v in row))
    lines += [
        "",
        f"review threshold {f['review_threshold']}: routed without review"
        f" {f['coverage']:.1%} (review {f['review_share']:.1%}),"
        f" precision of routed {f['routed_precision']:.3f}",
        "macro-F1 per language: "
        + ", ".join(
            f"{lang} {v:.3f} (n={f['per_language_messages'][lang]})"
            for lang, v in f["per_language_macro_f1"].items()
        ),
        f"time per message: median {f['ms_per_message']['median']} ms,"
        f" p99 {f['ms_per_message']['p99']} ms",
    ]
    return "\n".join(lines)


# --- the models a running worker uses (streams.rules.models) ---------------------------------


@feedback.command()
@model_option
@click.option("--shadow", is_flag=True, help="run beside the live model, deciding nothing")
@click.option("--by", "by", default=None, help="who publishes (default: the login name)")
@click.option("--comment", default=None)
def publish(model_dir: Path | None, shadow: bool, by: str | None, comment: str | None) -> None:
    """Publish a model to running workers: live, or as a shadow to compare first."""
    import asyncio

    from streams.classify.feedback import artifact
    from streams.rules import models
    from streams.settings import get_settings

    try:
        model = artifact.load(model_dir)
    except artifact.ModelFileError as exc:
        raise click.ClickException(str(exc)) from None
    record = models.make_record(model, "shadow" if shadow else "live", by, comment)
    offset = asyncio.run(models.publish(get_settings(), record))
    click.echo(f"published {record.role} model {record.version} at offset {offset}")


@feedback.command()
@click.option("--by", "by", default=None, help="who promotes (default: the login name)")
def promote(by: str | None) -> None:
    """Make the current shadow model the live one (and stop shadowing)."""
    import asyncio

    from streams.rules import models
    from streams.settings import get_settings

    settings = get_settings()
    shadow = _current(asyncio.run(models.history(settings)), "shadow")
    if shadow is None:
        raise click.ClickException("no shadow model is running; publish one with --shadow")
    live = shadow.model_copy(
        update={
            "role": "live",
            "published_at": _now(),
            "published_by": by or shadow.published_by,
            "comment": "promoted",
        }
    )
    asyncio.run(models.publish(settings, live))
    asyncio.run(models.publish(settings, models.make_record(None, "no-shadow", by, "promoted")))
    click.echo(f"model {live.version} is live; no shadow runs")


@feedback.command()
def models() -> None:
    """Every model published: offset, role, version, by, when; the live and shadow now."""
    import asyncio

    from streams.rules import models as published
    from streams.settings import get_settings

    history = asyncio.run(published.history(get_settings()))
    for offset, record, problem in history:
        if record is None:
            click.echo(f"{offset:>5}  (not a model record: {problem})")
            continue
        state = f"REFUSED: {problem}" if problem else ""
        click.echo(
            f"{offset:>5}  {record.role:<9} {record.version or '-':<16} {record.published_by}"
            f"  {record.published_at.isoformat(timespec='seconds')}  {record.comment or ''} {state}"
        )
    live, shadow = _current(history, "live"), _current(history, "shadow")
    click.echo(
        f"live: {live.version if live else 'the shipped model'};"
        f" shadow: {shadow.version if shadow else 'none'}"
    )


@feedback.command()
@click.option("--since-hours", default=24.0, show_default=True)
@click.option("--show", default=10, show_default=True, help="disagreements to list")
def shadow(since_hours: float, show: int) -> None:
    """How often the shadow model agreed with the live one, from ``feedback.classified``."""
    import asyncio
    from datetime import timedelta

    from schemas.events import FeedbackClassified
    from streams.report.source import read_records
    from streams.settings import get_settings
    from streams.topics import FEEDBACK_CLASSIFIED

    settings = get_settings()
    since = _now() - timedelta(hours=since_hours)
    records = asyncio.run(
        read_records(
            settings.bootstrap, settings.topic(FEEDBACK_CLASSIFIED), since, FeedbackClassified
        )
    )
    latest = {r.feedback_id: r for r in records if r.shadow_model_version}
    if not latest:
        raise click.ClickException("no feedback classified beside a shadow model in that time")
    agree = [r for r in latest.values() if r.shadow_category == r.category]
    pairs = Counter((r.category, r.shadow_category) for r in latest.values() if r not in agree)
    versions = sorted({r.shadow_model_version for r in latest.values()} - {None})
    click.echo(
        f"shadow {', '.join(v for v in versions if v)}: {len(agree)}/{len(latest)} agree"
        f" ({len(agree) / len(latest):.1%})"
    )
    for (live_cat, shadow_cat), n in pairs.most_common(show):
        click.echo(f"  live {live_cat} -> shadow {shadow_cat}: {n}")


def _current(history: list[Any], role: str) -> Any:
    """The record of ``role`` running workers use: the last valid one (shadow: unless stopped)."""
    current = None
    for _, record, problem in history:
        if record is None or problem:
            continue
        if record.role == role:
            current = record
        elif role == "shadow" and record.role == "no-shadow":
            current = None
    return current


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@feedback.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="labelled JSON lines to train with (`feedback train --data ... --data OUT`)",
)
def corrections(out: Path) -> None:
    """Export people's categories (``feedback.corrections``) with their texts as training data.

    The text is read from ``feedback.received`` (it is nowhere else); the last correction of a
    feedback wins."""
    import asyncio

    from pydantic import ValidationError

    from schemas.events import FeedbackCorrection, FeedbackReceived
    from streams.kafka.io import read_all
    from streams.settings import get_settings
    from streams.topics import FEEDBACK_CORRECTIONS, FEEDBACK_RECEIVED

    settings = get_settings()
    labels: dict[str, FeedbackCorrection] = {}
    for value in asyncio.run(read_all(settings.bootstrap, [settings.topic(FEEDBACK_CORRECTIONS)])):
        try:
            fix = FeedbackCorrection.model_validate_json(value)
        except ValidationError:
            continue  # the worker dead-lettered it
        labels[fix.feedback_id] = fix
    written = 0
    with out.open("wb") as handle:
        for value in asyncio.run(read_all(settings.bootstrap, [settings.topic(FEEDBACK_RECEIVED)])):
            try:
                event = FeedbackReceived.model_validate_json(value)
            except ValidationError:
                continue
            fix = labels.pop(event.feedback_id, None)
            if fix is None:
                continue
            line = {
                "id": event.feedback_id,
                "text": event.text,
                "label": fix.value,
                "channel": event.channel.value,
                "rating": event.rating,
                "corrected_by": fix.corrected_by,
            }
            handle.write(orjson.dumps(line) + b"\n")
            written += 1
    click.echo(
        f"wrote {written} corrected messages to {out}"
        + (f"; {len(labels)} corrections name no feedback still in the topic" if labels else "")
    )
