"""Batch scoring throughput and memory: local and Ray engines against the encoder alone.

    python eval/bench_batch.py                      # 100,000 agent turns, both engines
    python eval/bench_batch.py --turns 2000 --engines local

1. generate an input of ``--turns`` agent turns by resampling ``--source`` conversations
   (new ids, agent ids and channels; labels dropped), written once and reused;
2. run ``replyguard.batch.score_file`` with each engine in a fresh subprocess, sampling the
   memory (PSS, so pages shared between processes count once) of that process and all its
   children - for Ray that includes the raylet, GCS and the actors;
3. in another subprocess, replay exactly the encoder calls the scorer makes (same chunks,
   same texts, same batches - recorded with the real scorer and a stubbed forward pass)
   and time the encoder's forward pass alone over them. The ratio scoring / forward is
   what the rest of the pipeline costs; it holds on a busy machine where absolute
   numbers do not.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from replyguard.schema import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "data" / "generated" / "heldout.jsonl", ROOT / "tests" / "data" / "tiny" / "heldout.jsonl"]
CHANNELS = ("chat", "email", "app", "phone")


def generate(source: Path, turns: int, out: Path, seed: int = 0) -> dict:
    """Resample conversations until ``turns`` agent turns; return counts."""
    pool = [json.loads(x) for x in source.read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(seed)
    n_conv = n_turns = 0
    with open(out, "w", encoding="utf-8") as f:
        while n_turns < turns:
            c = rng.choice(pool)
            agent = f"a-{rng.randrange(200):03d}"
            conv = {"id": f"bench-{n_conv:07d}", "lang": c.get("lang"), "channel": rng.choice(CHANNELS),
                    "turns": [{"role": t["role"], "text": t["text"], **({"agent_id": agent} if t["role"] == "agent"
                                                                       else {})} for t in c["turns"]]}
            f.write(json.dumps(conv, ensure_ascii=False) + "\n")
            n_conv += 1
            n_turns += sum(t["role"] == "agent" for t in c["turns"])
    return {"conversations": n_conv, "agent_turns": n_turns}


def _child_run(args: argparse.Namespace) -> dict:
    """In the subprocess: score the file with one engine; report seconds."""
    from functools import partial

    from replyguard.analyzer import Analyzer, resolve_model
    from replyguard.batch import LocalEngine, score_file
    from replyguard.rules import RuleAnalyzer

    if args.model == "rules":  # no encoder: what the pipeline itself costs
        factory = RuleAnalyzer
    else:
        factory = partial(Analyzer.load, str(resolve_model(args.model).resolve()), threads=1)
    t0 = time.perf_counter()
    if args.engine == "local":
        engine = LocalEngine(RuleAnalyzer() if args.model == "rules" else Analyzer.load(args.model))
    else:
        import ray

        from replyguard.batch_ray import RayEngine

        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        engine = RayEngine(factory, workers=args.workers)
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = score_file(args.input, args.output, engine, chunk_size=args.chunk_size, fresh=True)
    return {"setup_s": round(setup, 2), "score_s": round(time.perf_counter() - t0, 2), "scored": res.scored,
            "driver_maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def _child_forward(args: argparse.Namespace) -> dict:
    """In the subprocess: record the scorer's encoder calls, then time the forward pass alone."""
    import numpy as np

    from replyguard.analyzer import Analyzer
    from replyguard.batch import _chunks, score_chunk
    from replyguard.sources import list_inputs, read_records

    analyzer = Analyzer.load(args.model)
    enc = analyzer.encoder
    real_forward = enc.forward
    seconds, texts, calls = 0.0, 0, 0
    for chunk in _chunks(read_records(list_inputs(args.input)), args.chunk_size, lambda e: None):
        recorded: list[list[str]] = []

        def stub(batch: list[str], batch_size: int = 64, recorded=recorded) -> np.ndarray:
            recorded.append(list(batch))
            return np.zeros((len(batch), enc.dim), dtype=np.float32)

        enc.forward = stub
        score_chunk(analyzer, chunk.conversations)  # the same calls as a real run, without the model
        enc.forward = real_forward
        for batch in recorded:
            t0 = time.perf_counter()
            real_forward(batch)
            seconds += time.perf_counter() - t0
            texts += len(batch)
            calls += 1
    return {"forward_s": round(seconds, 2), "texts": texts, "forward_calls": calls}


def _measure(argv: list[str]) -> dict:
    """Run this script as a subprocess; sample the PSS of its process tree; return its report."""
    import psutil

    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    parent = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        total = 0
        for p in [parent, *parent.children(recursive=True)]:
            try:
                total += p.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        peak = max(peak, total)
        time.sleep(0.5)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{argv[1]} run failed ({proc.returncode})")
    report = json.loads(out.strip().splitlines()[-1])
    report["tree_peak_pss_mb"] = round(peak / 2**20, 1)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--turns", type=int, default=100_000, help="agent turns in the generated input")
    ap.add_argument("--source", type=Path, default=None, help="conversations to resample (default: generated "
                    "held-out set, else the tiny committed one)")
    ap.add_argument("--model", default=DEFAULT_MODEL, help="model name or folder; `rules` (no encoder) "
                    "measures the pipeline alone")
    ap.add_argument("--engines", default="local,ray", help="comma-separated: local, ray")
    ap.add_argument("--workers", type=int, default=2, help="Ray actors (one CPU, one thread each)")
    ap.add_argument("--chunk-size", type=int, default=256)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "replyguard-bench")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--child", choices=["run", "forward"], help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child_run(args) if args.child == "run" else _child_forward(args)))
        return

    source = args.source or next(p for p in SOURCES if p.exists())
    args.workdir.mkdir(parents=True, exist_ok=True)
    inp = args.workdir / f"input-{args.turns}.jsonl"
    counts = generate(source, args.turns, inp)
    print(f"input: {inp} ({counts['conversations']} conversations, {counts['agent_turns']} agent turns, "
          f"resampled from {source})", flush=True)
    common = ["--model", args.model, "--input", str(inp), "--chunk-size", str(args.chunk_size)]
    results: dict = {"input": counts, "source": str(source), "model": args.model, "chunk_size": args.chunk_size,
                     "engines": {}}
    fwd = None
    if args.model != "rules":
        fwd = results["forward"] = _measure(["--child", "forward", *common])
        print(f"forward pass alone: {fwd['forward_s']:.1f}s over {fwd['texts']} texts in {fwd['forward_calls']} "
              "calls", flush=True)
    outputs = {}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        outputs[engine] = args.workdir / f"out-{engine}-{args.turns}.jsonl"
        r = _measure(["--child", "run", "--engine", engine, "--workers", str(args.workers),
                      "--output", str(outputs[engine]), *common])
        r["agent_turns_per_s"] = round(counts["agent_turns"] / r["score_s"], 1)
        r["ratio_to_forward"] = round(r["score_s"] / fwd["forward_s"], 2) if fwd else None
        results["engines"][engine] = r
        print(f"{engine:>6}: {r['score_s']:.1f}s scoring (+{r['setup_s']:.1f}s setup), "
              f"{r['agent_turns_per_s']} agent turns/s, " + (f"{r['ratio_to_forward']}x the forward pass; " if fwd
                                                              else "") +
              f"peak memory {r['tree_peak_pss_mb']:.0f} MB (process tree PSS), "
              f"driver max RSS {r['driver_maxrss_mb']:.0f} MB", flush=True)
    if len(outputs) == 2:
        a, b = (p.read_bytes().splitlines() for p in outputs.values())
        results["identical_lines"] = sum(x == y for x, y in zip(a, b))
        print(f"local vs ray: {results['identical_lines']} of {len(a)} lines identical")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
