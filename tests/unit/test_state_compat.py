"""Stored state stays readable across versions.

Table values live in changelog topics: a worker that cannot decode one never finishes
recovery (Faust keeps retrying and /readyz stays false). These fixtures are values written by
earlier versions; every one must still decode. When a model changes, add a field with a
default or a migration (a ``model_validator(mode="before")``); never regenerate a fixture to
make this test pass. Add a new ``<codec>.v<N>.json`` when the format changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.runtime.codecs import CODECS

FIXTURES = sorted((Path(__file__).parent / "state_fixtures").glob("*.json"))


def test_every_stored_model_has_a_fixture() -> None:
    stored = {name for name, model in CODECS.items() if model is not None}
    assert stored <= {f.name.split(".")[0] for f in FIXTURES}


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.name)
def test_fixture_decodes_with_the_current_models(fixture: Path) -> None:
    model = CODECS[fixture.name.split(".")[0]]
    assert model is not None
    value = model.model_validate_json(fixture.read_bytes())
    # And what we write today reads back the same.
    assert model.model_validate_json(value.model_dump_json()) == value
