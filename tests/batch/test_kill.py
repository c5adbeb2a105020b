"""A real kill: SIGKILL a scoring process mid-run (twice), restart it, compare the bytes."""

import json
import os
import signal
import subprocess
import sys
import time

from replyguard.batch import LocalEngine, score_file
from tests.batch.helpers import ROOT, resampled, write_jsonl

CHUNK = 8


def _journal_entries(out) -> int:
    j = out.with_name(out.name + ".journal")
    return max(0, len(j.read_bytes().split(b"\n")) - 2) if j.exists() else 0


def _run(model, inp, out, delay: float, kill_after: int | None) -> int | None:
    """Run the driver; with ``kill_after``, SIGKILL it once that many chunks are journalled."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.batch.kill_driver", str(model), str(inp), str(out),
                             str(CHUNK), str(delay)], cwd=ROOT, env=env)
    if kill_after is None:
        return proc.wait(timeout=60)
    deadline = time.monotonic() + 60
    while _journal_entries(out) < kill_after:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    return None


def test_killed_twice_and_restarted_gives_identical_bytes(tmp_path, tiny_model, tiny_analyzer):
    rows = resampled(100, seed=3)
    rows.insert(37, {"id": "bad", "turns": "not a list"})
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    ref = tmp_path / "ref.jsonl"
    score_file(inp, ref, LocalEngine(tiny_analyzer), model_id="tiny", chunk_size=CHUNK)

    out = tmp_path / "out.jsonl"
    _run(tiny_model, inp, out, delay=0.15, kill_after=3)
    assert not out.exists() and _journal_entries(out) >= 3
    _run(tiny_model, inp, out, delay=0.15, kill_after=_journal_entries(out) + 3)
    assert not out.exists()
    assert _run(tiny_model, inp, out, delay=0.0, kill_after=None) == 0
    assert out.read_bytes() == ref.read_bytes()
    assert len(out.read_bytes().splitlines()) == 100  # no line lost or doubled
    errors = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [(e["line"], e["id"]) for e in errors] == [(38, "bad")]
    assert not list(tmp_path.glob("out.jsonl.*"))
