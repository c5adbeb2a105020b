"""The fine-tuned line model: one encoder pass over an agent line -> agent signals.

multilingual-e5-small with LoRA adapters and one sigmoid output per signal, fine-tuned on the
role-labelled signal lines (``training/train_line.py``). The e5 signal heads read a frozen,
mean-pooled embedding, in which "It's not your fault the parcel was left outside." lies next
to "It's your fault the parcel was left outside."; fine-tuning lets attention weigh the one or
two words that say who is blamed (minimal pairs of the data passes teach exactly that).

Like the n-gram twins (:mod:`replyguard.lexical`) its values are extra inputs of the flag
heads (:data:`LINE_FEATURES`: the highest value over the reply and its segments), read only
where ``training.train`` finds they win on lines no candidate saw. The committed artefact is
the adapter (``adapter_config.json`` + ``adapter_model.safetensors``) and ``line.json`` (which
signals its outputs are); the base weights are the checksum-verified e5 folder setup rebuilds.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np

from replyguard.pair import batched_logits, load_adapter, prep

# agent signals the line model can score, and the flag-head feature each one feeds
LINE_SIGNALS = ("defensive",)
LINE_FEATURES = tuple(f"{s}_line" for s in LINE_SIGNALS)
MAX_LEN = 64  # tokens; an agent line past it keeps its head (segments are scored on their own)
META_FILE = "line.json"


def line_texts(reply: str, segs: list[str]) -> list[str]:
    """What the line model reads of one agent turn: the reply, and its segments when it has several."""
    return [reply, *(segs if len(segs) > 1 else [])]


class LineModel:
    """Scores agent lines; one logit per signal in ``signals`` (a subset of :data:`LINE_SIGNALS`)."""

    def __init__(self, model, tokenizer, charmap: dict[int, str], signals: tuple[str, ...],
                 batch_size: int = 32) -> None:
        unknown = sorted(set(signals) - set(LINE_SIGNALS))
        if unknown:
            raise ValueError(f"no line-model signal {', '.join(unknown)} (have: {', '.join(LINE_SIGNALS)})")
        self.model, self.tokenizer, self.charmap = model, tokenizer, charmap
        self.signals = tuple(signals)
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @staticmethod
    def read_meta(adapter_dir: str | os.PathLike) -> dict:
        path = Path(adapter_dir) / META_FILE
        if not path.exists():
            raise FileNotFoundError(f"{adapter_dir}: no {META_FILE} (not a line-model adapter)")
        return json.loads(path.read_text())

    @classmethod
    def load(cls, adapter_dir: str | os.PathLike, base_folder: str | os.PathLike | None = None,
             share_embeddings_with=None) -> LineModel:
        signals = tuple(cls.read_meta(adapter_dir)["signals"])
        return cls(*load_adapter(adapter_dir, len(signals), base_folder, share_embeddings_with), signals)

    def encode(self, texts: list[str]):
        return self.tokenizer([prep(t, self.charmap) for t in texts], truncation=True, max_length=MAX_LEN,
                              padding=True, return_tensors="pt")

    def logits(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(signals)) logits."""
        with self._lock:
            return batched_logits(self.model, texts, self.encode, len(self.signals), self.batch_size)

    def proba(self, texts: list[str]) -> dict[str, dict[str, float]]:
        """signal -> text -> probability, for the distinct non-empty ``texts``."""
        uniq = [t for t in dict.fromkeys(texts) if t.strip()]
        p = 1.0 / (1.0 + np.exp(-self.logits(uniq)))
        return {s: dict(zip(uniq, p[:, j].tolist())) for j, s in enumerate(self.signals)}
