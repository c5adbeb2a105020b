"""Rule baseline, written the way commercial rule-based QA does it: keyword lists per flag
and a repeat operator with a similarity threshold. It is the bar the models must clear;
select it anywhere a model name is accepted with ``--model rules``.

Matching runs on :func:`replyguard.text.fold` output (Simplified script, lower case, no
punctuation), so one Simplified + English list covers all three languages.
"""

from __future__ import annotations

from rapidfuzz import fuzz

from replyguard.analyzer import qa_score
from replyguard.context import TurnContext, build_contexts
from replyguard.schema import Conversation, Finding, ScoredConversation, TurnResult
from replyguard.text import conversation_lang, fold

APOLOGY = ["抱歉", "对不起", "不好意思", "理解您", "理解你", "体谅", "致歉", "sorry", "apologi", "understand",
           "歉意", "辛苦", "着急", "心情", "frustrat"]
STOCK = ["抱歉", "对不起", "理解您的心情", "耐心等待", "还有其他", "还有什么", "感谢您的", "稍等", "请问有什么",
         "有什么可以帮", "祝您", "评价", "反馈", "为您查询", "系统升级", "系统原因", "以页面为准", "sorryfor",
         "inconvenience", "understandhowyoufeel", "thankyouforyourpatience", "anythingelse", "howcanihelp",
         "haveaniceday", "feedbackisimportant", "pleasewait", "bearwithus", "rateour", "systemupgrade"]
PROMO = ["优惠", "折扣", "打折", "活动", "会员", "升级", "特价", "促销", "限时", "领券", "红包", "新品", "推荐您",
         "首月免费", "了解一下", "办理", "discount", "coupon", "offer", "promo", "upgrade", "membership", "deal",
         "sale", "% off", "subscribe"]
COMPENSATION = ["补偿", "为表歉意", "赔偿", "fortheinconvenience", "forthetrouble", "compensat", "goodwill", "credit"]
NEGATIVE = ["投诉", "生气", "差评", "垃圾", "骗", "怎么回事", "到底", "服了", "无语", "崩溃", "太差", "等不了", "急",
            "气死", "受不了", "什么破", "???", "？？？", "!!!", "！！！", "complain", "angry", "ridiculous",
            "unacceptable", "worst", "terrible", "furious", "scam", "wtf", "seriously", "useless", "disgust"]
DEFENSIVE = ["你自己", "您自己", "为什么要投诉", "不是我们的问题", "不是我们的责任", "我哪里做错", "我没做错", "你应该",
             "您应该", "早就告诉", "yourfault", "youshouldhave", "whywouldyoucomplain", "notourfault",
             "notourproblem", "shouldhaveread", "youragreed", "youdidnt"]
QUESTION = ["?", "？", "吗", "怎么", "为什么", "什么", "能不能", "可以", "how", "why", "what", "when", "where", "can",
            "请", "帮我", "please"]
REPEAT = 90  # rapidfuzz ratio: a commercial "repeat" operator threshold
SHORT = 30  # folded characters: a reply this short made of stock words is "only a formula"


def _has(text: str, words: list[str]) -> str | None:
    return next((w for w in words if w in text), None)


def _raw_has(text: str, words: list[str]) -> str | None:
    low = text.lower()
    return next((w for w in words if w in low), None)


def judge(ctx: TurnContext) -> list[Finding]:
    r = fold(ctx.reply)
    customer = ctx.open_msg or ctx.question
    c = fold(customer)
    asked = bool(_raw_has(ctx.question, QUESTION))
    upset = bool(_raw_has(customer, NEGATIVE) or _has(c, NEGATIVE))
    out: list[Finding] = []

    def add(flag: str, why: str) -> None:
        out.append(Finding(flag=flag, confidence=1.0, evidence=ctx.reply[:160], explanation=f"rule: {why}"))  # type: ignore[arg-type]

    repeated = any(fuzz.ratio(r, fold(p)) >= REPEAT for p in ctx.prev_agent if fold(p)) and bool(r)
    stock_only = bool(_has(r, STOCK)) and len(r) <= SHORT
    if repeated or stock_only:
        add("boilerplate", "repeat of an earlier reply" if repeated else f"stock phrase '{_has(r, STOCK)}'")
    if asked and (repeated or stock_only):
        add("non_answer", "customer asked; reply is a repeat or a stock phrase")
    promo = _has(r, PROMO) or _raw_has(ctx.reply, PROMO)
    if promo and upset and not _has(r, COMPENSATION):
        add("ad_to_upset_customer", f"promotion keyword '{promo}' with a negative customer")
    if upset and not _has(r, APOLOGY):
        add("missing_empathy", "negative customer keyword and no apology keyword")
    if _has(r, DEFENSIVE):
        add("defensive", f"blaming keyword '{_has(r, DEFENSIVE)}'")
    return out


class RuleAnalyzer:
    """Same ``score`` / ``check`` interface as :class:`replyguard.analyzer.Analyzer`."""

    name = "rules"

    def score(self, conversations: list[Conversation]) -> list[ScoredConversation]:
        out = []
        for conv in conversations:
            lang = conv.lang or conversation_lang([t.text for t in conv.turns])
            turns = [TurnResult(index=ctx.index, findings=judge(ctx)) for ctx in build_contexts(conv, lang)]
            out.append(ScoredConversation(id=conv.id, score=qa_score(turns), lang=lang, turns=turns))  # type: ignore[arg-type]
        return out
