"""The safe model format: plain arrays and JSON, verified on load, never unpickled."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest

from streams.classify.feedback import artifact
from streams.classify.feedback.artifact import ModelFileError


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "model"
    shutil.copytree(artifact.shipped_dir(), target)
    return target


def test_shipped_model_is_small_and_round_trips(tmp_path: Path) -> None:
    model = artifact.load()
    size = sum(p.stat().st_size for p in artifact.shipped_dir().iterdir())
    assert size < 1_000_000
    artifact.save(model, tmp_path / "again")
    assert artifact.load(tmp_path / "again").version == model.version


def test_a_pickle_in_place_of_the_arrays_is_refused(copy: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("unpickled!",))

    (copy / "model.npz").write_bytes(pickle.dumps({"coef": Boom()}))
    with pytest.raises(ModelFileError, match="cannot load the model safely"):
        artifact.load(copy)


def test_object_arrays_are_refused(copy: Path) -> None:
    arrays = dict(np.load(copy / "model.npz"))
    arrays["coef"] = np.array([{"x": 1}], dtype=object)
    np.savez(copy / "model.npz", **arrays, allow_pickle=True)
    with pytest.raises(ModelFileError):
        artifact.load(copy)


def test_tampered_coefficients_are_refused(copy: Path) -> None:
    arrays = dict(np.load(copy / "model.npz"))
    arrays["coef"] = arrays["coef"].copy()
    arrays["coef"][0, 0] += 1.0
    np.savez_compressed(copy / "model.npz", **arrays)
    with pytest.raises(ModelFileError, match="does not match version"):
        artifact.load(copy)


def test_tampered_vocabulary_or_calibration_is_refused(copy: Path) -> None:
    document = json.loads((copy / "model.json").read_text(encoding="utf-8"))
    document["calibration"]["model_scale"] *= 2
    (copy / "model.json").write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ModelFileError, match="does not match version"):
        artifact.load(copy)


def test_missing_or_malformed_files_are_refused(copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError):
        artifact.load(tmp_path / "nowhere")
    (copy / "model.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelFileError, match="malformed"):
        artifact.load(copy)
