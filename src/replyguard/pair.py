"""The fine-tuned pair model: one cross-encoder pass over (customer context, agent reply).

multilingual-e5-small with LoRA adapters and a five-way sigmoid head, fine-tuned on
(open message + recent context, reply) -> the five flags (``training/train_pair.py``).
Unlike the frozen sentence embeddings, attention runs across the customer's words and the
reply's words together, which is what "does this reply address that question" needs.

The committed artefact is the adapter only (``adapter_config.json`` +
``adapter_model.safetensors``, a few MB); the base weights are the checksum-verified e5
folder that setup rebuilds. Its logits feed the flag heads as extra features
(:data:`PAIR_FEATURES`), so the heads still see repeats across the whole conversation.
"""

from __future__ import annotations

import json
import os
import threading
import warnings
from pathlib import Path

import numpy as np

from replyguard.context import TurnContext
from replyguard.schema import FLAGS
from replyguard.text import normalize

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PAIR_FEATURES = tuple(f"pair_{f}" for f in FLAGS)
MAX_LEN = 128
PART_CHARS = 300  # each context part is clipped before tokenising (the reply keeps its head)


def pair_texts(c: TurnContext) -> tuple[str, str]:
    """(context, reply) as the pair model reads them.

    The customer's open message comes first (or, when the agent speaks twice, the open
    question further back), then the agent's previous turn and the customer's previous
    message, so truncation drops the oldest context first.

    >>> from replyguard.context import TurnContext
    >>> pair_texts(TurnContext("c", 1, "Let me check.", "Where is my parcel?", "Where is my parcel?"))
    ('customer: Where is my parcel?', 'Let me check.')
    """
    parts = [f"customer: {(c.open_msg.strip() or c.question.strip())[-PART_CHARS:]}"]
    if c.prev_agent:
        parts.append(f"agent before: {c.prev_agent[-1][:PART_CHARS]}")
    if c.prev_customer:
        parts.append(f"customer before: {c.prev_customer[-1][-PART_CHARS:]}")
    return " | ".join(parts), c.reply[: PART_CHARS * 2]


def prep(text: str, charmap: dict[int, str]) -> str:
    """The same text preparation as the sentence encoder (see ``Encoder._prep``)."""
    return normalize(text).translate(charmap)


def build_classifier(base_folder: str | os.PathLike, n_labels: int = len(FLAGS)):
    """The base encoder with a fresh sequence-classification head (pooler + linear)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    cfg = AutoConfig.from_pretrained(str(base_folder), num_labels=n_labels,
                                     problem_type="multi_label_classification")
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the head is new by design: no "newly initialized" report
    try:
        return AutoModelForSequenceClassification.from_pretrained(str(base_folder), config=cfg)
    finally:
        hf_logging.set_verbosity(level)


def load_adapter(adapter_dir: str | os.PathLike, n_labels: int, base_folder: str | os.PathLike | None = None,
                 share_embeddings_with=None):
    """(model, tokenizer, charmap): the base encoder with an ``n_labels`` head, the LoRA adapter
    in ``adapter_dir`` merged into it (inference then costs one plain encoder pass).

    ``share_embeddings_with``: a loaded :class:`~replyguard.encoder.Encoder`; the frozen
    word-embedding matrix (most of the model's memory) is then shared, not copied.
    """
    import torch
    from peft import PeftModel

    from replyguard.encoder import ensure_e5

    base = Path(base_folder) if base_folder else ensure_e5()
    model = build_classifier(base, n_labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    model.eval()
    if share_embeddings_with is not None:
        try:
            mine = model.bert.embeddings.word_embeddings
            theirs = share_embeddings_with.model[0].auto_model.embeddings.word_embeddings
            if mine.weight.shape == theirs.weight.shape and torch.equal(mine.weight[:64], theirs.weight[:64]):
                mine.weight = theirs.weight
        except (AttributeError, IndexError, TypeError):
            pass  # a fixture encoder without a transformer inside: keep our own copy
    return (model, *tokenizer_and_charmap(base))


def tokenizer_and_charmap(base: Path):
    """The base encoder's tokenizer and the character map its text preparation applies."""
    from transformers import AutoTokenizer

    from replyguard.encoder_build import CHARMAP_FILE

    cm_file = base / CHARMAP_FILE
    charmap = {int(k): v for k, v in json.loads(cm_file.read_text()).items()} if cm_file.exists() else {}
    return AutoTokenizer.from_pretrained(str(base)), charmap


def batched_logits(model, items: list, encode, n_out: int, batch_size: int, size=len) -> np.ndarray:
    """``model``'s logits for every item, in item order; batches of similar ``size`` (so each
    is padded only to its own longest input), each tokenised by ``encode``."""
    import torch

    out = np.zeros((len(items), n_out), dtype=np.float32)
    order = sorted(range(len(items)), key=lambda i: size(items[i]))
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            out[idx] = model(**encode([items[i] for i in idx])).logits.float().numpy()
    return out


class PairModel:
    """Scores (context, reply) pairs; returns one logit per flag (order of :data:`FLAGS`)."""

    def __init__(self, model, tokenizer, charmap: dict[int, str], batch_size: int = 32) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.charmap = charmap
        self.batch_size = batch_size
        self._lock = threading.Lock()

    @classmethod
    def load(cls, adapter_dir: str | os.PathLike, base_folder: str | os.PathLike | None = None,
             share_embeddings_with=None) -> PairModel:
        """Base + adapter, merged (see :func:`load_adapter`)."""
        return cls(*load_adapter(adapter_dir, len(FLAGS), base_folder, share_embeddings_with))

    def encode_pairs(self, pairs: list[tuple[str, str]]):
        a = [prep(x, self.charmap) for x, _ in pairs]
        b = [prep(y, self.charmap) for _, y in pairs]
        return self.tokenizer(a, b, truncation="longest_first", max_length=MAX_LEN,
                              padding=True, return_tensors="pt")

    def logits(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        with self._lock:
            return batched_logits(self.model, pairs, self.encode_pairs, len(FLAGS), self.batch_size,
                                  size=lambda p: len(p[0]) + len(p[1]))

    def __call__(self, contexts: list[TurnContext]) -> np.ndarray:
        return self.logits([pair_texts(c) for c in contexts])
