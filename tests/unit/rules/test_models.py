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


async def test_the_shipped_model_is_built_only_once_feedback_wants_it(
    shipped: FeedbackModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker that sees no feedback never imports scikit-learn; the first feedback event
    asks for the model, and feedback is ready once it is built and the topic is read."""
    import asyncio

    from streams.rules import models

    builds: list[int] = []

    def load() -> FeedbackModel:
        builds.append(1)
        return shipped

    monkeypatch.setattr(artifact, "load", load)
    book, topic_read = ModelBook(), asyncio.Event()
    readying = asyncio.create_task(models._ready_when_wanted(book, topic_read))
    topic_read.set()
    for _ in range(20):  # the event loop turns; nothing asks for the model
        await asyncio.sleep(0)
    assert not book.ready.is_set() and not book.loaded and not builds
    book.wanted.set()  # what the feedback agent does with its first event
    await asyncio.wait_for(book.ready.wait(), timeout=10)
    assert book.loaded and builds == [1]
    await readying

    # A live model published on the topic needs no build, and no feedback to be ready.
    published = ModelBook()
    assert published.offer(
        make_record(other(shipped), "live", "ana", None).model_dump_json().encode(), "0"
    )
    topic_read = asyncio.Event()
    topic_read.set()
    await asyncio.wait_for(models._ready_when_wanted(published, topic_read), timeout=10)
    assert published.ready.is_set() and builds == [1]
