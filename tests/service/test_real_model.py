"""The service around the real default model (slow; skipped when its folder is absent)."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from replyguard.schema import DEFAULT_MODEL
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import ROOT
from tests.service.test_api import AIRLINE, CANNED

MODEL = ROOT / "models" / DEFAULT_MODEL / "config.json"
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not MODEL.exists(), reason=f"models/{DEFAULT_MODEL} not trained yet")]


@pytest.fixture(scope="module")
def real_client(tmp_path_factory, request):
    analyzer = request.getfixturevalue("real_analyzer")
    db = tmp_path_factory.mktemp("real") / "rg.db"
    app = create_app(Settings(database_url=f"sqlite:///{db}", require_api_key=False), analyzer=analyzer)
    with TestClient(app) as c:
        yield c


def test_canned_repeat_is_flagged_with_a_suggestion(real_client):
    r = real_client.post("/v1/check", json={"conversation": AIRLINE, "draft": CANNED})
    assert r.status_code == 200
    flags = {f["flag"]: f for f in r.json()["findings"]}
    assert "boilerplate" in flags and flags["boilerplate"]["suggestion"]


def test_specific_reply_is_not_boilerplate(real_client):
    draft = "我查到了：訂票區與會員區的登錄是分開的，我已為您重置訂票區密碼，新密碼已發到您的手機，請用它登錄。"
    r = real_client.post("/v1/check", json={"conversation": AIRLINE, "draft": draft})
    assert r.status_code == 200 and "boilerplate" not in [f["flag"] for f in r.json()["findings"]]


def test_acceptance_drafts_match_batch_scoring(real_client):
    """A draft checked live gets the flags the batch scorer gives the same turn."""
    path = ROOT.parent / "shared" / "acceptance" / "cases.jsonl"
    if not path.exists():
        pytest.skip("no acceptance cases")
    case = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    turns = [{"role": t["role"], "text": t["text"]} for t in case["turns"]]
    scored = real_client.post("/v1/score", json={"conversations": [{"id": "x", "lang": case["lang"], "turns": turns}]})
    by_index = {t["index"]: sorted(f["flag"] for f in t["findings"]) for t in scored.json()["results"][0]["turns"]}
    for i, t in enumerate(turns):
        if t["role"] != "agent":
            continue
        context = {"id": "x", "lang": case["lang"], "turns": turns[:i]}
        live = real_client.post("/v1/check", json={"conversation": context, "draft": t["text"]}).json()
        assert sorted(f["flag"] for f in live["findings"]) == by_index[i], i
