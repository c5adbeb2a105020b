"""Real-chat noise for generated conversations (see REAL_CHATS.md): chat particles, emoji,
typos, anonymisation tokens, pasted order cards, shouting, repeated question marks."""

from __future__ import annotations

import random

ZH_PREFIX = {"zh-Hans": ["亲，", "亲亲~", "亲爱哒，", "亲 ", "您好，", "小妹这边看到了，"],
             "zh-Hant": ["親，", "親親~", "您好，", "哈囉，", "你好呀，"],
             "en": ["Hi there, ", "Hello! ", "Hey, ", "Thanks for reaching out. ", "Hi [name x], "]}
ZH_SUFFIX = {"zh-Hans": ["哦", "呢", "哈", "哒", "~", "😊", "[微笑]", "呢亲", "(๑•̀ㅂ•́)و✧"],
             "zh-Hant": ["喔", "唷", "呢", "~", "😊", "哦", "啦"],
             "en": [" :)", " 🙂", "!", " Thanks!", ""]}
PREAMBLE = {"zh-Hans": ["在吗", "咨询订单号:[订单x] 商品ID:[数字x]", "[链接x]", "你好", "人工", "hello?"],
            "zh-Hant": ["在嗎", "訂單編號:[訂單x]", "[連結x]", "你好", "真人客服", "哈囉?"],
            "en": ["hello?", "Order #[order x]", "[link x]", "hi", "agent please", "is anyone there"]}
# phonetic slips seen in real logs (今天→惊天, 照片→招片...)
ZH_TYPOS = {"今天": "惊天", "照片": "招片", "原返": "原反", "什么": "神马", "已经": "以经", "在吗": "再吗",
            "退款": "退宽", "快递": "快第", "知道": "知到", "謝謝": "謝射", "什麼": "甚麼"}
REPEAT_PREFIX = {"zh-Hans": ["我再问一遍，", "你没看我的问题吗? ", "", "", "重复一遍："],
                 "zh-Hant": ["我再問一次，", "你有看我的問題嗎? ", "", ""],
                 "en": ["I'll ask again: ", "Did you even read my message? ", "", "AGAIN: "]}


class Noiser:
    def __init__(self, lang: str, rng: random.Random) -> None:
        self.lang, self.rng = lang, rng

    def preamble(self) -> str:
        return self.rng.choice(PREAMBLE[self.lang])

    def _typo(self, text: str) -> str:
        if self.lang == "en":
            words = text.split(" ")
            i = self.rng.randrange(len(words))
            w = words[i]
            if len(w) > 3:
                j = self.rng.randrange(len(w) - 1)
                words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
            return " ".join(words)
        for a, b in ZH_TYPOS.items():
            if a in text:
                return text.replace(a, b, 1)
        if len(text) > 6:  # a dropped character
            j = self.rng.randrange(1, len(text) - 1)
            return text[:j] + text[j + 1:]
        return text

    def customer(self, text: str, upset: bool) -> str:
        r = self.rng.random
        if r() < 0.12:
            text = self._typo(text)
        if upset and r() < 0.25:
            text = text.rstrip("?？。.!！") + self.rng.choice(["???", "？？？", "!!!", "！！", "??!", " 😡", " 🙄"])
        if self.lang == "en" and upset and r() < 0.1:
            text = text.upper()
        if self.lang == "en" and not upset and r() < 0.1:
            text = text.lower().rstrip(".")
        return text

    def agent(self, text: str) -> str:
        r = self.rng.random
        if self.lang != "en" and r() < 0.3:
            text = self.rng.choice(ZH_PREFIX[self.lang]) + text
        elif self.lang == "en" and r() < 0.1:
            text = self.rng.choice(ZH_PREFIX["en"]) + text
        if r() < 0.2:
            text = text.rstrip("。.") + self.rng.choice(ZH_SUFFIX[self.lang])
        if r() < 0.05:
            text = self._typo(text)
        return text

    def light_variant(self, text: str) -> str:
        """A near-verbatim copy: the agent re-sends a canned line with tiny edits."""
        r = self.rng.random()
        if r < 0.5:
            return text
        if r < 0.7:
            return text.rstrip("。.!！~") + self.rng.choice(["。", "!", "~", "..."])
        if r < 0.85 and self.lang != "en":
            return self.rng.choice(ZH_PREFIX[self.lang]) + text
        return text + self.rng.choice(ZH_SUFFIX[self.lang])

    def repeat_question(self, text: str) -> str:
        return self.rng.choice(REPEAT_PREFIX[self.lang]) + text
