"""`replyguard score` as the QA team runs it: folders, Parquet, errors file, report, resume."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replyguard import cli
from replyguard.batch import LocalEngine, model_id, score_file
from tests.batch.helpers import write_jsonl
from tests.batch.test_batch import Interrupting


def test_folder_of_mixed_files_in_name_order(runner, tmp_path, convs):
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "1.jsonl", convs[:30])
    pq.write_table(pa.Table.from_pylist(convs[30:60]), d / "2.parquet")
    (d / "3.csv").write_text("conversation_id,role,text\nz1,customer,where is it\nz1,agent,on its way\n", "utf-8")
    out = tmp_path / "out.jsonl"
    res = runner.invoke(cli.app, ["score", str(d), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert [json.loads(x)["id"] for x in out.read_text().splitlines()] == [c["id"] for c in convs[:60]] + ["z1"]
    assert (tmp_path / "out.errors.jsonl").read_text() == ""


def test_bad_records_go_to_the_default_errors_file_and_fail_the_run(runner, tmp_path, convs):
    inp = write_jsonl(tmp_path / "in.jsonl", convs[:5])
    with open(inp, "a") as f:
        f.write('{"id": "b1", "turns": [{"role": "agent"}]}\nnot json\n')
    out = tmp_path / "out.jsonl"
    res = runner.invoke(cli.app, ["score", str(inp), "-o", str(out)])
    assert res.exit_code == 1
    assert "in.jsonl:6 (id b1)" in res.output and "in.jsonl:7" in res.output and "2 bad records" in res.output
    errors = [json.loads(x) for x in (tmp_path / "out.errors.jsonl").read_text().splitlines()]
    assert [e["line"] for e in errors] == [6, 7] and "text" in errors[0]["problem"]
    assert len(out.read_text().splitlines()) == 5


def test_resume_is_announced(runner, tmp_path, tiny_analyzer, convs_file):
    out = tmp_path / "out.jsonl"
    mid = model_id(tiny_analyzer.name, tiny_analyzer.model.config)  # what the CLI computes
    with pytest.raises(KeyboardInterrupt):
        score_file(convs_file, out, Interrupting(LocalEngine(tiny_analyzer), after=2), model_id=mid, chunk_size=16)
    res = runner.invoke(cli.app, ["score", str(convs_file), "-o", str(out), "--chunk-size", "16"])
    assert res.exit_code == 0, res.output
    assert "resuming: 2 chunks already scored" in res.output and "resumed after 2" in res.output
    assert len(out.read_text().splitlines()) == 120


def test_report_is_written_and_self_contained(runner, tmp_path, convs_file):
    out, rep = tmp_path / "out.jsonl", tmp_path / "r" / "report.html"
    res = runner.invoke(cli.app, ["score", str(convs_file), "-o", str(out), "--report", str(rep)])
    assert res.exit_code == 0, res.output
    html = rep.read_text(encoding="utf-8")
    assert "<script src" not in html and "<link" not in html and "http://" not in html.replace(
        "http://www.w3.org/2000/svg", "") and "https://" not in html
    data = json.loads(html.split('id="report-data">')[1].split("</script>")[0])
    assert data["conversations"] == 120 and data["agents"]


def test_unknown_engine_and_missing_input(runner, tmp_path, convs_file):
    res = runner.invoke(cli.app, ["score", str(convs_file), "-o", str(tmp_path / "o.jsonl"), "--engine", "spark"])
    assert res.exit_code == 2 and "local or ray" in res.output
    res = runner.invoke(cli.app, ["score", str(tmp_path / "none"), "-o", str(tmp_path / "o.jsonl")])
    assert res.exit_code == 2 and "no such file" in res.output and not (tmp_path / "o.jsonl").exists()
