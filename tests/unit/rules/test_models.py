"""streams.rules.models: feedback models as published data, verified before use."""

from __future__ import annotations

import dataclasses

import pytest

from streams.classify.feedback import artifact
from streams.classify.feedback.model import FeedbackModel
from streams.rules.models import ModelBook, make_record, model_of


@pytest.fixture(scope="module")
def shipped() -> FeedbackModel:
    return artifact.load()


def other(model: FeedbackModel) -> FeedbackModel:
    """Another model (its class scores turned around): another version, other decisions."""
    return dataclasses.replace(model, coef=-model.coef, meta={**model.meta, "note": "test"})


def test_a_published_model_round_trips_and_switches_the_live_one(shipped: FeedbackModel) -> None:
    book = ModelBook(shipped)
    candidate = other(shipped)
    assert candidate.version != shipped.version
    record = make_record(candidate, "live", "ana", "retrained")
    assert model_of(record).version == candidate.version
    assert book.offer(record.model_dump_json().encode(), "t/0/0")
    assert book.live.version == candidate.version and book.shadow is None
    assert not book.offer(record.model_dump_json().encode(), "t/0/1")  # the same again


def test_shadow_comes_and_goes_and_bad_records_keep_what_runs(shipped: FeedbackModel) -> None:
    book = ModelBook(shipped)
    candidate = other(shipped)
    assert book.offer(make_record(candidate, "shadow", "ana", None).model_dump_json().encode(), "0")
    assert book.shadow is not None and book.shadow.version == candidate.version
    tampered = make_record(candidate, "live", "eve", None)
    tampered = tampered.model_copy(update={"version": shipped.version})  # says it is another
    assert not book.offer(tampered.model_dump_json().encode(), "1")
    assert not book.offer(b"\x80\x04 pickled?", "2")
    assert book.live.version == shipped.version
    assert book.offer(make_record(None, "no-shadow", "ana", None).model_dump_json().encode(), "3")
    assert book.shadow is None


def test_the_shipped_model_is_built_when_first_needed_off_the_event_loop() -> None:
    import asyncio
    import threading

    book = ModelBook()
    assert not book.loaded  # a worker's start does not build it
    built_in: list[str] = []
    real = artifact.load

    def load() -> FeedbackModel:
        built_in.append(threading.current_thread().name)
        return real()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(artifact, "load", load)
        asyncio.run(book.load())
        asyncio.run(book.load())  # once only
    assert book.loaded and len(built_in) == 1 and built_in[0] != "MainThread"
    assert book.live.version == artifact.load().version


def test_a_worker_imports_no_scikit_learn_until_it_builds_a_model() -> None:
    """~2.5 s of every start (docs/performance.md): keep the imports on the agents' path cheap."""
    import subprocess
    import sys

    code = (
        "import sys, streams.cli.main\n"
        "from streams import agents, web\n"
        "from streams.app import build\n"
        "from streams.settings import Settings\n"
        "w = build(Settings()); agents.register(w); web.register(w)\n"
        "print(sorted({'sklearn', 'scipy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
