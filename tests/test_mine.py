"""Hard-case mining and the head-family choice on unseen lines."""

import json

import numpy as np
import pytest

from replyguard.evaluate import evaluate
from replyguard.io import read_conversations
from replyguard.schema import GoldConversation
from tests.conftest import TINY


def test_mine_writes_exactly_the_conversations_the_model_gets_wrong(tiny_analyzer, tmp_path):
    from training.mine import mine

    pool = TINY / "valid.jsonl"
    out = tmp_path / "mined" / "tiny.jsonl"
    summary = mine("tiny", pool, out, analyzer=tiny_analyzer)

    gold = [c for _, c in read_conversations(pool, gold=True)]
    errors: list[dict] = []
    evaluate(gold, tiny_analyzer.score(gold), on_error=errors.append)
    wrong = {e["conversation"] for e in errors}
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]

    assert 0 < len(rows) == len(wrong) == summary["mined_conversations"] < len(gold)
    assert {r["id"] for r in rows} == {f"mined-{cid}" for cid in wrong}
    assert sum(summary["errors"].values()) == len(errors)
    by_id = {c.id: c for c in gold}
    for r in rows:
        conv = GoldConversation.model_validate(r)  # trains as an --extra-conversations file
        src = by_id[r["id"].removeprefix("mined-")]
        assert [t.text for t in conv.turns] == [t.text for t in src.turns]
        assert [t.gold for t in conv.turns] == [t.gold for t in src.turns]
        for m in r["mined"]:
            turn = src.turns[m["index"]]
            assert turn.role == "agent" and m["flag"] not in turn.skip
            assert (m["flag"] in turn.gold) == (m["kind"] == "false_negative")
    assert not list(out.parent.glob("*.part"))  # written atomically, nothing left beside it


def test_mine_refuses_the_heldout_split(tmp_path):
    from training.mine import main

    with pytest.raises(SystemExit) as e:
        main(["--model", "x", "--pool", str(TINY / "heldout.jsonl"), "--out", str(tmp_path / "m.jsonl")])
    assert e.value.code == 2


def _memorised_lines(seed: int = 0):
    """Labels that belong to reply texts, not to anything a head could carry to a new line."""
    rng = np.random.default_rng(seed)
    n_lines, n = 40, 4000
    line_label = rng.integers(0, 2, n_lines)
    line = rng.integers(0, n_lines, n)
    x = np.eye(n_lines)[line] + rng.normal(0, 0.05, (n, n_lines))
    scenarios = np.array([f"s{i}" for i in rng.integers(0, 60, n)])
    replies = np.array([f"stock line number {i}" for i in line])
    return x, line_label[line], scenarios, replies


def test_line_disjoint_does_not_reward_memorised_lines():
    """Folds grouped by scenario let a head memorise per-line labels; line-disjoint folds do not."""
    from training.train import _oof, line_disjoint

    x, y, scenarios, replies = _memorised_lines()
    _, _, grouped_f1, _ = _oof(x, y, scenarios, 0, 0)
    unseen = line_disjoint(x, y, scenarios, replies, 0, 0)
    assert grouped_f1 > 0.95
    assert unseen["f1"] < 0.75
    assert unseen["log_loss"] > 0.6  # about log 2: nothing carries over


def _carried_signal(seed: int = 1, interaction: bool = False):
    rng = np.random.default_rng(seed)
    n = 1500
    x = rng.normal(0, 1, (n, 2))
    noise = rng.normal(0, 0.5, n)  # labels are not a deterministic function of x: log-loss stays well above 0
    y = ((x[:, 0] * x[:, 1] + noise > 0) if interaction else (x[:, 0] + noise > 0.5)).astype(int)
    scenarios = np.array([f"s{i}" for i in rng.integers(0, 60, n)])
    replies = np.array([f"line {i}" for i in rng.integers(0, 150, n)])
    return x, y, scenarios, replies


def test_line_disjoint_keeps_what_carries_to_new_lines():
    from training.train import line_disjoint

    assert line_disjoint(*_carried_signal(), 0, 0)["f1"] > 0.8


def test_choose_head_prefers_logistic_unless_the_mlp_is_needed():
    """A linear rule gets the logistic head; an interaction only an MLP can fit gets an MLP."""
    from training.train import choose_head

    h, _, scores = choose_head(*_carried_signal(), hidden=8, seed=0, k=3)
    assert h == 0 and set(scores) == {"logistic", "mlp8(alpha=1)", "mlp8(alpha=0.1)", "mlp8(alpha=0.001)"}
    h, alpha, scores = choose_head(*_carried_signal(interaction=True), hidden=8, seed=0, k=3)
    assert h == 8 and alpha > 0
    assert scores[f"mlp8(alpha={alpha:g})"]["log_loss"] < 0.8 * scores["logistic"]["log_loss"]


@pytest.mark.parametrize("scores, pick", [
    # v9's defensive measurements: the α=0.001 MLP has the lowest log-loss but the lowest F1
    ({"logistic": (0.06704, 0.8311), "a1": (0.06717, 0.8201), "a0.1": (0.06213, 0.8312), "a0.001": (0.05977, 0.8177)},
     (0, 0.0)),
    # v9's non_answer: the α=0.1 MLP is best on both, so complexity is earned
    ({"logistic": (0.1168, 0.9418), "a1": (0.09965, 0.9505), "a0.1": (0.08877, 0.9583), "a0.001": (0.10579, 0.9525)},
     (8, 0.1)),
    # v9's ad_to_upset_customer: α=0.1 has the lowest log-loss; the α=0.001 MLP's higher F1 does not buy more complexity
    ({"logistic": (0.03926, 0.8744), "a1": (0.03701, 0.8699), "a0.1": (0.02875, 0.9067), "a0.001": (0.02925, 0.9136)},
     (8, 0.1)),
])
def test_choose_head_takes_the_simplest_head_as_good_as_the_best_by_either_measure(monkeypatch, scores, pick):
    """A more complex head must win on both the unseen-line log-loss and the unseen-line F1."""
    import training.train as tr

    by_cand = {(0, 0.0): scores["logistic"], (8, 1.0): scores["a1"], (8, 0.1): scores["a0.1"], (8, 1e-3): scores["a0.001"]}
    monkeypatch.setattr(tr, "line_disjoint", lambda xs, ys, gs, rs, h, seed, alpha, k, scored: dict(
        zip(("log_loss", "f1"), by_cand[(h, alpha)])))
    h, alpha, _ = tr.choose_head(np.zeros((4, 1)), np.zeros(4), np.zeros(4), np.zeros(4), hidden=8, seed=0)
    assert (h, alpha) == pick
    if pick == (0, 0.0):  # log-loss alone (f1_tolerance < 0, v9's rule) took the weakly regularised MLP
        assert tr.choose_head(np.zeros((4, 1)), np.zeros(4), np.zeros(4), np.zeros(4), hidden=8, seed=0,
                              f1_tolerance=-1)[:2] == (8, 1e-3)
