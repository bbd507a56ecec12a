"""The trained half of the blend: TF-IDF n-grams and a linear model, held as plain arrays.

Character n-grams (1-3, across word boundaries) carry Chinese, which has no spaces, and misspelt
English; word n-grams (1-2) add English phrases. The fitted state is nothing but vocabularies,
IDF weights, coefficients and two calibration scales, so it can be saved without pickle
(:mod:`streams.classify.feedback.artifact`) and rebuilt into scikit-learn estimators.

scikit-learn and SciPy are imported when a model is first built, not with this module: they
are ~2.5 s of a worker's start, and the worker loads its model once it is ready
(``streams.rules.models.ModelBook``), so a restart does not wait for them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

FloatArray = npt.NDArray[np.float64]

#: Vectorizer settings; tuned on the dev split (docs/feedback.md). Text arrives normalized.
CHAR_PARAMS: dict[str, Any] = {
    "analyzer": "char",
    "ngram_range": (1, 3),
    "min_df": 2,
    "sublinear_tf": True,
    "lowercase": False,
}
#: No stop words: on the dev split removing them cost 6 points of English macro-F1, since
#: bigrams such as "is fine" or "on my" carry the category.
WORD_PARAMS: dict[str, Any] = {
    "analyzer": "word",
    "token_pattern": r"[a-z][a-z']+",
    "ngram_range": (1, 2),
    "min_df": 2,
    "sublinear_tf": True,
    "lowercase": False,
}


def _vectorizer(params: dict[str, Any], terms: Sequence[str] | None = None) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    kwargs = {**params, "ngram_range": tuple(params["ngram_range"])}
    if terms is not None:
        kwargs["vocabulary"] = {term: i for i, term in enumerate(terms)}
    return TfidfVectorizer(dtype=np.float64, **kwargs)


def terms_of(vectorizer: TfidfVectorizer) -> list[str]:
    """Vocabulary in column order (what the artifact stores)."""
    vocabulary: dict[str, int] = vectorizer.vocabulary_
    return sorted(vocabulary, key=vocabulary.__getitem__)


def softmax(scores: FloatArray) -> FloatArray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = exp / exp.sum(axis=-1, keepdims=True)
    return result


@dataclass
class FeedbackModel:
    """Fitted vectorizers and linear model; ``model_scale``/``rule_scale`` calibrate the blend.

    Confidence is ``softmax(model_scale * logits + rule_scale * rule_bonus)``; both scales are
    fitted on out-of-fold predictions at training time, which is what makes it calibrated.
    """

    classes: list[str]
    char_terms: list[str]
    word_terms: list[str]
    char_idf: FloatArray
    word_idf: FloatArray
    coef: FloatArray
    intercept: FloatArray
    model_scale: float = 1.0
    rule_scale: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from sklearn.linear_model import LogisticRegression

        self._char = _vectorizer(CHAR_PARAMS, self.char_terms)
        self._char.idf_ = self.char_idf
        self._word = _vectorizer(WORD_PARAMS, self.word_terms)
        self._word.idf_ = self.word_idf
        self._linear = LogisticRegression()
        self._linear.classes_ = np.array(self.classes)
        self._linear.coef_ = self.coef
        self._linear.intercept_ = self.intercept
        self.version = version_of(self.arrays(), self.metadata())

    def features(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """Normalized texts to the model's sparse feature rows."""
        from scipy import sparse

        blocks = [self._char.transform(texts)]
        if self.word_terms:
            blocks.append(self._word.transform(texts))
        return sparse.hstack(blocks, format="csr")

    def logits(self, rows: sparse.csr_matrix) -> FloatArray:
        scores: FloatArray = np.asarray(self._linear.decision_function(rows), dtype=np.float64)
        if scores.ndim == 1:  # two classes: scikit-learn gives one margin
            scores = np.stack([-scores / 2, scores / 2], axis=1)
        return scores

    def feature_name(self, column: int) -> str:
        if column < len(self.char_terms):
            return f"char:{self.char_terms[column]!r}"
        return f"word:{self.word_terms[column - len(self.char_terms)]!r}"

    def strongest(self, row: sparse.csr_matrix, class_index: int, count: int = 3) -> list[str]:
        """The features that pushed this row hardest towards ``class_index``."""
        weights = self.coef[class_index if self.coef.shape[0] > 1 else 0]
        contributions = row.data * weights[row.indices]
        if self.coef.shape[0] == 1 and class_index == 0:
            contributions = -contributions
        order = np.argsort(-contributions, kind="stable")[:count]
        return [
            f"{self.feature_name(int(row.indices[i]))}={contributions[i]:+.2f}"
            for i in order
            if contributions[i] > 0
        ]

    def arrays(self) -> dict[str, FloatArray]:
        return {
            "coef": self.coef,
            "intercept": self.intercept,
            "char_idf": self.char_idf,
            "word_idf": self.word_idf,
        }

    def metadata(self) -> dict[str, Any]:
        """Everything but the arrays, JSON-ready; the version hash covers it and the arrays."""
        return {
            "format": 1,
            "classes": self.classes,
            "char": {"params": CHAR_PARAMS, "terms": self.char_terms},
            "word": {"params": WORD_PARAMS, "terms": self.word_terms},
            "calibration": {"model_scale": self.model_scale, "rule_scale": self.rule_scale},
            "meta": self.meta,
        }


def version_of(arrays: dict[str, FloatArray], metadata: dict[str, Any]) -> str:
    """``fb-`` and a content hash: equal content, equal version; any edit, a new one."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name], dtype=np.float32)
        digest.update(f"{name}:{array.shape}".encode())
        digest.update(array.tobytes())
    canonical = json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=list)
    digest.update(canonical.encode())
    return f"fb-{digest.hexdigest()[:12]}"


def fit_linear(
    texts: Sequence[str], labels: Sequence[str], classes: Sequence[str], c: float
) -> FeedbackModel:
    """Fit vectorizers and the linear model on normalized texts (no calibration yet)."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    char = _vectorizer(CHAR_PARAMS).fit(texts)
    word = _vectorizer(WORD_PARAMS)
    try:
        word.fit(texts)
        word_terms = terms_of(word)
        word_idf = np.asarray(word.idf_, dtype=np.float64)
    except ValueError:  # no English word occurs twice (a Chinese-only data set)
        word_terms, word_idf = [], np.zeros(0)
    rows = [char.transform(texts)]
    if word_terms:
        rows.append(word.transform(texts))
    features = sparse.hstack(rows, format="csr")
    # newton-cg converges in a few exact steps: fast, and the same answer on every run.
    linear = LogisticRegression(C=c, solver="newton-cg", max_iter=200, tol=1e-8)
    index = {name: i for i, name in enumerate(classes)}
    with threadpool_limits(1):  # 2 shared cores: BLAS threads only oversubscribe them
        linear.fit(features, np.array([index[label] for label in labels]))
    # Stored as float32: round now, so the in-memory model is exactly the one saved.
    return FeedbackModel(
        classes=list(classes),
        char_terms=terms_of(char),
        word_terms=word_terms,
        char_idf=_f32(char.idf_),
        word_idf=_f32(word_idf),
        coef=_f32(linear.coef_),
        intercept=_f32(linear.intercept_),
    )


def _f32(values: Any) -> FloatArray:
    return np.asarray(np.asarray(values, dtype=np.float32), dtype=np.float64)
