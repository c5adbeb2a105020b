"""Keeping a worker's memory flat under a stream of new drafts (service/README.md, "Latency").

Every check brings a draft the worker has never seen. Two things grew with that, besides the
caches that are meant to (the encoder's 2,000 drafts, bounded):

- the tokenizers' word caches (:func:`drop_word_caches`);
- the rows of the embedding tables that new drafts read (:class:`SparseWeights`).
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Iterable

log = logging.getLogger("replyguard.service")
_MADV_DONTNEED = 4


def drop_word_caches(analyzer) -> int:
    """Turn off the word caches of the models' tokenizers; returns how many were turned off.

    A Hugging Face fast tokenizer remembers the tokens of every "word" it has seen (up to
    10,000) and never forgets one. To the e5 tokenizer a word is everything between spaces,
    so a Chinese draft is one word and every keystroke adds an entry: measured, about 2 KB
    per check for the encoder's and the pair model's tokenizers together, in small scattered
    allocations that a heap trim cannot give back. Tokenising without the cache took the same
    time (about 1.2 ms for a batch of 4 context/draft pairs either way). ``_resize_cache`` is
    the tokenizers package's own switch; where a tokenizer lacks it, it is left as it is.
    """
    n = 0
    for backend in _unique(getattr(tok, "backend_tokenizer", None) for tok in _tokenizers(analyzer)):
        resize = getattr(backend.model, "_resize_cache", None)
        if resize is not None:
            resize(0)
            n += 1
    return n


def _tokenizers(analyzer) -> list:
    model = getattr(getattr(analyzer, "encoder", None), "model", None)  # a SentenceTransformer, or absent
    return [getattr(model, "tokenizer", None), getattr(getattr(analyzer, "pair", None), "tokenizer", None)]


def _unique(objs: Iterable) -> list:
    out: list = []
    for o in objs:
        if o is not None and not any(o is x for x in out):
            out.append(o)
    return out


class SparseWeights:
    """Embedding tables that live in the memory-mapped weights file, handed back on each trim.

    The e5 weights are mapped from ``model.safetensors``, not copied, and the word-embedding
    table is most of the file (250,037 rows, 366 MB; the pair model shares it). A pass reads
    only the rows of its tokens, but every page it reads stays in the worker's RSS (with the
    neighbouring pages the kernel maps along), so drafts bringing tokens not seen before grew
    the worker by 2-4 MB per 1,000 checks in the soak, and could grow it towards the whole
    table over days. :meth:`release` unmaps those pages (``MADV_DONTNEED``); they stay in the
    page cache (shared by all workers), so the rows a later pass needs come back by a minor
    fault, from the same file. Only tables whose mapping holds no page this process has
    written (``Anonymous: 0 kB`` in smaps) are released, so what is dropped is always an exact
    copy of the file. A release took about 45 ms on the development machine.
    """

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        self.ranges = ranges  # page-aligned (start, end) inside file-backed mappings

    @classmethod
    def of(cls, analyzer, min_bytes: int = 16 << 20) -> SparseWeights:
        """The analyzer's embedding tables of at least ``min_bytes`` that are file-mapped."""
        tables = []
        for part in (getattr(analyzer, "encoder", None), getattr(analyzer, "pair", None)):
            model = getattr(part, "model", None)
            tables += _embedding_weights(model, min_bytes)
        return cls.from_tensors(tables)

    @classmethod
    def from_tensors(cls, tensors: Iterable) -> SparseWeights:
        maps = _file_mappings()
        page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        ranges = []
        for t in _unique(tensors):
            start = t.data_ptr()
            end = start + t.numel() * t.element_size()
            if not any(lo <= start and end <= hi for lo, hi in maps):
                continue  # in ordinary memory (copied, or built in this process): nothing to hand back
            lo, hi = -(-start // page) * page, end // page * page
            if hi > lo and (lo, hi) not in ranges:
                ranges.append((lo, hi))
        return cls(ranges)

    def release(self) -> int:
        """Unmap the tables' pages; returns the bytes of address space advised."""
        if not self.ranges or _madvise is None:
            return 0
        clean = _clean_mappings()
        done = 0
        for lo, hi in self.ranges:
            if not any(a <= lo and hi <= b for a, b in clean):
                continue  # the mapping holds a page written in this process: keep it
            if _madvise(lo, hi - lo, _MADV_DONTNEED) == 0:
                done += hi - lo
        return done


def _embedding_weights(model, min_bytes: int) -> list:
    if model is None or not hasattr(model, "modules"):
        return []
    import torch

    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding)
            and m.weight.device.type == "cpu" and m.weight.numel() * m.weight.element_size() >= min_bytes]


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of every mapping of a regular file (/proc/self/maps; empty elsewhere)."""
    out = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[4] != "0" and parts[5].startswith("/"):
                    lo, hi = (int(x, 16) for x in parts[0].split("-"))
                    out.append((lo, hi))
    except OSError:
        pass
    return out


def _clean_mappings() -> list[tuple[int, int]]:
    """File mappings without a single page written in this process (smaps ``Anonymous: 0``)."""
    out, cur = [], None
    try:
        with open("/proc/self/smaps") as f:
            for line in f:
                head = line.split(maxsplit=5)
                if "-" in head[0] and not head[0].endswith(":"):
                    file_backed = len(head) == 6 and head[4] != "0" and head[5].startswith("/")
                    cur = tuple(int(x, 16) for x in head[0].split("-")) if file_backed else None
                elif cur is not None and head[0] == "Anonymous:":
                    if head[1] == "0":
                        out.append(cur)
                    cur = None
    except OSError:
        pass
    return out


def _libc_madvise():
    try:
        fn = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_madvise = _libc_madvise() if os.path.exists("/proc/self/maps") else None
