"""Text preparation: language detection, script folding, tokens, emoji, merged turns."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import opencc

_T2S = opencc.OpenCC("t2s")
_S2T = opencc.OpenCC("s2t")

_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
# Anonymisation tokens as real logs carry them: [订单x], [數字1], [ORDER_ID], {{Order Number}}
ANON = re.compile(r"\[[^\[\]\s]{1,12}?[xX0-9]*\]|\{\{[^{}]{1,40}\}\}")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200d]")
# Sentence ends, the dash agents paste between messages, and runs of spaces that join
# merged messages in chat logs.
_SEG_SPLIT = re.compile(r"(?<=[。！？!?；;~～…])\s*|——+|\n+|\s{2,}|(?<=[\u4e00-\u9fff\)）】\]])\s+(?=[\u4e00-\u9fff\[【(（])|(?<=[.])\s+(?=[A-Z])")
_PARTICLES = re.compile(r"^(亲爱哒|亲爱的|亲亲|亲|親愛的|親親|親|dear)[,，~～!！\s]*", re.IGNORECASE)


def detect_lang(text: str) -> str:
    """Script-based detection for the three product languages.

    General detectors (langdetect, lingua) return one "Chinese" and cannot split
    Simplified from Traditional; opencc's round trip can, so we use script counts.

    >>> detect_lang("網路訊息") , detect_lang("网络信息"), detect_lang("hello there")
    ('zh-Hant', 'zh-Hans', 'en')
    """
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(ANON.sub("", text)))
    if han == 0:
        return "en"
    if latin > 3 * han:
        return "en"
    trad = sum(1 for a, b in zip(text, _T2S.convert(text)) if a != b)
    simp = sum(1 for a, b in zip(text, _S2T.convert(text)) if a != b)
    if trad > simp:
        return "zh-Hant"
    if simp > trad:
        return "zh-Hans"
    return "zh-Hans" if han else "en"


@lru_cache(maxsize=16384)
def turn_lang(text: str) -> str:
    """:func:`detect_lang` for a turn of a conversation's history, remembered (a live
    check re-reads the same history on every keystroke)."""
    return detect_lang(text)


def conversation_lang(texts: list[str]) -> str:
    return vote_lang([detect_lang(t) for t in texts if t.strip()])


def vote_lang(langs: list[str]) -> str:
    """The conversation's language from its turns' languages."""
    if not langs:
        return "en"
    zh = [x for x in langs if x != "en"]
    if len(zh) >= len(langs) / 2:
        hant = sum(x == "zh-Hant" for x in zh)
        return "zh-Hant" if hant > len(zh) / 2 else "zh-Hans"
    return "en"


def normalize(text: str) -> str:
    """Light clean-up kept for every model input: NFC, collapse whitespace, unify tokens."""
    text = unicodedata.normalize("NFC", text).replace("\u3000", " ")
    text = ANON.sub(lambda m: m.group(0).lower() if m.group(0).startswith("[") else "[" + m.group(0)[2:-2].strip().lower() + "]", text)
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def simplified_lower(text: str) -> str:
    """normalize(), then Simplified script and lower case: one spelling of a sentence across
    zh-Hant / zh-Hans and case, with its words, spaces and punctuation kept (unlike fold())."""
    return _T2S.convert(normalize(text)).lower()


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Comparison key for lexical matching: Simplified script, no emoji, particles, spaces
    or punctuation, lower case. Used to spot near-verbatim repeats across scripts."""
    t = simplified_lower(text)
    t = _EMOJI.sub("", t)
    t = _PARTICLES.sub("", t)
    return "".join(ch for ch in t if ch.isalnum() or ch in "[]")


def segments(text: str) -> list[str]:
    """Split a (possibly merged) turn into messages/sentences.

    >>> segments("已为您退款。 稍等哦 还有其他问题吗?")
    ['已为您退款。', '稍等哦', '还有其他问题吗?']
    """
    parts = [p.strip(" ,，") for p in _SEG_SPLIT.split(normalize(text)) if p and p.strip(" ,，")]
    merged: list[str] = []
    for p in parts:  # glue fragments with no letters (emoji, "...") to the previous one
        if merged and not any(ch.isalnum() for ch in p):
            merged[-1] = merged[-1] + p
        else:
            merged.append(p)
    return merged or [normalize(text)]


_CLAUSE_SPLIT = re.compile(r"(?<=[，,、：:—])\s*|\s+-\s+")


def clauses(segment: str) -> list[str]:
    """Split one segment at commas/dashes, keeping short leading clauses on their own.

    >>> clauses("实在抱歉，请问现在机器有拿到售后吗")
    ['实在抱歉，', '请问现在机器有拿到售后吗']
    """
    parts = [p for p in _CLAUSE_SPLIT.split(segment) if p and p.strip()]
    return parts or [segment]


def has_specifics(text: str) -> int:
    """Count concrete details: numbers, anonymised values, codes, times."""
    t = normalize(text)
    return len(ANON.findall(t)) + len(re.findall(r"\d+", ANON.sub("", t)))
