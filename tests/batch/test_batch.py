"""score_file: order, bad records, resume after an interruption, atomic output, bounded memory."""

import json
import tracemalloc

import pytest

from replyguard.batch import Journal, LocalEngine, default_errors_path, score_file
from replyguard.schema import Conversation, ScoredConversation, TurnResult
from tests.batch.helpers import write_jsonl


class Interrupting:
    """Wraps an engine and stops the run (as Ctrl-C would) after ``after`` chunks."""

    def __init__(self, engine, after: int) -> None:
        self.engine, self.after, self.scored = engine, after, []

    def map(self, chunks):
        for chunk, data in self.engine.map(chunks):
            if len(self.scored) == self.after:
                raise KeyboardInterrupt
            self.scored.append(chunk.number)
            yield chunk, data


def _lines(path):
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


def test_output_is_the_analyzers_in_input_order(tmp_path, tiny_analyzer, convs, convs_file):
    with open(convs_file, "a", encoding="utf-8") as f:
        f.write("{broken\n" + json.dumps({"id": "x", "turns": []}) + "\n")
    out = tmp_path / "out.jsonl"
    res = score_file(convs_file, out, LocalEngine(tiny_analyzer), chunk_size=16)
    expected = tiny_analyzer.score([Conversation.model_validate(c) for c in convs[:16]])
    assert _lines(out)[:16] == [r.model_dump(exclude_none=True) for r in expected]
    assert [x["id"] for x in _lines(out)] == [c["id"] for c in convs]
    assert (res.scored, res.bad, res.chunks) == (120, 2, 8)
    assert res.errors == default_errors_path(out) == tmp_path / "out.errors.jsonl"
    errs = _lines(res.errors)
    assert [(e["line"], e["id"]) for e in errs] == [(121, None), (122, "x")]
    assert "malformed JSON" in errs[0]["problem"] and "no turns" in errs[1]["problem"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.errors.jsonl", "out.jsonl"]


def test_interrupted_run_resumes_to_identical_bytes(tmp_path, tiny_analyzer, convs_file):
    ref = tmp_path / "ref.jsonl"
    score_file(convs_file, ref, LocalEngine(tiny_analyzer), model_id="tiny", chunk_size=10)
    out = tmp_path / "out.jsonl"
    stop = Interrupting(LocalEngine(tiny_analyzer), after=3)
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, stop, model_id="tiny", chunk_size=10)
    assert not out.exists() and out.with_name("out.jsonl.partial").exists()
    notes = []
    again = Interrupting(LocalEngine(tiny_analyzer), after=99)
    res = score_file(convs_file, out, again, model_id="tiny", chunk_size=10, on_note=notes.append)
    assert again.scored == list(range(3, 12))  # finished chunks are not scored again
    assert res.resumed_chunks == 3 and res.scored == 120 and notes == ["resuming: 3 chunks already scored"]
    assert out.read_bytes() == ref.read_bytes()
    assert not out.with_name("out.jsonl.partial").exists() and not out.with_name("out.jsonl.journal").exists()


def test_torn_writes_from_a_kill_are_cut_back(tmp_path, tiny_analyzer, convs_file):
    ref, out = tmp_path / "ref.jsonl", tmp_path / "out.jsonl"
    score_file(convs_file, ref, LocalEngine(tiny_analyzer), chunk_size=10)
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, Interrupting(LocalEngine(tiny_analyzer), after=4), chunk_size=10)
    # a kill between the two fsyncs: chunk bytes written, journal line half written
    with open(out.with_name("out.jsonl.partial"), "ab") as f:
        f.write(b'{"id": "half a line')
    with open(out.with_name("out.jsonl.journal"), "ab") as f:
        f.write(b'{"chunk": 4, "en')
    res = score_file(convs_file, out, LocalEngine(tiny_analyzer), chunk_size=10)
    assert res.resumed_chunks == 4
    assert out.read_bytes() == ref.read_bytes()


def test_changed_input_or_model_starts_over(tmp_path, tiny_analyzer, convs, convs_file):
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, Interrupting(LocalEngine(tiny_analyzer), after=2), model_id="a", chunk_size=10)
    notes = []
    res = score_file(convs_file, out, LocalEngine(tiny_analyzer), model_id="b", chunk_size=10, on_note=notes.append)
    assert res.resumed_chunks == 0 and "starting over" in notes[0]
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, Interrupting(LocalEngine(tiny_analyzer), after=2), chunk_size=10)
    write_jsonl(convs_file, convs[::-1])  # same file, other contents
    res = score_file(convs_file, out, LocalEngine(tiny_analyzer), chunk_size=10)
    assert res.resumed_chunks == 0 and [x["id"] for x in _lines(out)] == [c["id"] for c in convs[::-1]]


def test_fresh_ignores_an_interrupted_run(tmp_path, tiny_analyzer, convs_file):
    out = tmp_path / "out.jsonl"
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, Interrupting(LocalEngine(tiny_analyzer), after=2), chunk_size=10)
    again = Interrupting(LocalEngine(tiny_analyzer), after=99)
    res = score_file(convs_file, out, again, chunk_size=10, fresh=True)
    assert res.resumed_chunks == 0 and again.scored[0] == 0


def test_one_writer_per_output(tmp_path):
    j = Journal(tmp_path / "out.jsonl", {"x": 1})
    try:
        with pytest.raises(RuntimeError, match="another run"):
            Journal(tmp_path / "out.jsonl", {"x": 1})
    finally:
        j.close()


def test_empty_input_gives_empty_output(tmp_path, tiny_analyzer):
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n")
    res = score_file(inp, tmp_path / "out.jsonl", LocalEngine(tiny_analyzer))
    assert (tmp_path / "out.jsonl").read_bytes() == b"" and res.scored == 0


class _Constant:
    """A model stand-in that costs nothing, so only the pipeline's own memory is measured."""

    def score(self, conversations):
        return [ScoredConversation(id=c.id, score=100.0, turns=[TurnResult(index=1)]) for c in conversations]


def _peak(tmp_path, n: int) -> int:
    rows = [{"id": f"c{i}", "turns": [{"role": "customer", "text": f"where is order {i}? " * 20},
                                      {"role": "agent", "text": "checking " * 30}]} for i in range(n)]
    inp = write_jsonl(tmp_path / f"in{n}.jsonl", rows)
    del rows
    tracemalloc.start()
    score_file(inp, tmp_path / f"out{n}.jsonl", LocalEngine(_Constant()), chunk_size=64)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_memory_does_not_grow_with_the_input(tmp_path):
    small, large = _peak(tmp_path, 500), _peak(tmp_path, 4000)
    assert large < 1.3 * small, (small, large)  # 8x the input, (almost) the same peak
