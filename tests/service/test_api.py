"""The HTTP API with the tiny analyzer: contract shapes, sessions, score, feedback, ops."""

from __future__ import annotations

import json

import numpy as np

from replyguard.encoder import Encoder
from replyguard.evaluate import evaluate
from replyguard.schema import FLAGS, Conversation, GoldConversation
from service.feedback import export_gold
from tests.utils.fixtures import HashEncoder, conv

CANNED = "很抱歉，由於我們的系統正在升級，給您造成的不便，請諒解。"
AIRLINE = conv(("customer", "我想知道為什麼我在會員區可以登錄，可是在訂票區卻不能登錄?"), ("agent", CANNED),
               ("customer", "我在會員區是登錄狀態，直接點開訂票頁面訂票，需要我再次登錄，"
                            "而且顯示用戶名密碼錯誤。這是怎麼回事?"),
               cid="airline")


def test_check_follows_the_contract_and_adds_suggestions(client, tiny_analyzer):
    r = client.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"findings"}
    direct = tiny_analyzer.check(Conversation.model_validate(AIRLINE), CANNED)
    assert [f["flag"] for f in body["findings"]] == [f.flag for f in direct]
    assert "boilerplate" in [f["flag"] for f in body["findings"]]  # a verbatim repeat
    for f in body["findings"]:
        assert {"flag", "confidence", "evidence", "explanation"} <= set(f) and 0 <= f["confidence"] <= 1
        assert f["suggestion"]
    boiler = next(f for f in body["findings"] if f["flag"] == "boilerplate")
    assert "系統正在升級" in boiler["suggestion"]  # named from the catalogue, in the draft's script


def test_check_with_no_finding_returns_empty_list(client):
    r = client.post("/v1/check", json={"conversation": conv(("customer", "hi")), "draft": "Hello! How can I help?"})
    assert r.status_code == 200 and isinstance(r.json()["findings"], list)


def test_score_matches_the_batch_scorer(client, tiny_analyzer):
    convs = [AIRLINE, conv(("customer", "refund?"), ("agent", "Done, refunded today."), cid="g2")]
    r = client.post("/v1/score", json={"conversations": convs})
    assert r.status_code == 200, r.text
    expected = [s.model_dump(exclude_none=True) for s in tiny_analyzer.score([Conversation.model_validate(c)
                                                                             for c in convs])]
    assert r.json()["results"] == json.loads(json.dumps(expected))


def test_session_lifecycle(client):
    r = client.post("/v1/conversations", json={"id": "s1", "lang": "zh-Hant", "turns": AIRLINE["turns"][:2],
                                               "crm_ticket": "T-9"})
    assert r.status_code == 201, r.text
    assert r.json()["crm_ticket"] == "T-9"  # unknown fields are carried through
    r = client.post("/v1/conversations/s1/turns", json=AIRLINE["turns"][2])
    assert r.status_code == 200 and len(r.json()["turns"]) == 3
    stored = client.post("/v1/conversations/s1/check", json={"draft": CANNED}).json()
    inline = client.post("/v1/check", json={"conversation": {**AIRLINE, "id": "s1", "lang": "zh-Hant"},
                                            "draft": CANNED}).json()
    assert stored == inline
    got = client.get("/v1/conversations/s1").json()
    assert [t["text"] for t in got["turns"]] == [t["text"] for t in AIRLINE["turns"]]
    assert client.post("/v1/conversations", json={"id": "s1"}).status_code == 409
    assert client.get("/v1/conversations/nope").status_code == 404
    assert client.post("/v1/conversations/nope/check", json={"draft": "x"}).status_code == 404


def test_generated_id_and_empty_conversation(client):
    r = client.post("/v1/conversations", json={})
    assert r.status_code == 201
    cid = r.json()["id"]
    assert client.post(f"/v1/conversations/{cid}/check", json={"draft": "Hello, how can I help?"}).status_code == 200


class _HashST:
    """Stands in for the SentenceTransformer inside a real :class:`Encoder` (hash embeddings)."""

    def __init__(self) -> None:
        self.hash = HashEncoder()

    def get_embedding_dimension(self) -> int:
        return self.hash.dim

    def encode(self, texts, **_kw) -> np.ndarray:
        return self.hash.forward(texts)


def test_history_is_not_re_encoded_per_keystroke(make_client, tiny_analyzer, monkeypatch):
    """With the real Encoder's cache, each keystroke check encodes only the new draft."""
    enc = Encoder(_HashST(), {}, name="hash-cached")
    monkeypatch.setattr(tiny_analyzer, "encoder", enc)
    monkeypatch.setattr(tiny_analyzer.featurize, "encoder", enc)
    c = make_client()
    c.post("/v1/conversations", json={"id": "k", "turns": AIRLINE["turns"]})
    c.post("/v1/conversations/k/check", json={"draft": "稍"})
    before = enc.forward_texts
    assert c.post("/v1/conversations/k/check", json={"draft": "稍等"}).status_code == 200
    assert enc.forward_texts - before == 1  # the draft; the history came from the cache


def test_tenants_do_not_see_each_other(make_client):
    c = make_client(require_api_key=True)
    keys = c.app.state.rg.keys
    a, _ = keys.create("acme")
    b, _ = keys.create("globex")
    assert c.post("/v1/conversations", json={"id": "x"}, headers={"X-API-Key": a}).status_code == 201
    assert c.get("/v1/conversations/x", headers={"X-API-Key": b}).status_code == 404
    assert c.post("/v1/conversations", json={"id": "x"}, headers={"X-API-Key": b}).status_code == 201


def test_feedback_is_stored_and_exported_as_gold(client):
    client.post("/v1/conversations", json={"id": "f1", "lang": "zh-Hant", "turns": AIRLINE["turns"]})
    base = {"conversation_id": "f1", "draft": CANNED}
    assert client.post("/v1/feedback", json=base | {"action": "accept", "flag": "boilerplate"}).status_code == 201
    assert client.post("/v1/feedback", json=base | {"action": "dismiss", "flag": "defensive"}).status_code == 201
    r = client.post("/v1/feedback", json={"conversation": AIRLINE, "turn_index": 1, "action": "correct",
                                          "gold": ["boilerplate"], "skip": ["non_answer"]})
    assert r.status_code == 201 and r.json()["turn_index"] == 1
    rows = client.app.state.rg.store.feedback()
    gold = export_gold(rows)
    by_id = {g.id: g for g in gold}
    draft_turn = by_id["f1:3"].turns[-1]
    assert draft_turn.role == "agent" and draft_turn.text == CANNED
    assert draft_turn.gold == ["boilerplate"]
    assert "defensive" not in draft_turn.skip and "boilerplate" not in draft_turn.skip
    assert set(draft_turn.skip) == set(FLAGS) - {"boilerplate", "defensive"}
    assert by_id["f1:3"].turns[1].skip == list(FLAGS)  # unlabelled context agent turn
    reviewed = by_id["airline:1"].turns[-1]
    assert (reviewed.gold, reviewed.skip) == (["boilerplate"], ["non_answer"])
    # the export reads back as gold and evaluates
    back = [GoldConversation.model_validate_json(g.model_dump_json()) for g in gold]
    assert evaluate(back, client.app.state.rg.analyzer.score(back))["turns"] >= 2


def test_feedback_rejects_bad_targets(client):
    client.post("/v1/conversations", json={"id": "f2", "turns": AIRLINE["turns"]})
    bad = [
        {"conversation_id": "f2", "turn_index": 0, "action": "accept", "flag": "boilerplate"},  # customer turn
        {"conversation_id": "f2", "turn_index": 9, "action": "accept", "flag": "boilerplate"},  # past the end
        {"conversation_id": "f2", "draft": "x", "action": "accept"},  # no flag
        {"conversation_id": "f2", "action": "dismiss", "flag": "boilerplate"},  # no turn
        {"conversation_id": "f2", "conversation": AIRLINE, "draft": "x", "action": "correct"},  # two contexts
        {"conversation_id": "f2", "draft": "x", "action": "correct", "gold": ["defensive"], "skip": ["defensive"]},
    ]
    for body in bad:
        assert client.post("/v1/feedback", json=body).status_code == 422, body
    assert client.post("/v1/feedback", json={"conversation_id": "nope", "draft": "x", "action": "correct"}
                       ).status_code == 404


def test_ops_endpoints(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready", "model": "tiny"}
    client.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED})
    metrics = client.get("/metrics").text
    assert 'replyguard_http_requests_total{method="POST",route="/v1/check",status="200"}' in metrics
    assert "replyguard_http_request_seconds_bucket" in metrics
    assert 'replyguard_findings_total{flag="boilerplate",source="check"}' in metrics
    spec = client.get("/openapi.json").json()
    assert {"/v1/check", "/v1/score", "/v1/feedback", "/v1/conversations/{cid}/check"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_console_page_and_cases(make_client, tmp_path):
    c = make_client()
    page = c.get("/console")
    assert page.status_code == 200 and 'id="draft"' in page.text
    assert c.get("/console/static/console.js").status_code == 200
    cases = c.get("/console/cases").json()
    assert cases["conversations"] and all("gold" not in t for x in cases["conversations"] for t in x["turns"])
    fallback = make_client(console_cases=tmp_path / "missing.jsonl").get("/console/cases").json()
    assert fallback["source"] == "sample.jsonl"
    first = fallback["conversations"][0]
    assert first["turns"][-1]["role"] == "customer" and first["original_reply"]


def test_database_outage_is_503_not_500(make_client, tmp_path):
    import shutil

    c = make_client(database_url=f"sqlite:///{tmp_path}/gone/rg.db")
    shutil.rmtree(tmp_path / "gone")
    c.app.state.rg.engine.dispose()
    assert c.get("/readyz").status_code == 503
    r = c.get("/v1/conversations/x")
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert c.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED}).status_code == 200  # no DB needed
