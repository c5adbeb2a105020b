"""The console WebSocket: turns and drafts in, findings out; bad messages answered, not fatal."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.service.test_api import AIRLINE, CANNED


def test_turns_then_draft_gives_findings(client):
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "init", "conversation": {"id": "w1", "lang": "zh-Hant", "turns": []}})
        assert ws.receive_json() == {"type": "ready", "conversation_id": "w1", "turns": 0}
        for t in AIRLINE["turns"]:
            ws.send_json({"type": "turn", **t})
            assert ws.receive_json()["type"] == "ack"
        ws.send_json({"type": "draft", "text": CANNED, "seq": 7})
        msg = ws.receive_json()
    http = client.post("/v1/check", json={"conversation": {**AIRLINE, "id": "w1", "lang": "zh-Hant"},
                                          "draft": CANNED}).json()
    assert msg == {"type": "findings", "seq": 7, "findings": http["findings"]}
    assert "boilerplate" in [f["flag"] for f in msg["findings"]]


def test_follows_a_stored_conversation(client):
    client.post("/v1/conversations", json={"id": "w2", "turns": AIRLINE["turns"][:1]})
    with client.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "init", "conversation_id": "w2"})
        assert ws.receive_json()["turns"] == 1
        ws.send_json({"type": "turn", "role": "agent", "text": CANNED})
        assert ws.receive_json() == {"type": "ack", "turns": 2}
        # a turn arriving by another path (REST) is part of the context of the next draft
        client.post("/v1/conversations/w2/turns", json=AIRLINE["turns"][2])
        ws.send_json({"type": "draft", "text": CANNED, "seq": 1})
        live = ws.receive_json()["findings"]
    assert live == client.post("/v1/conversations/w2/check", json={"draft": CANNED}).json()["findings"]
    stored = client.get("/v1/conversations/w2").json()["turns"]
    assert [t["role"] for t in stored] == ["customer", "agent", "customer"]


def test_bad_messages_get_errors_and_the_socket_stays_open(client):
    with client.websocket_connect("/v1/ws") as ws:
        for raw, status in [("{not json", 400), ("[1, 2]", 400), ('{"type": "dance"}', 400),
                            ('{"type": "turn", "role": "robot", "text": "x"}', 422),
                            ('{"type": "init", "conversation_id": "nope"}', 404),
                            ('{"type": "init", "conversation": {"turns": 5}}', 422)]:
            ws.send_text(raw)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["status"] == status, (raw, reply)
        ws.send_text('{"type": "draft", "text": 5}')
        assert ws.receive_json()["status"] == 400
        ws.send_json({"type": "draft", "text": "   ", "seq": 1})
        assert ws.receive_json() == {"type": "findings", "seq": 1, "findings": []}
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


def test_oversized_and_overlong_messages(make_client):
    c = make_client(max_request_bytes=4096, max_text_chars=50)
    with c.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "draft", "text": "x" * 5000, "seq": 1})
        assert ws.receive_json()["status"] == 413
        ws.send_json({"type": "draft", "text": "x" * 60, "seq": 2})
        assert ws.receive_json()["status"] == 422


def test_auth_by_header_or_first_message(keyed):
    c, key = keyed
    with c.websocket_connect("/v1/ws", headers={"X-API-Key": key}) as ws:
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}
    with c.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "auth", "key": key})
        assert ws.receive_json()["type"] == "ready"
        ws.send_json({"type": "draft", "text": "hello", "seq": 1})
        assert ws.receive_json()["type"] == "findings"
    with c.websocket_connect("/v1/ws") as ws:
        ws.send_json({"type": "draft", "text": "hello", "seq": 1})
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 4401
    with c.websocket_connect("/v1/ws", headers={"X-API-Key": "rg_bad_key"}) as ws:
        with pytest.raises(WebSocketDisconnect) as e:
            ws.receive_json()
        assert e.value.code == 4401


def test_rate_limit_applies_to_messages(make_client):
    c = make_client(rate_limit_per_minute=2)
    with c.websocket_connect("/v1/ws") as ws:
        statuses = []
        for _ in range(3):
            ws.send_json({"type": "ping"})
            statuses.append(ws.receive_json().get("status"))
    assert statuses == [None, None, 429]
