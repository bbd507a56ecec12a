"""The only I/O of the feedback classifier: the model as ``model.npz`` plus ``model.json``.

Never pickle: a model is a file a user can swap, and unpickling runs code. The arrays are
read with ``allow_pickle=False`` (object arrays are refused), the JSON holds vocabularies,
classes and calibration, and the version (a hash of both) is checked on load, so an edited or
mixed-up pair of files is refused rather than silently classifying with something else.
"""

from __future__ import annotations

import io
import json
import tempfile
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from streams.classify.feedback.model import FeedbackModel, FloatArray, version_of

ARRAYS = ("coef", "intercept", "char_idf", "word_idf")
NPZ, JSON = "model.npz", "model.json"


class ModelFileError(ValueError):
    """The model files are missing, malformed, pickled or do not match their version."""


def shipped_dir() -> Path:
    """The directory of the model trained on the shipped data (package data)."""
    return Path(str(resources.files("streams.classify.feedback").joinpath("model")))


def save(model: FeedbackModel, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.asarray(a, dtype=np.float32) for name, a in model.arrays().items()}
    np.savez_compressed(directory / NPZ, allow_pickle=False, **arrays)
    document = {"version": model.version, **model.metadata()}
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1, default=list)
    (directory / JSON).write_text(text + "\n", encoding="utf-8")
    return [directory / NPZ, directory / JSON]


def load(directory: Path | None = None) -> FeedbackModel:
    """Load and verify a saved model (default: the shipped one); raise :class:`ModelFileError`."""
    directory = directory if directory is not None else shipped_dir()
    try:
        text, npz = (directory / JSON).read_text(encoding="utf-8"), (directory / NPZ).read_bytes()
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{directory}: cannot read the model: {exc}") from None
    return loads(text, npz, directory)


def dumps(model: FeedbackModel) -> tuple[str, bytes]:
    """The two files' contents, as :func:`save` writes them (to publish a model on a topic)."""
    with tempfile.TemporaryDirectory() as tmp:
        save(model, Path(tmp))
        return (Path(tmp) / JSON).read_text(encoding="utf-8"), (Path(tmp) / NPZ).read_bytes()


def loads(text: str, npz_bytes: bytes, where: Path | str = "<model>") -> FeedbackModel:
    """Verify and build a model from the two files' contents; raise :class:`ModelFileError`."""
    where = Path(where)
    try:
        document = json.loads(text)
        with np.load(io.BytesIO(npz_bytes), allow_pickle=False) as npz:
            if sorted(npz.files) != sorted(ARRAYS):
                raise ModelFileError(f"{where / NPZ}: expected arrays {list(ARRAYS)}")
            arrays = {name: _floats(npz[name], name) for name in ARRAYS}
    except (OSError, ValueError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        # np.load raises ValueError for pickled content when allow_pickle is False.
        raise ModelFileError(f"{where}: cannot load the model safely: {exc}") from None
    return _build(document, arrays, where)


def _floats(array: Any, name: str) -> FloatArray:
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise ModelFileError(f"array {name!r} is not a float array")
    return np.asarray(array, dtype=np.float64)


def _build(document: Any, arrays: dict[str, FloatArray], directory: Path) -> FeedbackModel:
    try:
        if document["format"] != 1:
            raise ModelFileError(f"{directory / JSON}: unknown format {document['format']!r}")
        calibration = document["calibration"]
        model = FeedbackModel(
            classes=[str(c) for c in document["classes"]],
            char_terms=[str(t) for t in document["char"]["terms"]],
            word_terms=[str(t) for t in document["word"]["terms"]],
            char_idf=arrays["char_idf"],
            word_idf=arrays["word_idf"],
            coef=arrays["coef"],
            intercept=arrays["intercept"],
            model_scale=float(calibration["model_scale"]),
            rule_scale=float(calibration["rule_scale"]),
            meta=dict(document.get("meta", {})),
        )
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{directory / JSON}: malformed model description: {exc}") from None
    expected = version_of(arrays, model.metadata())
    if document.get("version") != expected or model.version != expected:
        raise ModelFileError(
            f"{directory}: content does not match version {document.get('version')!r}"
            " (edited or mixed-up files); retrain with `ordertriage feedback train`"
        )
    n_classes, n_features = len(model.classes), len(model.char_terms) + len(model.word_terms)
    if model.coef.shape not in ((n_classes, n_features), (1, n_features)):
        raise ModelFileError(f"{directory / NPZ}: coef shape {model.coef.shape} does not fit")
    return model
