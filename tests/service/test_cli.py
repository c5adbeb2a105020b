"""``replyguard keys …`` and ``replyguard feedback export`` through the real CLI app."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from replyguard import cli
from replyguard.schema import GoldConversation
from service.db import make_engine, make_sessions
from service.keys import KeyStore
from tests.service.test_api import AIRLINE, CANNED


@pytest.fixture(scope="module")
def app():
    cli._register_extensions()
    return cli.app


def test_keys_create_list_revoke(app, tmp_path):
    db = f"sqlite:///{tmp_path}/k.db"
    run = CliRunner().invoke
    r = run(app, ["keys", "create", "--tenant", "acme", "--name", "console", "--rate", "120", "--database-url", db])
    assert r.exit_code == 0, r.output
    key = next(line for line in r.output.split() if line.startswith("rg_"))
    store = KeyStore(make_sessions(make_engine(db)), cache_s=0)
    caller = store.verify(key)
    assert caller is not None and (caller.tenant, caller.rate_per_minute) == ("acme", 120)
    listed = run(app, ["keys", "list", "--database-url", db]).output
    assert caller.key_id in listed and "acme" in listed and key not in listed
    assert run(app, ["keys", "revoke", str(caller.key_id), "--database-url", db]).exit_code == 0
    assert store.verify(key) is None
    r = run(app, ["keys", "revoke", str(caller.key_id), "--database-url", db])
    assert r.exit_code == 1 and "no active key" in r.output


def test_feedback_export_writes_gold_jsonl(app, make_client, tmp_path):
    c = make_client()
    c.post("/v1/conversations", json={"id": "e1", "turns": AIRLINE["turns"]})
    c.post("/v1/feedback", json={"conversation_id": "e1", "draft": CANNED, "action": "accept", "flag": "boilerplate"})
    db = c.app.state.rg.settings.database_url
    out = tmp_path / "feedback.jsonl"
    r = CliRunner().invoke(app, ["feedback", "export", "-o", str(out), "--database-url", db])
    assert r.exit_code == 0, r.output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    g = GoldConversation.model_validate(json.loads(lines[0]))
    assert g.turns[-1].gold == ["boilerplate"] and g.lang == "zh-Hant"
    # the same shape as the acceptance cases: every turn has role/text, agent turns gold+skip
    raw = json.loads(lines[0])
    for t in raw["turns"]:
        assert ({"gold", "skip"} <= set(t)) == (t["role"] == "agent")
    none = CliRunner().invoke(app, ["feedback", "export", "-o", str(tmp_path / "n.jsonl"), "--tenant", "other",
                                    "--database-url", db])
    assert none.exit_code == 0 and (tmp_path / "n.jsonl").read_text() == ""


def test_serve_passes_settings_to_uvicorn(app, monkeypatch):
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: seen.update(target=target, **kw))
    for name in ("HOST", "PORT", "WORKERS", "MODEL"):  # serve writes these; restore them afterwards
        monkeypatch.setenv(f"REPLYGUARD_{name}", "placeholder")
        monkeypatch.delenv(f"REPLYGUARD_{name}")
    monkeypatch.setenv("REPLYGUARD_MAX_REQUEST_BYTES", "4096")
    r = CliRunner().invoke(app, ["serve", "--port", "8123", "--workers", "2", "--model", "tiny"])
    assert r.exit_code == 0, r.output
    assert seen["target"] == "service.app:create_app" and seen["factory"] is True
    assert (seen["host"], seen["port"], seen["workers"], seen["ws_max_size"]) == ("127.0.0.1", 8123, 2, 4096)
    assert os.environ["REPLYGUARD_MODEL"] == "tiny"  # worker processes read it from the environment
