"""Suggestion catalogues: the default one in three languages, tenants' own by setting only."""

from __future__ import annotations

import shutil

import pytest
import yaml

from replyguard.schema import Conversation, Finding
from service.settings import DEFAULT_CATALOGUE
from service.suggest import Catalogue, Catalogues
from tests.service.test_api import AIRLINE, CANNED
from tests.utils.fixtures import conv


def finding(flag: str, evidence: str = "x") -> Finding:
    return Finding(flag=flag, confidence=0.9, evidence=evidence, explanation="")  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return Catalogue.load(DEFAULT_CATALOGUE)


@pytest.mark.parametrize(("turns", "draft", "flag", "expect"), [
    ([("customer", "My parcel never arrived and nobody answers!!")], "Order number?", "missing_empathy", "waiting"),
    ([("customer", "我的快递三天没动了!!!")], "订单号多少", "missing_empathy", "等了这么久"),
    ([("customer", "我的包裹三天沒動了!!!")], "訂單號多少", "missing_empathy", "等了這麼久"),
    ([("customer", "Where is my refund?")], "Thank you for your patience.", "boilerplate", "for your patience"),
    ([("customer", "退款呢?")], "请您耐心等待", "non_answer", "给出具体时间"),
    ([("customer", "你们又打推销电话，我要投诉!")], "顺便介绍一下我们的优惠券活动", "ad_to_upset_customer", "优惠券"),
    ([("customer", "You charged me twice!")], "You should have checked first.", "defensive", "escalating"),
])
def test_suggestions_in_the_customer_language(cat, turns, draft, flag, expect):
    c = Conversation.model_validate(conv(*turns))
    assert expect in cat.suggest(finding(flag), c, draft)


def test_scenario_comes_from_the_latest_customer_messages(cat):
    c = Conversation.model_validate(conv(("customer", "I can't log in to my account"),
                                         ("customer", "and my refund has not arrived, where is the money back?")))
    assert cat.scenario(c) == "refund"
    assert cat.scenario(Conversation.model_validate(conv(("customer", "hello")))) == "general"


def test_phrase_choice_is_stable_per_conversation(cat):
    c = Conversation.model_validate(AIRLINE)
    assert len({cat.suggest(finding("non_answer"), c, "請稍候") for _ in range(3)}) == 1


def test_every_language_has_every_template(cat):
    for key, table in cat.data.templates.items():
        assert {"zh-Hans", "zh-Hant", "en"} <= set(table), key
    for name, sc in cat.data.scenarios.items():
        assert {"zh-Hans", "zh-Hant", "en"} <= set(sc.openers), name


def test_tenant_catalogue_by_setting_only(make_client, tmp_path):
    data = yaml.safe_load(DEFAULT_CATALOGUE.read_text(encoding="utf-8"))
    data["templates"]["boilerplate_canned"] = {"en": "ACME: rewrite “{line}”", "zh-Hant": "ACME 話術：「{line}」"}
    (tmp_path / "acme.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (tmp_path / "broken.yaml").write_text("templates: [", encoding="utf-8")
    c = make_client(require_api_key=True, catalogue_dir=tmp_path)
    keys = c.app.state.rg.keys
    body = {"conversation": AIRLINE, "draft": CANNED}

    def suggestion(tenant: str) -> str:
        key, _ = keys.create(tenant)
        found = c.post("/v1/check", json=body, headers={"X-API-Key": key}).json()["findings"]
        return next(f["suggestion"] for f in found if f["flag"] == "boilerplate")

    assert suggestion("acme").startswith("ACME 話術")
    assert not suggestion("globex").startswith("ACME")  # no file: the default catalogue
    assert not suggestion("broken").startswith("ACME")  # invalid file: the default, and a log line


def test_invalid_catalogue_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    shutil.copy(DEFAULT_CATALOGUE, bad)
    data = yaml.safe_load(bad.read_text(encoding="utf-8"))
    del data["scenarios"]["general"]
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match="general"):
        Catalogues(bad)


def test_drafts_stay_out_of_the_text_caches(cat):
    """Suggestions fold the draft without fold()'s cache: every keystroke is a new draft, and a
    cache of 65,536 drafts grew a worker under a soak (history is what that cache is for)."""
    from replyguard.text import fold

    c = Conversation.model_validate(conv(("customer", "你们又打推销电话，我要投诉!")))
    drafts = [f"请您耐心等待，顺便介绍一下我们的优惠券活动（{i}）" for i in range(50)]
    cat.suggest(finding("boilerplate"), c, drafts[0])  # the history is folded (and cached) once
    before = fold.cache_info().currsize
    for d in drafts:
        for flag in ("boilerplate", "non_answer", "ad_to_upset_customer", "missing_empathy"):
            cat.suggest(finding(flag), c, d)
    assert fold.cache_info().currsize == before
    assert "优惠券" in cat.suggest(finding("ad_to_upset_customer"), c, drafts[1])
