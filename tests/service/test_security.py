"""Safe defaults: keys, rate limits, size limits, timeouts, CORS, PII in storage and logs."""

from __future__ import annotations

import io
import logging
import threading
import time

import pytest
from sqlalchemy import select

from service.db import ApiKey
from service.privacy import redact
from service.settings import Settings
from service.state import configure_logging
from tests.utils.fixtures import conv

BODY = {"conversation": conv(("customer", "Where is my refund??")), "draft": "Anything else I can help with?"}


def test_defaults_are_safe():
    s = Settings(_env_file=None)
    assert s.require_api_key and s.redact_pii and not s.log_text and not s.cors_origins
    assert s.host == "127.0.0.1" and s.database_url.startswith("sqlite:///./var/")


def test_settings_read_the_environment(monkeypatch):
    monkeypatch.setenv("REPLYGUARD_PORT", "9123")
    monkeypatch.setenv("REPLYGUARD_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("REPLYGUARD_REQUIRE_API_KEY", "false")
    s = Settings()
    assert (s.port, s.cors_origins, s.require_api_key) == (9123, ["https://a.example", "https://b.example"], False)


def test_keys_required_and_stored_hashed(keyed):
    c, key = keyed
    assert c.post("/v1/check", json=BODY).status_code == 401
    assert c.post("/v1/check", json=BODY, headers={"X-API-Key": "rg_nope_nope"}).status_code == 401
    assert c.post("/v1/check", json=BODY, headers={"X-API-Key": key}).status_code == 200
    with c.app.state.rg.store.sessions() as s:
        rows = list(s.scalars(select(ApiKey)))
    assert len(rows) == 1 and key not in repr(vars(rows[0])) and len(rows[0].key_hash) == 64
    assert c.get("/healthz").status_code == 200  # probes need no key


def test_revoked_key_stops_working(make_client):
    c = make_client(require_api_key=True, key_cache_s=0)
    keys = c.app.state.rg.keys
    key, row = keys.create("acme")
    assert c.post("/v1/check", json=BODY, headers={"X-API-Key": key}).status_code == 200
    assert keys.revoke(row.id) and not keys.revoke(row.id)
    assert c.post("/v1/check", json=BODY, headers={"X-API-Key": key}).status_code == 401


def test_rate_limit_per_key(make_client):
    c = make_client(require_api_key=True, rate_limit_per_minute=3)
    keys = c.app.state.rg.keys
    slow, _ = keys.create("acme")
    fast, _ = keys.create("acme", rate_per_minute=100)
    codes = [c.post("/v1/check", json=BODY, headers={"X-API-Key": slow}).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = c.post("/v1/check", json=BODY, headers={"X-API-Key": slow})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["detail"]
    assert c.post("/v1/check", json=BODY, headers={"X-API-Key": fast}).status_code == 200  # own bucket


def test_rate_limit_without_keys_is_per_client(make_client):
    c = make_client(rate_limit_per_minute=2)
    assert [c.get("/v1/conversations/x").status_code for _ in range(3)] == [404, 404, 429]


def test_request_size_limits(make_client):
    c = make_client(max_request_bytes=2048, max_text_chars=100)
    big = {"conversation": conv(("customer", "x" * 3000)), "draft": "hi"}
    assert c.post("/v1/check", json=big).status_code == 413

    def chunks():  # no Content-Length: the limit must hold for streamed bodies too
        yield b'{"conversation": {"id": "1", "turns": []}, "draft": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    assert c.post("/v1/check", content=chunks(), headers={"Content-Type": "application/json"}).status_code == 413
    r = c.post("/v1/check", json={"conversation": conv(("customer", "hi")), "draft": "z" * 150})
    assert r.status_code == 422 and "draft: 150 characters; the limit is 100" in r.json()["detail"]
    r = c.post("/v1/conversations", json={"turns": [{"role": "customer", "text": "w" * 101}]})
    assert r.status_code == 422 and "turns[0].text" in r.json()["detail"]


class _SlowAnalyzer:
    """Wraps the tiny analyzer, sleeping before each check (a stuck or overloaded model)."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay, self.name = inner, delay, "slow"

    def check(self, conversation, draft):
        time.sleep(self.delay)
        return self.inner.check(conversation, draft)

    def check_many(self, items, return_exceptions=False):
        time.sleep(self.delay)
        return self.inner.check_many(items, return_exceptions=return_exceptions)


def test_model_timeout_answers_504(tmp_path, tiny_analyzer):
    from fastapi.testclient import TestClient

    from service.app import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/t.db", require_api_key=False,
                              request_timeout_s=0.1), analyzer=_SlowAnalyzer(tiny_analyzer, 0.4))  # type: ignore[arg-type]
    with TestClient(app) as c:
        r = c.post("/v1/check", json=BODY)
        assert r.status_code == 504 and r.json() == {"detail": "model call timed out"}


def test_full_queue_answers_503(tmp_path, tiny_analyzer):
    from fastapi.testclient import TestClient

    from service.app import create_app

    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/q.db", require_api_key=False, max_queue=1),
                     analyzer=_SlowAnalyzer(tiny_analyzer, 0.5))  # type: ignore[arg-type]
    with TestClient(app) as c:
        first: list[int] = []
        t = threading.Thread(target=lambda: first.append(c.post("/v1/check", json=BODY).status_code))
        t.start()
        time.sleep(0.2)
        r = c.post("/v1/check", json=BODY)
        t.join()
        assert first == [200] and r.status_code == 503 and r.headers["Retry-After"] == "1"


def test_cors_is_off_unless_configured(make_client):
    pre = {"Origin": "https://console.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,x-api-key"}
    assert "access-control-allow-origin" not in make_client().options("/v1/check", headers=pre).headers
    c = make_client(cors_origins=["https://console.example"])
    r = c.options("/v1/check", headers=pre)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://console.example"
    assert c.options("/v1/check", headers=pre | {"Origin": "https://evil.example"}).status_code == 400


@pytest.mark.parametrize(("text", "masked"), [
    ("我的手机号13812345678", "我的手机号[phone]"),
    ("call +86 138-1234-5678 now", "call [phone] now"),
    ("身份证11010519491231002X", "身份证[id_card]"),
    ("mail li.lei@example.com", "mail [email]"),
    ("卡号 4111 1111 1111 1111", "卡号 [card]"),
    ("订单 1234567890123456 取件码583920", "订单 1234567890123456 取件码583920"),  # not Luhn: kept
    ("[订单x] 已退款 300元, 2024-03-15", "[订单x] 已退款 300元, 2024-03-15"),
])
def test_redact(text, masked):
    assert redact(text) == masked


def test_pii_is_redacted_in_storage_by_default(make_client):
    c = make_client()
    c.post("/v1/conversations", json={"id": "p", "turns": [{"role": "customer", "text": "我的电话13812345678"}]})
    c.post("/v1/conversations/p/turns", json={"role": "customer", "text": "邮箱 a@b.cn"})
    texts = [t["text"] for t in c.get("/v1/conversations/p").json()["turns"]]
    assert texts == ["我的电话[phone]", "邮箱 [email]"]
    raw = make_client(redact_pii=False)
    raw.post("/v1/conversations", json={"id": "p", "turns": [{"role": "customer", "text": "我的电话13812345678"}]})
    assert raw.get("/v1/conversations/p").json()["turns"][0]["text"] == "我的电话13812345678"


def _log_of(client, *calls) -> str:
    handler = configure_logging(client.app.state.rg.settings)
    buf = io.StringIO()
    old = handler.setStream(buf)  # type: ignore[attr-defined]
    try:
        for method, path, body in calls:
            client.request(method, path, json=body)
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]
    return buf.getvalue()


def test_logs_carry_no_customer_text_by_default(make_client):
    secret = "我的电话13812345678，快递到底在哪"
    body = {"conversation": conv(("customer", secret)), "draft": "请提供订单号 a@b.cn"}
    log = _log_of(make_client(), ("POST", "/v1/check", body))
    assert "POST /v1/check 200" in log and "<" in log
    assert "快递" not in log and "13812345678" not in log and "a@b.cn" not in log and "订单号" not in log
    verbose = _log_of(make_client(log_text=True), ("POST", "/v1/check", body))
    assert "请提供订单号 [email]" in verbose  # text on request, still masked


def test_redacting_filter_masks_any_service_log_line(make_client):
    c = make_client()
    handler = configure_logging(c.app.state.rg.settings)
    buf = io.StringIO()
    old = handler.setStream(buf)  # type: ignore[attr-defined]
    try:
        logging.getLogger("replyguard.service").warning("debug dump: %s", "call 13812345678")
    finally:
        handler.setStream(old)  # type: ignore[attr-defined]
    assert "[phone]" in buf.getvalue() and "13812345678" not in buf.getvalue()
