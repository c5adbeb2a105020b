"""Average fine-tuned pair-model adapters in weight space (a "model soup", WiSE-FT style).

    python -m training.soup_pair --adapters models/replyguard-pair-v1 models/replyguard-pair-v2 \\
        --out models/replyguard-pair-v3 [--weights 0.5 0.5]

Why: ``replyguard-pair-v2`` was continued from ``replyguard-pair-v1`` on the hard cases. It is
better on the composed held-out file and worse on real text (relevance on the eval_only sets).
Interpolating the weights of a fine-tuned model and the model it was continued from is the
known remedy for that trade (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022):
it keeps most of the in-distribution gain and most of the robustness, at no inference cost.

The average is exact for the LoRA updates: each adapter adds ``scale * B_i @ A_i`` to a frozen
weight, and the soup's update ``sum_i w_i * scale * B_i @ A_i`` is stored as one LoRA of rank
``sum_i r_i`` (A stacked, B side by side and weighted) with ``lora_alpha`` raised so that the
scale stays ``alpha / r``. Fully trained modules (``modules_to_save``: pooler, classifier) are
averaged directly. Every adapter must share the base model, rank, alpha and target modules.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from replyguard.encoder_build import sha256

WEIGHTS = "adapter_model.safetensors"
CONFIG = "adapter_config.json"
SAME = ("base_model_name_or_path", "r", "lora_alpha", "target_modules", "modules_to_save", "peft_type", "use_rslora",
        "use_dora")


def soup(adapters: list[Path], weights: list[float]) -> tuple[dict[str, np.ndarray], dict]:
    if len(adapters) != len(weights) or len(adapters) < 2:
        raise SystemExit("give at least two adapters and one weight per adapter")
    if abs(sum(weights) - 1.0) > 1e-6 or min(weights) < 0:
        raise SystemExit(f"weights must be non-negative and sum to 1, got {weights}")
    configs = [json.loads((a / CONFIG).read_text()) for a in adapters]
    for key in SAME:
        values = {json.dumps(c.get(key), sort_keys=True) for c in configs}
        if len(values) > 1:
            raise SystemExit(f"adapters differ in {key}: {sorted(values)}")
    if configs[0].get("use_dora") or configs[0].get("use_rslora"):
        raise SystemExit("only plain LoRA adapters can be averaged exactly here")
    tensors = [load_file(str(a / WEIGHTS)) for a in adapters]
    keys = set(tensors[0])
    if any(set(t) != keys for t in tensors[1:]):
        raise SystemExit("adapters hold different tensors")
    out: dict[str, np.ndarray] = {}
    for k in sorted(keys):
        if ".lora_A." in k:
            out[k] = np.concatenate([t[k] for t in tensors], axis=0)
        elif ".lora_B." in k:
            out[k] = np.concatenate([w * t[k] for w, t in zip(weights, tensors)], axis=1)
        else:  # fully trained module (pooler, classifier)
            out[k] = sum(w * t[k] for w, t in zip(weights, tensors)).astype(tensors[0][k].dtype)
    r = configs[0]["r"]
    config = {**configs[0], "r": r * len(adapters), "lora_alpha": configs[0]["lora_alpha"] * len(adapters)}
    return {k: np.ascontiguousarray(v) for k, v in out.items()}, config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--adapters", nargs="+", type=Path, required=True)
    ap.add_argument("--weights", nargs="+", type=float, help="one per adapter (default: equal)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    weights = args.weights or [1.0 / len(args.adapters)] * len(args.adapters)
    tensors, config = soup(args.adapters, weights)
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(args.out / WEIGHTS)
    (args.out / CONFIG).write_text(json.dumps(config, indent=2))
    record = {
        "kind": "weight-space average of LoRA adapters (training/soup_pair.py)",
        "created": dt.date.today().isoformat(),
        "adapters": [{"path": a.name, "weight": w,
                      "sha256": sha256(a / WEIGHTS)}
                     for a, w in zip(args.adapters, weights)],
        "r": config["r"], "lora_alpha": config["lora_alpha"],
    }
    (args.out / "training.json").write_text(json.dumps(record, indent=1))
    print(f"wrote {args.out}: rank {config['r']}, weights {weights}")


if __name__ == "__main__":
    main()
