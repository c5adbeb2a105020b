"""Malformed and odd requests never crash a worker: property tests, and schemathesis (slow)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replyguard.schema import FLAGS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
# Text the way real chats look: scripts, emoji, anonymisation tokens, control characters.
CHAT_CHARS = list("我的快递呢？!! ok 親愛的 [订单x] {{Order}} 😡\n\t\x00\u200d\u3000abcXYZ0123")
texts = st.text(alphabet=st.sampled_from(CHAT_CHARS) | st.characters(exclude_categories=("Cs",)), max_size=60)
turns = st.fixed_dictionaries({"role": st.sampled_from(["customer", "agent", "system", "bot", ""]), "text": texts},
                              optional={"agent_id": st.text(max_size=5) | st.integers(), "ts": st.text(max_size=5)})
conversations = st.fixed_dictionaries({"id": st.text(max_size=8) | st.integers(), "turns": st.lists(turns, max_size=6)},
                                      optional={"lang": st.sampled_from(["en", "zh-Hans", "xx", None]),
                                                "extra": json_values})
FAST = settings(max_examples=30, deadline=None, database=None,  # no .hypothesis/ folder in the checkout
                suppress_health_check=[HealthCheck.function_scoped_fixture])
ALLOWED = {200, 201, 400, 404, 405, 409, 413, 415, 422}


@pytest.fixture()
def app_client(make_client):
    return make_client(max_request_bytes=20_000)


@FAST
@given(body=json_values, path=st.sampled_from(["/v1/check", "/v1/score", "/v1/conversations", "/v1/feedback",
                                               "/v1/conversations/c1/turns", "/v1/conversations/c1/check"]))
def test_any_json_body_is_answered_without_500(app_client, body, path):
    r = app_client.post(path, json=body)
    assert r.status_code in ALLOWED, (path, body, r.text)


@FAST
@given(raw=st.binary(max_size=200),
       ctype=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form-urlencoded"]))
def test_raw_bytes_are_answered_without_500(app_client, raw, ctype):
    r = app_client.post("/v1/check", content=raw, headers={"Content-Type": ctype} if ctype else {})
    assert r.status_code in ALLOWED, (raw, r.text)


@FAST
@given(conversation=conversations, draft=texts)
def test_conversation_shaped_requests(app_client, conversation, draft):
    r = app_client.post("/v1/check", json={"conversation": conversation, "draft": draft})
    assert r.status_code in ALLOWED, r.text
    if r.status_code == 200:
        assert all(f["flag"] in FLAGS for f in r.json()["findings"])
    r = app_client.post("/v1/conversations", json=conversation)
    assert r.status_code in ALLOWED, r.text


@FAST
@given(messages=st.lists(json_values.map(json.dumps) | st.text(max_size=40) |
                         st.builds(lambda t, d: json.dumps({"type": t, **d}),
                                   st.sampled_from(["init", "turn", "draft", "auth", "ping"]),
                                   st.dictionaries(st.sampled_from(["text", "role", "seq", "conversation",
                                                                    "conversation_id", "key"]), json_values)),
                         min_size=1, max_size=5))
def test_websocket_survives_any_messages(app_client, messages):
    with app_client.websocket_connect("/v1/ws") as ws:
        for m in messages:
            ws.send_text(m)
            reply = ws.receive_json()
            assert reply["type"] in ("ready", "ack", "findings", "pong", "error")
            assert reply.get("status", 200) != 500
        ws.send_json({"type": "ping"})
        assert ws.receive_json() == {"type": "pong"}


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(keyed):
    """Every operation in /openapi.json, with generated valid and invalid data: never a 500."""
    import schemathesis
    from hypothesis import given as h_given

    client, key = keyed
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures, calls = [], []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @h_given(case=operation.as_strategy())
        def run(case) -> None:
            response = case.call(headers={"X-API-Key": key})
            calls.append(response.status_code)
            if response.status_code >= 500:
                failures.append((case.operation.label, response.status_code, response.text[:200]))

        run()
    assert len(calls) > 100 and calls.count(200) > 20, calls  # deep enough to reach the models
    assert not failures, failures[:5]
