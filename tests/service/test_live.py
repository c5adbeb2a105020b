"""The service as a real uvicorn process (tiny model): HTTP and WebSocket over loopback."""

from __future__ import annotations

import json

import httpx
from websockets.sync.client import connect

from tests.service.test_api import AIRLINE, CANNED


def test_http_over_a_real_socket(live_server):
    base, key = live_server
    with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
        assert http.get("/readyz").json()["status"] == "ready"
        assert http.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED},
                         headers={"X-API-Key": ""}).status_code == 401
        r = http.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED})
        assert r.status_code == 200 and "boilerplate" in [f["flag"] for f in r.json()["findings"]]
        assert r.headers["x-request-id"]
        assert http.post("/v1/check", content=b"{broken", headers={"Content-Type": "application/json"}
                         ).status_code == 422
        assert 'route="/v1/check",status="200"' in http.get("/metrics").text


def test_websocket_over_a_real_socket(live_server):
    base, key = live_server
    with connect(base.replace("http", "ws") + "/v1/ws", additional_headers={"X-API-Key": key}) as ws:
        ws.send(json.dumps({"type": "init", "conversation": AIRLINE}))
        assert json.loads(ws.recv(timeout=10))["turns"] == 3
        ws.send(json.dumps({"type": "draft", "text": CANNED, "seq": 1}))
        msg = json.loads(ws.recv(timeout=10))
    assert msg["type"] == "findings" and "boilerplate" in [f["flag"] for f in msg["findings"]]
