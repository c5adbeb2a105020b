"""A tiny deterministic encoder (hashed character n-grams) so fast tests need no model weights."""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from replyguard.text import fold


class HashEncoder:
    """Same interface as :class:`replyguard.encoder.Encoder`, 64 dimensions, no weights."""

    name = "hash-64"

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim
        self.forward_calls = 0
        self.forward_texts = 0

    @lru_cache(maxsize=100_000)  # noqa: B019 - the fixture lives for the whole session
    def _one(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        t = fold(text) or text
        for n in (1, 2, 3):
            for i in range(max(1, len(t) - n + 1)):
                h = int(hashlib.md5(t[i : i + n].encode()).hexdigest()[:8], 16)
                v[h % self.dim] += 1.0 if (h >> 20) & 1 else -1.0
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def forward(self, texts: list[str]) -> np.ndarray:
        self.forward_calls += 1
        self.forward_texts += len(texts)
        return np.stack([self._one(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)

    def encode(self, texts: list[str], transient: object = ()) -> np.ndarray:
        return self.forward(texts)


def conv(*turns: tuple[str, str], cid: str = "t-1", **extra) -> dict:
    """Build a conversation dict: conv(("customer", "hi?"), ("agent", "hello"))."""
    return {"id": cid, "turns": [{"role": r, "text": t} for r, t in turns], **extra}


def twin_table(column: str, informative: bool, seed: int = 0):
    """A synthetic flag table (training.train.TurnTable) for the read / not-read choice of an
    extra `defensive` input: ``column`` (e.g. ``defensive_lex``) carries the label beyond a weak
    structural signal, or is noise like every other column."""
    from replyguard.features import ALL_FEATURES, FEATURES
    from replyguard.lexical import LEXICAL_FEATURES
    from replyguard.line import LINE_FEATURES
    from replyguard.schema import FLAGS
    from training.train import TurnTable

    rng = np.random.default_rng(seed)
    n = 1500
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 1, (n, len(FEATURES) + len(LEXICAL_FEATURES) + len(LINE_FEATURES))).astype(np.float32)
    x[:, FEATURES.index("def_max")] = y * 0.6 + rng.normal(0, 1, n)
    col = ALL_FEATURES.index(column)
    x[:, col] = (y * 3.0 + rng.normal(0, 1, n)) if informative else rng.normal(0, 1, n)
    ys = np.repeat(y[:, None], len(FLAGS), 1)
    groups = np.array([f"s{i}" for i in rng.integers(0, 50, n)])
    replies = np.array([f"line {i}" for i in rng.integers(0, 300, n)])
    return TurnTable(x, ys, np.ones_like(ys, dtype=bool), groups, replies, np.ones(n, dtype=bool))
