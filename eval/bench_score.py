"""Scoring throughput: agent turns per second, and its ratio to one batched encoder pass.

Both are measured in the same run on the same conversations, so the ratio holds on a busy
machine where absolute numbers do not.

    python eval/bench_score.py [--file data/generated/heldout.jsonl] [--n 400]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from replyguard.analyzer import Analyzer
from replyguard.context import build_contexts
from replyguard.encoder import Encoder
from replyguard.schema import Conversation
from replyguard.text import segments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=Path("data/generated/heldout.jsonl"))
    ap.add_argument("--n", type=int, default=400, help="conversations")
    ap.add_argument("--model", default="replyguard-v1")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    convs = []
    with open(args.file, encoding="utf-8") as f:
        for line in f:
            convs.append(Conversation.model_validate(json.loads(line)))
            if len(convs) >= args.n:
                break
    turns = sum(t.role == "agent" for c in convs for t in c.turns)
    analyzer = Analyzer.load(args.model, threads=args.threads)
    enc: Encoder = analyzer.encoder
    # texts the scorer must encode: every turn, plus segments of merged agent turns
    texts = []
    for c in convs:
        for ctx in build_contexts(c):
            texts += [ctx.reply, ctx.open_msg, ctx.question]
            s = segments(ctx.reply)
            texts += s if len(s) > 1 else []
    texts = [t for t in dict.fromkeys(texts) if t.strip()]
    analyzer.score(convs[:5])  # warm-up
    enc._cache.clear()
    t0 = time.perf_counter()
    enc.forward(texts)
    t_fwd = time.perf_counter() - t0
    enc._cache.clear()
    t0 = time.perf_counter()
    analyzer.score(convs)
    t_score = time.perf_counter() - t0
    print(f"conversations={len(convs)} agent_turns={turns} unique_texts={len(texts)} threads={args.threads}")
    print(f"encoder forward pass alone: {t_fwd:.2f}s  ({len(texts) / t_fwd:.0f} texts/s)")
    print(f"full scoring:               {t_score:.2f}s  ({turns / t_score:.1f} agent turns/s)")
    print(f"ratio scoring / forward:    {t_score / t_fwd:.2f}")


if __name__ == "__main__":
    main()
