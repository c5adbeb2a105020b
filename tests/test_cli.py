"""`replyguard score` / `eval` end to end in-process, with the tiny model."""

import json

import pytest
from typer.testing import CliRunner

from replyguard import cli


@pytest.fixture()
def runner(monkeypatch, tiny_analyzer):
    monkeypatch.setattr(cli, "_load", lambda model: tiny_analyzer)
    return CliRunner()


def test_score_jsonl_keeps_order_and_reports_bad_lines(runner, tmp_path):
    good = {"id": "g1", "lang": "en", "turns": [{"role": "customer", "text": "refund?"}, {"role": "agent", "text": "Done, refunded today."}]}
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps(good) + "\n{broken\n" + json.dumps({**good, "id": "g2"}) + "\n")
    out = tmp_path / "out.jsonl"
    errs = tmp_path / "errors.jsonl"
    res = runner.invoke(cli.app, ["score", str(inp), "-o", str(out), "--errors", str(errs)])
    assert res.exit_code == 1
    assert "in.jsonl:2" in res.output and "malformed JSON" in res.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["g1", "g2"]
    assert json.loads(errs.read_text())["line"] == 2


def test_score_csv(runner, tmp_path):
    inp = tmp_path / "in.csv"
    inp.write_text("conversation_id,role,text\nc1,customer,我的快递呢\nc1,agent,稍等\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = runner.invoke(cli.app, ["score", str(inp), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text())["turns"][0]["index"] == 1


def test_score_missing_file(runner, tmp_path):
    res = runner.invoke(cli.app, ["score", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output
    assert not (tmp_path / "o.jsonl").exists()


def test_eval_prints_table_and_errors(runner, tmp_path):
    gold = {"id": "x", "lang": "zh-Hans", "turns": [
        {"role": "customer", "text": "我的快递三天没动了!!!"},
        {"role": "agent", "text": "我理解您的心情。", "gold": ["boilerplate", "non_answer"], "skip": []}]}
    p = tmp_path / "gold.jsonl"
    p.write_text(json.dumps(gold, ensure_ascii=False) + "\n")
    errs = tmp_path / "errs.jsonl"
    res = runner.invoke(cli.app, ["eval", str(p), "--errors", str(errs), "--json", str(tmp_path / "m.json")])
    assert res.exit_code == 0, res.output
    assert "macro-F1" in res.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["turns"] == 1 and "zh-Hans" in report["by_lang"]
    for e in map(json.loads, errs.read_text().splitlines()):
        assert e["kind"] in ("false_positive", "false_negative") and e["context"]
    # the biggest error classes follow the metric table, and go into the JSON report
    assert "biggest error classes" in res.output
    assert bool(report["error_classes"]) == bool(errs.read_text().strip()) and len(report["error_classes"]) <= 12


def test_eval_gives_intervals_and_a_paired_comparison(monkeypatch, tiny_analyzer, tmp_path):
    from replyguard.rules import RuleAnalyzer

    monkeypatch.setattr(cli, "_load", lambda model: RuleAnalyzer() if model == "rules" else tiny_analyzer)
    gold = [{"id": f"c{i}", "lang": "en", "turns": [
        {"role": "customer", "text": "Where is my parcel??"},
        {"role": "agent", "text": text, "gold": gold, "skip": []}]}
        for i, (text, gold) in enumerate([("Sorry for the inconvenience.", ["non_answer", "boilerplate"]),
                                          ("It left the depot today, tracking [订单x].", []),
                                          ("Check the app, it's all there.", ["non_answer", "defensive"])] * 3)]
    p = tmp_path / "gold.jsonl"
    p.write_text("".join(json.dumps(g, ensure_ascii=False) + "\n" for g in gold) + "{not json\n")
    res = CliRunner().invoke(cli.app, ["eval", str(p), "--against", "rules", "--resamples", "50",
                                       "--json", str(tmp_path / "m.json")])
    assert res.exit_code == 1, res.output  # the bad record fails the run; the good ones are still scored
    assert res.output.count("bad record") == 1  # the second model reuses the records read once
    assert "minus rules" in res.output and "95% interval" in res.output
    report = json.loads((tmp_path / "m.json").read_text())
    assert report["intervals"] == {"resamples": 50, "unit": "reply line", "clusters": 3}
    na = report["all"]["non_answer"]
    assert na["f1_ci"][0] <= na["f1"] <= na["f1_ci"][1]
    d = report["against"]["difference"]["all"]["macro_f1"]
    ours, theirs = report["all"]["macro_f1"], report["against"]["report"]["all"]["macro_f1"]
    assert d["diff"] == pytest.approx(ours - theirs, abs=1e-3)
    assert d["diff_ci"][0] <= d["diff"] <= d["diff_ci"][1]
