from replyguard.text import ANON, conversation_lang, detect_lang, fold, has_specifics, segments


def test_detect_three_languages():
    assert detect_lang("我的快递显示已签收但我没收到") == "zh-Hans"
    assert detect_lang("我的網路帳單怎麼還沒寄來") == "zh-Hant"
    assert detect_lang("Where is my refund??") == "en"
    assert detect_lang("亲，订单[订单x]已经发货了哦 order shipped") == "zh-Hans"


def test_conversation_lang_majority():
    assert conversation_lang(["ok", "我的包裹呢", "亲，稍等"]) == "zh-Hans"
    assert conversation_lang([]) == "en"


def test_segments_split_merged_turns():
    assert segments("已为您退款。 稍等哦 还有其他问题吗?") == ["已为您退款。", "稍等哦", "还有其他问题吗?"]
    assert segments("很抱歉，系統正在升級。——歡迎使用網上訂票，將會優惠五元錢。")[-1].startswith("歡迎")
    assert segments("I refunded it. Anything else?") == ["I refunded it.", "Anything else?"]
    assert segments("👍") == ["👍"]


def test_fold_ignores_script_particles_emoji():
    assert fold("親，請問還有其他需要諮詢的嗎?😊") == fold("亲，请问还有其他需要咨询的吗?")
    assert fold("") == ""


def test_anonymisation_tokens_are_specifics():
    assert ANON.search("预计[日期x]送达")
    assert has_specifics("预计[日期x]送达，单号[订单x]") == 2
    assert has_specifics("请您耐心等待") == 0
