"""Input sources: JSONL, streamed CSV, Parquet (both layouts), folders."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from replyguard.io import RecordError
from replyguard.sources import count_conversations, list_inputs, read_records, stream_csv
from tests.batch.helpers import write_jsonl

CSV = ("conversation_id,role,text,agent_id\n"
       "c1,customer,我的快递呢,\nc1,agent,稍等,a-1\nc2,customer,\"hi,\nthere\",\nc2,agent,hello,a-2\n"
       ",agent,orphan,\nc3,alien,x,\nc4,customer,refund?,\nc4,agent,Done.,a-3\n")


def _split(recs):
    ok = [r for r in recs if not isinstance(r, RecordError)]
    return ok, [r for r in recs if isinstance(r, RecordError)]


def test_stream_csv_groups_rows_and_names_bad_lines(tmp_path):
    p = tmp_path / "in.csv"
    p.write_text(CSV, encoding="utf-8")
    ok, bad = _split(list(stream_csv(p)))
    assert [c.id for c in ok] == ["c1", "c2", "c4"] and ok[1].turns[0].text == "hi,\nthere"
    assert ok[0].turns[1].agent_id == "a-1"
    assert "empty conversation_id" in bad[0].problem and "role" in bad[1].problem
    assert [b.line for b in bad] == [7, 8]  # the quoted newline in c2 counts as a line


def test_stream_csv_reports_a_bad_line_and_reads_on(tmp_path):
    p = tmp_path / "in.csv"
    p.write_bytes(b"conversation_id,role,text\nc1,customer,hi\nc1,agent,ok\nc2,agent,\xff\xfe\n"
                  + b"c3,customer,refund?\nc3,agent,done\n" * 500)
    ok, bad = _split(list(stream_csv(p)))
    assert [c.id for c in ok] == ["c1", "c3"] and len(ok[1].turns) == 1000
    assert [(b.line, "UTF-8" in b.problem) for b in bad] == [(4, True)]


def test_parquet_one_row_per_conversation(tmp_path, convs):
    rows = convs[:5] + [{"id": "bad", "turns": [{"role": "robot", "text": "x"}]}, {"id": "empty", "turns": []}]
    p = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p, row_group_size=3)
    ok, bad = _split(list(read_records([p])))
    assert [c.id for c in ok] == [c["id"] for c in convs[:5]]
    assert ok[0].channel == convs[0]["channel"] and ok[0].turns[1].agent_id == convs[0]["turns"][1]["agent_id"]
    assert [(b.line, b.record_id) for b in bad] == [(6, "bad"), (7, "empty")]
    assert "role" in bad[0].problem and "no turns" in bad[1].problem
    assert count_conversations([p]) == 7


def test_parquet_one_row_per_turn(tmp_path):
    rows = [{"conversation_id": "c1", "role": "customer", "text": "where?", "agent_id": None},
            {"conversation_id": "c1", "role": "agent", "text": "here", "agent_id": "a-1"},
            {"conversation_id": "c2", "role": "agent", "text": "hi", "agent_id": "a-2"}]
    p = tmp_path / "turns.parquet"
    pq.write_table(pa.Table.from_pylist(rows), p)
    ok, bad = _split(list(read_records([p])))
    assert [(c.id, len(c.turns)) for c in ok] == [("c1", 2), ("c2", 1)] and not bad
    assert ok[0].turns[1].agent_id == "a-1" and ok[0].turns[0].agent_id is None
    assert count_conversations([p]) is None  # rows are turns: unknown without reading


def test_parquet_wrong_columns_and_not_parquet(tmp_path):
    p = tmp_path / "x.parquet"
    pq.write_table(pa.Table.from_pylist([{"a": 1}]), p)
    (err,) = read_records([p])
    assert isinstance(err, RecordError) and "turns" in err.problem
    q = tmp_path / "y.parquet"
    q.write_text("not parquet")
    (err,) = read_records([q])
    assert isinstance(err, RecordError) and "Parquet" in err.problem


def test_folder_is_read_in_name_order_and_skips_other_files(tmp_path, convs):
    d = tmp_path / "in"
    d.mkdir()
    write_jsonl(d / "b.jsonl", convs[2:4])
    (d / "a.csv").write_text("conversation_id,role,text\nz1,agent,hello\n", encoding="utf-8")
    pq.write_table(pa.Table.from_pylist(convs[4:5]), d / "c.parquet")
    (d / "README.md").write_text("notes")
    (d / ".hidden.jsonl").write_text(json.dumps(convs[0]) + "\n")
    assert [p.name for p in list_inputs(d)] == ["a.csv", "b.jsonl", "c.parquet"]
    assert [c.id for c in read_records(list_inputs(d))] == ["z1", convs[2]["id"], convs[3]["id"], convs[4]["id"]]


def test_missing_or_empty_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        list_inputs(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="no .jsonl"):
        list_inputs(tmp_path)
