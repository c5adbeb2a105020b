"""Corrections: CSV verdicts to gold conversations, a stable held-out split, `replyguard train --add-labels`."""

import json
import shutil

import pytest

from replyguard.corrections import CorrectionsError, load_corrections, split
from replyguard.schema import FLAGS
from tests.batch.helpers import write_jsonl
from tests.conftest import ACCEPTANCE, TINY
from tests.utils.fixtures import HashEncoder, conv


class _TrainingHashEncoder(HashEncoder):
    """The hash encoder where training expects the real one (no embedding cache on disk)."""

    def load_cache(self, path) -> int:
        return 0

    def save_cache(self, path) -> None:
        pass


@pytest.fixture()
def scored(tmp_path):
    rows = [conv(("customer", "where is my refund?!"), ("agent", "Is there anything else?"), ("customer", "??"),
                 ("agent", "Refunded today."), cid="c1", lang="en"),
            conv(("customer", "我的快递呢"), ("agent", "亲亲稍等哦"), cid="c2", lang="zh-Hans"),
            conv(("customer", "hi"), ("agent", "hello"), cid="c3")]
    return write_jsonl(tmp_path / "scored.jsonl", rows)


def test_csv_verdicts_become_gold_and_skip(tmp_path, scored):
    p = tmp_path / "fixes.csv"
    p.write_text("conversation_id,index,flag,label\nc1,1,non_answer,1\nc1,1,boilerplate,yes\nc1,3,non_answer,0\n"
                 "c2,1,missing_empathy,false\nc1,1,boilerplate,0\n", encoding="utf-8")
    golds = load_corrections(p, scored)
    assert [g["id"] for g in golds] == ["c1", "c2"]
    t1, t3 = golds[0]["turns"][1], golds[0]["turns"][3]
    assert t1["gold"] == ["non_answer"]  # the later row overrides: boilerplate 0
    assert set(t1["skip"]) == set(FLAGS) - {"non_answer", "boilerplate"}
    assert t3["gold"] == [] and set(t3["skip"]) == set(FLAGS) - {"non_answer"}
    assert "gold" not in golds[0]["turns"][0] and golds[0]["lang"] == "en"


def test_csv_problems_are_listed_with_line_numbers(tmp_path, scored):
    p = tmp_path / "fixes.csv"
    p.write_text("conversation_id,index,flag,label\nc1,x,non_answer,1\nc1,1,rude,1\nc1,1,non_answer,maybe\n"
                 "c1,0,non_answer,1\nzz,1,non_answer,1\n", encoding="utf-8")
    with pytest.raises(CorrectionsError) as e:
        load_corrections(p, scored)
    msg = str(e.value)
    for expected in ("line 2: index", "line 3: unknown flag 'rude'", "line 4: label", "turn 0 is not an agent turn",
                     "not found", "zz"):
        assert expected in msg, msg
    with pytest.raises(CorrectionsError, match="--conversations"):
        load_corrections(p, None)


def test_gold_jsonl_is_taken_as_is():
    golds = load_corrections(ACCEPTANCE)
    assert len(golds) == 7 and any(t.get("gold") for g in golds for t in g["turns"])


def test_split_is_stable_and_never_empty():
    golds = [{"id": f"c{i}"} for i in range(50)]
    tr, ho = split(golds, 0.2, seed=1)
    assert 4 <= len(ho) <= 16 and len(tr) + len(ho) == 50
    _, ho2 = split(golds + [{"id": "new"}], 0.2, seed=1)
    assert {g["id"] for g in ho} <= {g["id"] for g in ho2}  # adding corrections does not move old ones
    assert [len(x) for x in split(golds[:2], 0.2)] == [1, 1] and split(golds[:1], 0.2)[1] == []


@pytest.mark.slow
def test_train_add_labels_compares_old_and_new(monkeypatch, tmp_path, tiny_model, hash_encoder):
    """The whole loop on the tiny set: corrections -> new version beside the old -> comparison table."""
    from typer.testing import CliRunner

    from replyguard import cli, encoder
    from replyguard.analyzer import Analyzer, ModelFolder, resolve_model

    models = tmp_path / "models"
    shutil.copytree(tiny_model, models / "tiny")
    monkeypatch.setenv("REPLYGUARD_MODELS", str(models))
    monkeypatch.setenv("REPLYGUARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(encoder.Encoder, "load", classmethod(lambda cls, *a, **k: _TrainingHashEncoder()))
    monkeypatch.setattr(cli, "_load", lambda m: Analyzer(ModelFolder.load(resolve_model(m)), hash_encoder))
    golds = [json.loads(x) for x in (TINY / "valid.jsonl").read_text().splitlines()[:30]]
    fixes = write_jsonl(tmp_path / "fixes.jsonl", golds)
    res = CliRunner().invoke(cli.app, ["train", "--data", str(TINY), "--name", "tiny-fixed", "--base", "tiny",
                                       "--add-labels", str(fixes), "--hidden", "0"], terminal_width=120)
    assert res.exit_code == 0, res.output
    assert "tiny/heldout: tiny → tiny-fixed" in res.output and "corrections held out: tiny → tiny-fixed" in res.output
    assert "macro-F1" in res.output
    new = models / "tiny-fixed"
    config = json.loads((new / "config.json").read_text())
    assert {d["hidden"] for d in config["detectors"].values()} == {0}  # --hidden 0: logistic heads only
    assert all(set(d["unseen_lines"]) == {"logistic"} for d in config["detectors"].values())
    (added,), (held,) = config["training_data"]["extra_files"], config["training_data"]["extra_heldout"]
    assert added["conversations"] + held["conversations"] == 30 and held["conversations"] >= 1
    assert added["path"] == str(new / "corrections" / "train.jsonl") and len(added["sha256"]) == 64
    comparison = json.loads((new / "comparison.json").read_text())
    assert set(comparison) == {"tiny/heldout", "corrections held out"}
    assert set(comparison["tiny/heldout"]) == {"tiny", "tiny-fixed", "paired_difference"}
    for reports in comparison.values():  # the change, with a paired interval, is the table's ΔF1
        d = reports["paired_difference"]["all"]["macro_f1"]
        old, new_f1 = reports["tiny"]["all"]["macro_f1"], reports["tiny-fixed"]["all"]["macro_f1"]
        assert abs(d["diff"] - (new_f1 - old)) < 1e-3 and d["diff_ci"][0] <= d["diff"] <= d["diff_ci"][1]
    assert "95% interval" in res.output
    assert (models / "tiny" / "config.json").exists()  # the old version is untouched, side by side
    res = CliRunner().invoke(cli.app, ["train", "--data", str(TINY), "--name", "tiny", "--base", "tiny",
                                       "--add-labels", str(fixes)])
    assert res.exit_code == 2 and "must differ" in res.output
