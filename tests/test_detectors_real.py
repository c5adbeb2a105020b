"""Each detector on tricky cases in three languages, with the shipped model (slow: real encoder).

Cases are written for these tests (not taken from training data or the acceptance file):
each pairs a positive with its hard negative, as LABELS.md draws the line.
"""

import pytest

from replyguard.schema import Conversation

pytestmark = pytest.mark.slow


def flags(analyzer, turns, draft):
    conv = Conversation.model_validate({"id": "t", "turns": [{"role": r, "text": t} for r, t in turns]})
    return {f.flag for f in analyzer.check(conv, draft)}


ANGRY_ZH = [("customer", "我的洗衣机修了三次还是漏水，你们到底管不管？？再这样我就投诉了")]
ANGRY_HANT = [("customer", "我的網路已經斷線三天了，在家上班完全沒辦法，你們到底什麼時候才要修好？！")]
ANGRY_EN = [("customer", "My card was charged TWICE for the same order and nobody answers my emails. This is ridiculous!!")]


@pytest.mark.parametrize("turns,draft", [
    (ANGRY_ZH, "我理解您的心情。"),
    (ANGRY_HANT, "造成您的不便，敬請見諒。"),
    (ANGRY_EN, "We apologize for any inconvenience."),
])
def test_bare_formula_is_boilerplate_and_non_answer(real_analyzer, turns, draft):
    assert {"boilerplate", "non_answer"} <= flags(real_analyzer, turns, draft)


@pytest.mark.parametrize("turns,draft", [
    # replyguard-v2 read this reply to a complaint threat ("再这样我就投诉了") as a non-answer
    # (p 0.60); replyguard-v3, trained with threat + real-answer cases, does not (p 0.05).
    (ANGRY_ZH, "真的很抱歉让您反复跑，已为您升级为上门换新，师傅明天上午9-12点上门，工单号[订单x]。"),
    # Known false positive of replyguard-v3 and -v4: the same reply without the ticket number is
    # still read as a non-answer (v3: p 0.58 > 0.55; the frozen relevance feature is low for it).
    # Strict: the test fails once a retrained model gets it right, so the marker goes then.
    pytest.param(ANGRY_ZH, "真的很抱歉让您反复跑，已为您升级为上门换新，师傅明天上午9-12点上门。",
                 marks=pytest.mark.xfail(strict=True, reason="replacement without a ticket number read as non_answer")),
    (ANGRY_HANT, "真的很抱歉造成您工作上的困擾，工程師已排定明天上午到府維修，這段期間先幫您開通行動網路吃到飽。"),
    (ANGRY_EN, "I'm really sorry about this. I've refunded the duplicate charge of $42.10; you'll see it in 3-5 business days."),
])
def test_specific_apology_with_action_is_clean(real_analyzer, turns, draft):
    assert flags(real_analyzer, turns, draft) & {"boilerplate", "non_answer", "missing_empathy"} == set()


@pytest.mark.parametrize("turns,draft", [
    (ANGRY_ZH, "工单已经提交，师傅明天上午9-12点上门。"),
    (ANGRY_EN, "Please send me the order number and the last four digits of the card."),
])
def test_upset_customer_without_acknowledgement_misses_empathy(real_analyzer, turns, draft):
    assert "missing_empathy" in flags(real_analyzer, turns, draft)


def test_calm_customer_never_needs_empathy(real_analyzer):
    turns = [("customer", "请问你们周末发货吗？")]
    assert "missing_empathy" not in flags(real_analyzer, turns, "周末也正常发货的，下午4点前下单当天发出。")


@pytest.mark.parametrize("turns,draft", [
    (ANGRY_ZH, "非常抱歉。现在办理以旧换新立减500元，新款洗烘一体机限时8折，欢迎选购！"),
    (ANGRY_EN, "Sorry about that. By the way, upgrade to Premium today and get 3 months free!"),
])
def test_ad_to_upset_customer(real_analyzer, turns, draft):
    assert "ad_to_upset_customer" in flags(real_analyzer, turns, draft)


def test_compensation_is_not_an_ad(real_analyzer):
    draft = "非常抱歉给您添麻烦了，已为您安排师傅明天上门换新，另外为表歉意给您发放了100元补偿券。"
    assert "ad_to_upset_customer" not in flags(real_analyzer, ANGRY_ZH, draft)


def test_offer_the_customer_asked_for_is_not_an_ad(real_analyzer):
    turns = [("customer", "Do you have any student discounts?")]
    assert "ad_to_upset_customer" not in flags(real_analyzer, turns, "Yes! Students get 20% off with a valid .edu email.")


@pytest.mark.parametrize("turns,draft", [
    (ANGRY_ZH, "是您自己使用不当造成的，这个我们不负责。"),
    (ANGRY_EN, "You should have read the terms before ordering. Why would you complain about that?"),
])
def test_defensive(real_analyzer, turns, draft):
    assert "defensive" in flags(real_analyzer, turns, draft)


def test_blame_and_taking_the_blame_in_traditional_chinese(real_analyzer):
    """Same words, opposite target: the shipped defensive head reads the n-gram twin of its signal."""
    assert next(d for d in real_analyzer.detectors if d.flag == "defensive").lexical
    assert "defensive" in flags(real_analyzer, ANGRY_HANT, "這是您自己沒看清楚公告，不是我們的問題。")
    assert "defensive" not in flags(real_analyzer, ANGRY_HANT,
                                    "這是我們的疏失，不是您的問題，工程師今天下午三點前會到府維修。")


def test_verbatim_repeat_is_boilerplate(real_analyzer):
    turns = [("customer", "我的退款怎么还没到账？"), ("agent", "亲，系统正在升级，请您耐心等待哦"),
             ("customer", "升级要多久？我下周要用钱"), ]
    assert "boilerplate" in flags(real_analyzer, turns, "亲，系统正在升级，请您耐心等待哦")


def test_closing_after_customer_is_satisfied_is_fine(real_analyzer):
    turns = [("customer", "How do I reset my password?"), ("agent", "Tap 'Forgot password' on the login page; the link arrives within a minute."),
             ("customer", "Got it, that worked. Thanks a lot!")]
    assert flags(real_analyzer, turns, "Glad I could help! Have a great day.") == set()


def test_hold_message_once_is_fine(real_analyzer):
    turns = [("customer", "我想查一下订单[订单x]到哪了")]
    assert flags(real_analyzer, turns, "稍等，正在为您查询") & {"boilerplate", "non_answer"} == set()


def test_relevant_clarifying_question_is_not_a_non_answer(real_analyzer):
    turns = [("customer", "我買的吹風機壞了，可以換嗎？")]
    assert "non_answer" not in flags(real_analyzer, turns, "可以的，請問是哪一天在哪個通路購買的呢？方便提供訂單編號嗎？")
