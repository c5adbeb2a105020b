"""Scoring throughput: agent turns per second, and its ratio to one batched encoder pass.

Both are measured in the same run on the same conversations, so the ratio holds on a busy
machine where absolute numbers do not.

    python eval/bench_score.py [--file data/generated/heldout.jsonl] [--n 400] [--models A B]

With a pair model, the yardstick is the encoder pass plus the pair-model pass; with a line
model (``replyguard.line``), plus its pass over every reply and segment too.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from replyguard.analyzer import Analyzer
from replyguard.context import build_contexts
from replyguard.encoder import Encoder
from replyguard.line import line_texts
from replyguard.schema import DEFAULT_MODEL, FAST_MODEL, Conversation
from replyguard.text import segments


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--file", type=Path, default=Path("data/generated/heldout.jsonl"))
    ap.add_argument("--n", type=int, default=400, help="conversations")
    ap.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, FAST_MODEL],
                    help="model folders to time on the same conversations in this run (cost per turn of each)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    convs = []
    with open(args.file, encoding="utf-8") as f:
        for line in f:
            convs.append(Conversation.model_validate(json.loads(line)))
            if len(convs) >= args.n:
                break
    turns = sum(t.role == "agent" for c in convs for t in c.turns)
    first = Analyzer.load(args.models[0], threads=args.threads)
    enc: Encoder = first.encoder
    analyzers = [first] + [Analyzer.load(m, encoder=enc) for m in args.models[1:]]
    ctxs = [x for c in convs for x in build_contexts(c)]
    # texts the scorer must encode: every turn, plus segments of merged agent turns
    texts = []
    for ctx in ctxs:
        texts += [ctx.reply, ctx.open_msg, ctx.question]
        s = segments(ctx.reply)
        texts += s if len(s) > 1 else []
    texts = [t for t in dict.fromkeys(texts) if t.strip()]
    for a in analyzers:
        a.score(convs[:5])  # warm-up
    enc.clear_cache()
    t0 = time.perf_counter()
    enc.forward(texts)
    t_fwd = time.perf_counter() - t0
    print(f"conversations={len(convs)} agent_turns={turns} unique_texts={len(texts)} threads={args.threads}")
    print(f"encoder forward pass alone: {t_fwd:.2f}s  ({len(texts) / t_fwd:.0f} texts/s)")
    pair = next((a.pair for a in analyzers if a.pair is not None), None)
    t_pair = 0.0
    if pair is not None:
        t0 = time.perf_counter()
        pair(ctxs)
        t_pair = time.perf_counter() - t0
        print(f"pair model pass alone:      {t_pair:.2f}s  ({1000 * t_pair / turns:.1f} ms per agent turn)")
    line = next((a.line for a in analyzers if a.line is not None), None)
    t_line = 0.0
    if line is not None:
        texts_read = [t for ctx in ctxs for t in line_texts(ctx.reply, segments(ctx.reply))]
        t0 = time.perf_counter()
        line.proba(texts_read)
        t_line = time.perf_counter() - t0
        print(f"line model pass alone:      {t_line:.2f}s  ({1000 * t_line / turns:.1f} ms per agent turn)")
    print(f"{'model':<24} {'seconds':>8} {'turns/s':>8} {'ms/turn':>8} {'÷ its forward passes':>21}")
    for a in analyzers:
        enc.clear_cache()
        t0 = time.perf_counter()
        a.score(convs)
        t = time.perf_counter() - t0
        yard = t_fwd + (t_pair if a.pair is not None else 0.0) + (t_line if a.line is not None else 0.0)
        print(f"{a.name:<24} {t:>8.2f} {turns / t:>8.1f} {1000 * t / turns:>8.1f} {t / yard:>21.2f}")


if __name__ == "__main__":
    main()
