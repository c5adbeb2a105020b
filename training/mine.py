"""Hard cases mined from a model's own errors, for the next round of flag-head training.

    python -m training.build_data --out build/pool --seed 29 --splits valid --per-scenario 10 --hard-scale 0.25
    python -m training.mine --model replyguard-v5 --pool build/pool/valid.jsonl --out data/mined/replyguard-v5.jsonl
    python -m training.train ... --extra-conversations data/mined/replyguard-v5.jsonl

The pool is a fresh composition (another seed) of the scenarios and lines the flag heads
already train on (the ``valid`` split), so nothing of the held-out split enters it. The model
scores every agent turn of the pool; each conversation with at least one turn it gets wrong
(a false alarm or a miss, on a flag the turn scores) is written out whole, with every gold
label, and with a ``mined`` list naming the wrong turns. Training on the file gives those
conversations a second weight next to the main valid set: the heads spend more of their
capacity where this model was wrong, not where it was already right.

A QA team's corrected labels (``replyguard feedback``) mine the same way: point ``--pool`` at
the corrected gold file.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def mine(model: str, pool: Path, out: Path, analyzer=None) -> dict:
    """Score ``pool`` with ``model``; write its conversations with a wrong turn to ``out``.

    Returns a summary: pool and mined sizes, and the errors counted by (flag, kind)."""
    from replyguard.analyzer import Analyzer
    from replyguard.cli import run_eval
    from replyguard.io import AtomicWriter

    an = analyzer or Analyzer.load(model)
    gold, _, report, bad, errors = run_eval(pool, model, analyzer=an)
    if bad:
        raise SystemExit(f"{pool}: {len(bad)} bad records, first: {bad[0]}")
    wrong: dict[str, list[dict]] = {}
    for e in errors:
        wrong.setdefault(e["conversation"], []).append({"index": e["index"], "flag": e["flag"], "kind": e["kind"]})
    writer = AtomicWriter(out)
    try:
        for g in gold:
            if g.id in wrong:
                writer.write_line({**g.model_dump(exclude_none=True), "id": f"mined-{g.id}",
                                   "source": f"mined from {an.name} errors", "mined": wrong[g.id]})
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    kinds = Counter(f"{e['flag']} {e['kind']}" for e in errors)
    return {"model": an.name, "pool": str(pool), "pool_conversations": len(gold), "pool_turns": report["turns"],
            "pool_macro_f1": report["all"]["macro_f1"], "mined_conversations": len(wrong),
            "errors": dict(sorted(kinds.items()))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="model name or folder whose errors are mined")
    ap.add_argument("--pool", type=Path, required=True, help="gold JSONL to score (never the held-out split)")
    ap.add_argument("--out", type=Path, required=True, help="mined gold JSONL to write")
    args = ap.parse_args(argv)
    if "heldout" in args.pool.name:
        ap.error(f"{args.pool}: the held-out split measures the model; mine another pool")
    summary = mine(args.model, args.pool, args.out)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
