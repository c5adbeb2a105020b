import json

from replyguard.io import RecordError, read_conversations
from replyguard.schema import MAX_TEXT_CHARS


def _write(tmp_path, name, data: bytes):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def test_jsonl_bad_records_named_and_good_kept(tmp_path):
    good = {"id": "a", "turns": [{"role": "customer", "text": "hi"}, {"role": "agent", "text": "hello"}]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"id": "b", "turns": [{"role": "robot", "text": "x"}]}),
        json.dumps({"id": "c"}),
        json.dumps({"id": "d", "turns": [{"role": "agent", "text": "x" * (MAX_TEXT_CHARS + 1)}]}),
        json.dumps([1, 2]),
        json.dumps({**good, "id": "e", "custom": {"kept": True}}),
    ]
    p = _write(tmp_path, "in.jsonl", ("\n".join(lines) + "\n").encode() + b"\xff\xfe bad bytes\n")
    recs = list(read_conversations(p))
    ok = [r for _, r in recs if not isinstance(r, RecordError)]
    bad = [r for _, r in recs if isinstance(r, RecordError)]
    assert [c.id for c in ok] == ["a", "e"]
    assert ok[1].model_dump()["custom"] == {"kept": True}  # unknown fields carried through
    assert [b.line for b in bad] == [2, 3, 4, 5, 6, 8]
    assert "malformed JSON" in bad[0].problem
    assert "role" in bad[1].problem and bad[1].record_id == "b"
    assert "turns" in bad[2].problem
    assert "at most" in bad[3].problem or "20000" in bad[3].problem
    assert "UTF-8" in bad[5].problem
    assert all(str(b).startswith(str(p)) for b in bad)


def test_csv_groups_rows_by_conversation(tmp_path):
    p = _write(tmp_path, "in.csv", "conversation_id,role,text,agent_id\n"
               "c1,customer,我的快递呢,\nc1,agent,稍等,a-1\nc2,customer,hi,\nc2,agent,hello,a-2\n,agent,orphan,\n"
               "c3,alien,x,\n".encode())
    recs = list(read_conversations(p))
    ok = [r for _, r in recs if not isinstance(r, RecordError)]
    bad = [(n, r) for n, r in recs if isinstance(r, RecordError)]
    assert [c.id for c in ok] == ["c1", "c2"]
    assert ok[0].turns[1].agent_id == "a-1"
    assert [n for n, _ in bad] == [6, 7]


def test_csv_missing_columns(tmp_path):
    p = _write(tmp_path, "in.csv", b"id,speaker,body\n1,agent,x\n")
    (n, r), = list(read_conversations(p))
    assert isinstance(r, RecordError) and "header" in r.problem
