"""The fine-tuned pair model: context building (fast) and a real train/load/score round trip (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from replyguard.context import build_contexts
from replyguard.pair import PAIR_FEATURES, pair_texts
from replyguard.schema import FLAGS, Conversation

TINY = Path(__file__).parent / "data" / "tiny"


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation(id="c", turns=[{"role": r, "text": t} for r, t in turns])


def test_pair_text_carries_open_message_previous_agent_and_customer():
    c = conv(("customer", "我的快递三天没动了"), ("agent", "亲，请稍等"), ("customer", "???"), ("customer", "到底在哪"),
             ("agent", "已为您催促[快递x]网点，今天18点前更新"))
    a, b = pair_texts(build_contexts(c)[-1])
    assert a.startswith("customer: ???")  # the open message: both messages since the last agent turn
    assert "到底在哪" in a and "agent before: 亲，请稍等" in a and "customer before: 我的快递三天没动了" in a
    assert b == "已为您催促[快递x]网点，今天18点前更新"


def test_pair_text_falls_back_to_open_question_when_agent_speaks_twice():
    c = conv(("customer", "Where is my refund?"), ("agent", "Let me check."), ("agent", "It was sent today."))
    a, _ = pair_texts(build_contexts(c)[-1])
    assert a.startswith("customer: Where is my refund?")


def test_pair_text_clips_enormous_turns():
    c = conv(("customer", "x" * 19_000), ("agent", "y" * 19_000))
    a, b = pair_texts(build_contexts(c)[-1])
    assert len(a) < 1_000 and len(b) <= 600


def test_pair_features_follow_flag_order():
    assert PAIR_FEATURES == tuple(f"pair_{f}" for f in FLAGS)


@pytest.mark.slow
def test_pair_model_trains_loads_and_scores(tmp_path):
    """bundle -> fit (a few steps, CPU) -> card -> PairModel.load; the same code the shipped adapter went through."""
    from training import train_pair

    data = tmp_path / "data"
    data.mkdir()
    rows = (TINY / "valid.jsonl").read_text(encoding="utf-8").splitlines()
    (data / "train.jsonl").write_text("\n".join(rows[:40]) + "\n", encoding="utf-8")
    (data / "valid.jsonl").write_text("\n".join(rows[40:55]) + "\n", encoding="utf-8")
    held = (TINY / "heldout.jsonl").read_text(encoding="utf-8").splitlines()[:10]
    (data / "heldout.jsonl").write_text("\n".join(held) + "\n", encoding="utf-8")
    bundle = tmp_path / "bundle"
    train_pair.bundle(data, bundle, compact=True)
    d = np.load(bundle / "data.npz")
    assert d["train_ids"].shape[1] == 128 and d["train_y"].shape[1] == len(FLAGS)
    out = tmp_path / "adapter"
    summary = train_pair.fit(bundle, out, epochs=1, lr=4e-4, rank=4, batch=8, seed=0, device="cpu",
                             max_steps=3, max_eval=16)
    assert summary["trainable_parameters"] > 0
    assert (out / "adapter_model.safetensors").stat().st_size < 5_000_000  # an adapter, not the encoder
    # the adapter trained on the compact vocabulary loads onto the full encoder
    metrics = train_pair.card(out, data, bundle, None)
    assert set(metrics["flags"]) == set(FLAGS)
    assert "pair model alone" in (out / "README.md").read_text(encoding="utf-8")

    from replyguard.pair import PairModel

    pm = PairModel.load(out)
    c = conv(("customer", "Where is my parcel???"), ("agent", "Is there anything else I can help you with?"))
    lg = pm(build_contexts(c))
    assert lg.shape == (1, len(FLAGS)) and np.isfinite(lg).all()
    assert np.allclose(pm(build_contexts(c)), lg)  # deterministic in eval mode
    json.loads((out / "adapter_config.json").read_text())

    # continued training starts from the adapter's weights, not from scratch
    more = tmp_path / "continued"
    s2 = train_pair.fit(bundle, more, epochs=1, lr=4e-4, rank=16, batch=8, seed=0, device="cpu",
                        max_steps=1, max_eval=16, init=out, hard_repeat=2, replay=0.5)
    assert s2["rank"] == 4 and s2["init"] == str(out)  # the adapter's own rank, not the argument's
    cont = PairModel.load(more)
    assert not np.allclose(cont(build_contexts(c)), lg)  # one step moved it
    assert np.abs(cont(build_contexts(c)) - lg).max() < 1.0  # ... from where the adapter was

    # distillation: kept flags follow the starting adapter, not the labels; it needs a start
    kept = tuple(f for f in FLAGS if f != "defensive")
    s4 = train_pair.fit(bundle, tmp_path / "kept", epochs=1, lr=4e-4, rank=4, batch=8, seed=0, device="cpu",
                        max_steps=1, max_eval=16, init=out, keep=kept, keep_weight=2.0)
    assert s4["keep"] == list(kept) and s4["keep_weight"] == 2.0
    with pytest.raises(SystemExit, match="needs --init"):
        train_pair.fit(bundle, tmp_path / "nokeep", epochs=1, lr=4e-4, rank=4, batch=8, seed=0, device="cpu",
                       max_steps=1, keep=kept)

    # refitting one output row leaves the other four logits exactly as they were
    row = tmp_path / "refit"
    s3 = train_pair.refit_row(bundle, out, row, "defensive", device="cpu", cs=(0.1, 1.0))
    assert s3["chosen_C"] in (0.1, 1.0) and len(s3["tried"]) == 3
    refit = PairModel.load(row)(build_contexts(c))
    j = FLAGS.index("defensive")
    others = [k for k in range(len(FLAGS)) if k != j]
    assert np.allclose(refit[:, others], lg[:, others], atol=1e-5)
    assert not np.isclose(refit[0, j], lg[0, j])
    train_pair.card(row, data, bundle, None)
    assert "output row refitted" in (row / "README.md").read_text(encoding="utf-8")


def test_epoch_plan_repeats_hard_rows_replays_a_fraction_and_groups_by_length():
    from training.train_pair import _epoch_batches

    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 128, size=1000)
    hard = np.zeros(1000, dtype=bool)
    hard[:100] = True
    batches = _epoch_batches(lengths, hard, 16, rng, hard_repeat=3, replay=0.5)
    rows = np.concatenate(batches)
    counts = np.bincount(rows, minlength=1000)
    assert (counts[:100] == 3).all()  # every hard row three times
    assert set(np.unique(counts[100:])) <= {0, 1} and counts[100:].sum() == 450  # half the others, once
    assert all(len(b) <= 16 for b in batches)
    # inside a batch the lengths are close (sorted within windows), so padding is small
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches if len(b) == 16])
    assert spread < 20


@pytest.mark.slow
def test_shipped_pair_adapter_shares_the_encoders_embeddings():
    from replyguard.encoder import Encoder
    from replyguard.pair import PairModel

    enc = Encoder.load()
    from replyguard.analyzer import ModelFolder
    from replyguard.schema import DEFAULT_MODEL

    pm = PairModel.load(ModelFolder.load(DEFAULT_MODEL).pair_dir, share_embeddings_with=enc)
    ours = pm.model.bert.embeddings.word_embeddings.weight
    theirs = enc.model[0].auto_model.embeddings.word_embeddings.weight
    assert ours.data_ptr() == theirs.data_ptr()
    c = conv(("customer", "我在机场等了两个小时，司机电话打不通!!!"), ("agent", "亲，请问还有其他需要咨询的吗?"))
    lg = pm(build_contexts(c))[0]
    assert lg[FLAGS.index("non_answer")] > 0 and lg[FLAGS.index("missing_empathy")] > 0


def test_bundle_masks_training_turns_whose_evidence_the_pair_model_cannot_see(tmp_path):
    """A paste of an agent turn from further back is the repeat features' job: in the *train*
    split such turns teach the pair model nothing; in valid/heldout they are still scored."""
    from training import train_pair

    turns = [{"role": "customer", "text": "Where is my parcel?"},
             {"role": "agent", "text": "It left the depot this morning.", "gold": [], "skip": []},
             {"role": "customer", "text": "Which courier?"},
             {"role": "agent", "text": "DPD, tracking [数字x].", "gold": [], "skip": []},
             {"role": "customer", "text": "It still says nothing!!"},
             {"role": "agent", "text": "It left the depot this morning.", "gold": ["boilerplate", "non_answer"],
              "skip": ["missing_empathy"], "move": "hard_far_repeat"}]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid", "heldout"):
        (data / f"{split}.jsonl").write_text(json.dumps({"id": split, "lang": "en", "turns": turns}) + "\n")
    train_pair.bundle(data, tmp_path / "b", compact=False)
    d = np.load(tmp_path / "b" / "data.npz")
    assert d["train_m"][:2].all() and not d["train_m"][2].any()
    assert d["valid_m"][2].sum() == len(FLAGS) - 1  # only its own skip


def test_bundle_records_hard_case_families_and_drops_a_stale_compact_encoder(tmp_path):
    """``fit --focus`` repeats the rows of named hard-case families, so the bundle keeps each
    row's family; a bundle rebuilt without ``--compact`` over a compact one must not leave the
    cut-vocabulary encoder behind (fit would load it with full-vocabulary ids)."""
    from training import train_pair

    turns = [{"role": "customer", "text": "Where is my parcel?"},
             {"role": "agent", "text": "You should have checked the tracking.", "gold": ["defensive"], "skip": []}]
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "valid", "heldout"):
        rows = [{"id": f"{split}-a", "lang": "en", "turns": turns},
                {"id": f"{split}-b", "lang": "en", "scenario": "hard:contrast:parcel", "turns": turns}]
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    b = tmp_path / "b"
    train_pair.bundle(data, b, compact=True)
    assert (b / "model.safetensors").exists()
    train_pair.bundle(data, b, compact=False)
    assert not (b / "model.safetensors").exists() and not (b / "config.json").exists()
    d = np.load(b / "data.npz")
    assert d["train_family"].tolist() == ["", "contrast"] and d["train_hard"].tolist() == [0, 1]
    with pytest.raises(SystemExit, match="no training rows"):
        train_pair.fit(b, tmp_path / "out", epochs=1, lr=1e-4, rank=4, batch=2, seed=0, device="cpu",
                       max_steps=1, focus=("sarcasm",))
