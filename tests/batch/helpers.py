"""Factories shared by the batch tests (importable by subprocesses and Ray workers)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from tests.utils.fixtures import HashEncoder

ROOT = Path(__file__).resolve().parents[2]
TINY_HELDOUT = ROOT / "tests" / "data" / "tiny" / "heldout.jsonl"


def tiny_analyzer(model_dir: str, marker_dir: str | None = None):
    """The tiny model with the hash encoder; with ``marker_dir``, leave one file per load (pid)."""
    from replyguard.analyzer import Analyzer, ModelFolder

    if marker_dir:
        Path(marker_dir, f"load-{os.getpid()}-{random.random():.6f}").touch()
    return Analyzer(ModelFolder.load(model_dir), HashEncoder())


def resampled(n: int, seed: int = 0, source: Path = TINY_HELDOUT) -> list[dict]:
    """``n`` conversations drawn from ``source`` with new ids, agents and channels."""
    pool = [json.loads(x) for x in source.read_text(encoding="utf-8").splitlines() if x.strip()]
    rng = random.Random(seed)
    out = []
    for i in range(n):
        c = json.loads(json.dumps(rng.choice(pool)))
        c["id"] = f"r-{i:06d}"
        c["channel"] = rng.choice(["chat", "email", "app"])
        agent = f"a-{rng.randrange(12):02d}"
        for t in c["turns"]:
            t.pop("gold", None), t.pop("skip", None)
            if t["role"] == "agent":
                t["agent_id"] = agent
        out.append(c)
    return out


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
