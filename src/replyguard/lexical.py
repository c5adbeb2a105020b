"""Lexical signals: hashed word and character n-grams -> logistic, next to the e5 signals.

A sentence embedding of "It's not your fault the parcel was left outside." lies close to
"It's your fault the parcel was left outside."; who is blamed hangs on one or two words that
mean pooling blurs. A bag of n-grams keeps them ("not your", "on you", "with respect"), costs
a fraction of a millisecond per sentence and errs differently from the encoder, so a flag head
that reads both can do better than either (``training.train`` decides per flag, on lines no
candidate saw, whether a head reads its lexical twin at all).

Texts are keyed as the encoder sees them, then folded to Simplified script and lower case, so
one model covers English, Simplified and Traditional Chinese. The n-gram space is hashed
(scikit-learn's ``HashingVectorizer``: stateless, no vocabulary to store), so the committed
artefact is only the non-zero coefficients of the logistic regression, in safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from replyguard.text import simplified_lower

# agent signals that have a lexical twin, and the flag-head feature each one feeds
LEXICAL_SIGNALS = ("defensive",)
LEXICAL_FEATURES = tuple(f"{s}_lex" for s in LEXICAL_SIGNALS)
N_FEATURES = 2**18  # hash buckets per analyser (words, characters)
WORD_NGRAMS = (1, 3)
CHAR_NGRAMS = (2, 4)
TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"  # words, and each punctuation mark as a token ("?", "!")


def check_signals(names: list[str]) -> None:
    """ValueError naming every signal in ``names`` that has no lexical twin."""
    unknown = sorted(set(names) - set(LEXICAL_SIGNALS))
    if unknown:
        raise ValueError(f"no n-gram twin for {', '.join(unknown)} (have: {', '.join(LEXICAL_SIGNALS)})")


def settings() -> dict:
    """What the n-gram space is, as recorded in a model's config (a model is only valid with it)."""
    return {"n_features": N_FEATURES, "word_ngrams": list(WORD_NGRAMS), "char_ngrams": list(CHAR_NGRAMS),
            "token_pattern": TOKEN_PATTERN, "key": "normalize -> Simplified script -> lower case"}


key = simplified_lower  # what the n-grams are read from


@lru_cache(maxsize=1)
def _vectorisers() -> tuple:
    from sklearn.feature_extraction.text import HashingVectorizer

    common = {"n_features": N_FEATURES, "alternate_sign": False, "binary": True, "norm": None}
    return (HashingVectorizer(analyzer="word", ngram_range=WORD_NGRAMS, token_pattern=TOKEN_PATTERN, **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, **common))


def vectorise(texts: list[str]):
    """Sparse rows (n, 2 * N_FEATURES): binary word and character n-grams, L2-normalised."""
    from scipy.sparse import hstack
    from sklearn.preprocessing import normalize as l2

    keys = [key(t) for t in texts]
    return l2(hstack([v.transform(keys) for v in _vectorisers()]).tocsr())


@dataclass
class LexicalHead:
    """Sparse logistic regression over :func:`vectorise`, with Platt calibration."""

    index: np.ndarray  # int32, hash buckets with a non-zero weight
    weight: np.ndarray  # float32, their weights
    bias: float
    calib: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0], dtype=np.float32))

    def __post_init__(self) -> None:
        self._dense = np.zeros(2 * N_FEATURES, dtype=np.float32)
        self._dense[self.index] = self.weight
        _vectorisers()  # scikit-learn is imported when a model loads, not on its first request

    def logit(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.float32)
        return (vectorise(texts) @ self._dense + self.bias).astype(np.float32)

    def proba(self, texts: list[str]) -> np.ndarray:
        z = self.calib[0] * self.logit(texts) + self.calib[1]
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    @classmethod
    def fit(cls, texts: list[str], y: np.ndarray, c: float) -> LexicalHead:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=c, max_iter=3000).fit(vectorise(texts), np.asarray(y))
        w = lr.coef_[0]
        nz = np.flatnonzero(w).astype(np.int32)
        return cls(nz, w[nz].astype(np.float32), float(lr.intercept_[0]))

    def to_tensors(self, name: str) -> dict[str, np.ndarray]:
        return {f"{name}.index": np.ascontiguousarray(self.index, dtype=np.int32),
                f"{name}.weight": np.ascontiguousarray(self.weight, dtype=np.float32),
                f"{name}.bias": np.array([self.bias], dtype=np.float32),
                f"{name}.calib": np.ascontiguousarray(self.calib, dtype=np.float32)}

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], name: str) -> LexicalHead:
        if f"{name}.index" not in t:
            raise KeyError(f"no lexical head named {name!r} in weights")
        return cls(t[f"{name}.index"], t[f"{name}.weight"], float(t[f"{name}.bias"][0]), t[f"{name}.calib"])
