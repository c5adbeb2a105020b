"""The encoder's caches: history kept, drafts in a small cache of their own (no model weights)."""

from __future__ import annotations

import numpy as np

from replyguard.encoder import Encoder


class _Stub:
    """Stands in for the sentence-transformers model: a vector from the text's length."""

    def get_embedding_dimension(self) -> int:
        return 4

    def encode(self, texts, **_kw) -> np.ndarray:
        return np.array([[len(t), 1.0, 0.0, 0.0] for t in texts], dtype=np.float32)


def test_drafts_do_not_evict_history_and_their_cache_is_bounded():
    enc = Encoder(_Stub(), {}, "stub", cache_size=3, transient_size=2)
    enc.encode(["h1", "h2"])
    for i in range(10):  # an agent typing: a new draft each keystroke
        d = f"draft {i}"
        enc.encode(["h1", "h2", d], transient=[d])
    assert set(enc._cache) == {"h1", "h2"}
    assert list(enc._transient) == ["draft 8", "draft 9"]
    calls = enc.forward_calls
    enc.encode(["h1", "h2", "draft 9"], transient=["draft 9"])  # the same draft again: no pass
    assert enc.forward_calls == calls
    enc.encode(["h1", "h2", "draft 9"])  # sent: now history, moved to the main cache
    assert enc.forward_calls == calls and "draft 9" in enc._cache and "draft 9" not in enc._transient


def test_a_draft_equal_to_a_history_text_stays_in_the_history_cache():
    enc = Encoder(_Stub(), {}, "stub")
    enc.encode(["same reply"])
    enc.encode(["same reply"], transient=["same reply"])
    assert "same reply" in enc._cache and not enc._transient
