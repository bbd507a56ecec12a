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
