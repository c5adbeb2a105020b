"""Build the project's own labelled data from the scenario banks (and the licensed train/ sets).

Step 1  split every bank line and every scenario into train / valid / heldout by a hash of
        the scenario id or the line (so a held-out conversation never shares a scenario,
        and rarely a stock line, with training);
Step 2  compose conversations turn by turn; each agent move has a known effect, and the
        labels follow LABELS.md from the move and the conversation state;
Step 3  write signal lines (role-labelled single texts and question/reply pairs) for the
        signal heads;
Step 4  add the licensed English sets (Bitext request/reply pairs, ABCD dialogues);
Step 5  hard cases (``HardComposer``, banks ``training/banks/hard_*.py``), composed last with their
        own rng so that everything above is unchanged: promotions merged into stock lines,
        apology-then-pitch, implicit anger, rejected suggestions repeated, defensive lines,
        busy explanations that answer nothing; then a second hard-case pass (complaint threats
        answered for real or not; acknowledgement / blame / greeting moves in many more
        wordings; an earlier paragraph pasted again further down), appended so that every earlier conversation keeps its place;
        a third pass (calm blame next to its look-alikes) and a fourth (the same moves in everyday
        English voice: idioms, quips, help-desk greetings, replies that take the blame) and a
        fifth (minimal pairs: the same words blaming the customer or turned to blame nobody), a
        sixth (dismissing, tone-policing) and a seventh (the customer cleared in the words blame
        uses, next to plain blame), each with its own rng, appended the same way.

    python -m training.build_data --out data/generated
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from training.noise import Noiser

SPLITS = ("train", "valid", "heldout")
BANK_MODULES = {"en": "en", "zh-Hans": "zh_hans", "zh-Hant": "zh_hant"}


def bank(lang: str):
    return importlib.import_module(f"training.banks.{BANK_MODULES[lang]}")


def extra_bank(lang: str) -> dict:
    """Cross-domain extras (more ads, apology clauses, short answers...), when present."""
    try:
        return importlib.import_module(f"training.banks.extra_{BANK_MODULES[lang]}").EXTRA
    except ModuleNotFoundError:
        return {}
SHARED = Path(__file__).resolve().parents[2] / "shared"


def split_of(key: str) -> str:
    """Deterministic split: 20% heldout, 25% valid (flag heads), 55% train (signal heads)."""
    h = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 100
    return "heldout" if h < 20 else "valid" if h < 45 else "train"


def pool(items: list, split: str) -> list:
    """Lines of a list that belong to ``split``; small lists keep at least one line per split."""
    chosen = [x for x in items if split_of(json.dumps(x, ensure_ascii=False)) == split]
    if chosen:
        return chosen
    return [items[int(hashlib.sha1(split.encode()).hexdigest()[:4], 16) % len(items)]] if items else []


@dataclass
class State:
    question_kind: str = "ask"  # which scenario list answers the open question
    open_q: bool = False
    upset_open: bool = False  # the open message shows emotion
    upset_unsure: bool = False  # emotion ambiguous (verbatim repeat)
    upset_last: bool = False  # the previous customer message did
    acked_since_upset: bool = False
    settled: bool = False
    promo_asked: bool = False
    clarified: bool = False
    complaint: bool = False  # a problem is being discussed (ads here are doubtful)
    last_move: str = ""
    prev_agent: list[str] = field(default_factory=list)
    prev_tags: list[set] = field(default_factory=list)  # content of each agent turn: "ad", "defensive"
    pending_tags: set = field(default_factory=set)
    domain: str = ""
    sid: str = ""  # scenario id
    distress: bool = False  # calm wording, real stakes (stranded, a parent in hospital...)
    stakes_ack: str = ""  # acknowledgement that names those stakes
    short_a: str = ""  # the short answer to an open "short" question
    refused: str = ""  # a bare refusal (no reason, no alternative) the agent sent


class Composer:
    """Composes labelled conversations for one language, domain pool and split."""

    def __init__(self, lang: str, split: str, rng: random.Random) -> None:
        self.lang, self.split, self.rng = lang, split, rng
        b = bank(lang)
        self.stock = {k: pool(v, split) for k, v in b.STOCK.items()}
        self.domains = {}
        for d, dom in b.DOMAINS.items():
            self.domains[d] = {k: pool(v, split) for k, v in dom.items() if k != "scenarios"}
            self.domains[d]["scenarios"] = [s for s in dom["scenarios"] if split_of(s["id"]) == split]
        self.noise = Noiser(lang, rng)
        # patience lines that only ask the customer to wait: no acknowledgement (LABELS.md)
        self.patience_request = frozenset(getattr(b, "PATIENCE_REQUEST", ()))
        self.extra = {k: pool(v, split) for k, v in extra_bank(lang).items()}
        # more stock excuses, same role as STOCK["system_excuse"]
        self.stock["system_excuse"] = self.stock["system_excuse"] + self.x("system_excuse")

    def x(self, key: str) -> list:
        return self.extra.get(key, [])

    def c(self, xs: list[str]) -> str:
        return self.rng.choice(xs)

    def by_domain(self, key: str, domain: str, sid: str = "", with_any: bool = False) -> list[list[str]]:
        """Rows ``[where, ...]`` of an extra list that fit ``domain`` (and scenario id ``sid``), else
        the cross-domain rows. ``where`` is "any", a domain, or "domain:kw|kw" for scenario ids
        containing one of the keywords."""
        def fits(where: str) -> bool:
            dom, _, kws = where.partition(":")
            return dom == domain and (not kws or any(k in sid for k in kws.split("|")))
        rows = self.x(key)
        anyr = [r[1:] for r in rows if r[0] == "any"]
        mine = [r[1:] for r in rows if fits(r[0])]
        return mine + anyr if with_any else mine or anyr

    # -- customer -----------------------------------------------------------
    def customer_open(self, sc: dict, st: State, upset: bool, distress: bool = False) -> list[str]:
        msgs = []
        if self.rng.random() < 0.12:
            msgs.append(self.noise.preamble())
        text = self.c(sc["ask_upset"] if upset else sc["ask"])
        if upset and self.rng.random() < 0.4:
            text = text + " " + self.c(self.stock["upset_marks"])
        stakes = self.by_domain("stakes", st.domain, sc["id"], with_any=True) if distress and not upset else []
        if stakes:
            # calm wording with real stakes: negative emotion (urgency with stakes) all the same
            line, st.stakes_ack = self.c(stakes)
            text = f"{text} {line}" if self.rng.random() < 0.6 else f"{line} {text}"
            st.distress = upset = True
            msgs.append(self.noise.customer(text, False))
        else:
            msgs.append(self.noise.customer(text, upset))
        st.open_q, st.upset_open, st.question_kind, st.complaint = True, upset, "ask", True
        st.upset_unsure = False
        return msgs

    # -- agent moves ----------------------------------------------------------
    def _opener(self, sc: dict, st: State | None = None) -> str:
        if st is not None and st.stakes_ack and self.rng.random() < 0.6:
            return st.stakes_ack
        r = self.rng.random()
        if r < 0.4:
            return self.c(self.stock["specific_empathy"]).replace("{issue}", sc["issue"])
        if r < 0.7 and self.x("apology_clauses"):
            return self.c(self.x("apology_clauses"))
        return self.c(self.stock["empathy_opener"])

    def ad(self, dom: dict, st: State) -> str:
        st.pending_tags.add("ad")
        return self.c(dom["ad"] + self.x("ads"))

    def _empathy_labels(self, st: State, has_ack: bool, gold: set, skip: set) -> None:
        if has_ack:
            return
        if st.upset_unsure:
            skip.add("missing_empathy")
        elif st.upset_open or (st.upset_last and not st.acked_since_upset):
            gold.add("missing_empathy")

    def agent(self, sc: dict, dom: dict, st: State, good: bool) -> tuple[str, set, set, str]:
        gold: set[str] = set()
        skip: set[str] = set()
        r = self.rng.random()
        upset = st.upset_open or (st.upset_last and not st.acked_since_upset)
        if good:
            kind = {"ask": "answer", "followup": "followup_answer", "clarify_reply": "answer", "short": "short",
                    "why": "refuse", "complain": "complain_answer"}[st.question_kind]
            if st.question_kind == "ask" and not st.clarified and r < (0.4 if st.distress else 0.25):
                kind = "clarify"  # a relevant question: a step, even when it acknowledges nothing
            elif st.question_kind == "ask" and r < 0.45:
                kind = self.rng.choice(["action", "refuse"] + (["notice"] if sc.get("notice") else []))
            if kind == "short":
                body = st.short_a
            elif kind == "complain_answer":
                body = self.c(self.x("complain_answer"))
            else:
                body = self.c(sc[kind])
            has_ack = False
            if upset and self.rng.random() < 0.6 or (not upset and self.rng.random() < 0.1):
                body = self._opener(sc, st) + " " + body
                has_ack = True
            tail = self.rng.random()
            if tail < 0.12 and kind != "clarify":
                body += " " + self.c(self.stock["anything_else"])
            elif tail < 0.24 and st.complaint:
                body += " " + self.c(dom["compensation"] + self.x("compensation"))
                has_ack = True
            elif tail < 0.40:
                body += " " + self.ad(dom, st)
                if upset:
                    gold.add("ad_to_upset_customer")
                elif st.complaint:
                    skip.add("ad_to_upset_customer")
            if kind == "complain_answer" and not has_ack:
                skip.add("missing_empathy")  # filing the complaint engages with it; whether that is enough is doubtful
                has_ack = True
            self._empathy_labels(st, has_ack, gold, skip)
            st.clarified |= kind == "clarify"
            return body, gold, skip, kind

        options = ["bare", "closing_open", "greeting_late", "excuse", "deflect", "drift",
                   "far_ticket", "defensive", "hold", "ad_only"]
        weights = [3, 2, 1, 1.5, 1, 1.5, 1, 1.2, 1, 1]
        if st.prev_agent:
            options.append("repeat")
            weights.append(3.5)
        bare_no = [r[0] for r in self.by_domain("refuse_bare", st.domain, st.sid, with_any=True)]
        if st.distress and st.open_q:
            weights[options.index("far_ticket")] = 3  # a ticket days away for someone who needs help now
        if bare_no and st.question_kind in ("ask", "clarify_reply"):
            options.append("refuse_bare")
            weights.append(1.5)
        elif st.question_kind == "why":
            # the customer asked why after a bare "no": the same "no" again, or another one
            options.append("refuse_bare")
            weights.append(2)
            weights[options.index("repeat")] = 6
        if st.question_kind == "complain" and self.x("complain_argue"):
            options.append("complain_argue")
            weights.append(5)
        if st.last_move == "excuse":  # the customer pushed back on a stock excuse
            weights[options.index("excuse")] = 4
            weights[options.index("repeat")] = 5
        kind = self.rng.choices(options, weights)[0]
        if kind == "hold" and st.last_move == "hold":
            kind = "repeat"
        has_ack = False
        if kind == "bare":
            parts = self.rng.sample(["bare_apology", "bare_empathy", "patience", "feedback_important",
                                     "compliment_understanding"], k=self.rng.choice([1, 1, 2]))
            picked = [self.c(self.stock[p]) for p in parts]
            body = " ".join(picked)
            gold |= {"boilerplate"} | ({"non_answer"} if st.open_q else set())
            has_ack = bool({"bare_apology", "bare_empathy"} & set(parts))
            if not has_ack and not all(t in self.patience_request for t in picked):
                # thanks for waiting, "your feedback matters": whether that acknowledges anything
                # is doubtful; "please wait patiently" alone does not (gold below when upset)
                skip.add("missing_empathy")
                has_ack = True  # skip decided; do not gold it below
        elif kind == "closing_open":
            body = self.c(self.stock[self.rng.choice(["anything_else", "closing", "rate_request"])])
            gold |= {"boilerplate", "non_answer"}
        elif kind == "greeting_late":
            body = self.c(self.stock["greeting"])
            gold |= {"boilerplate", "non_answer"}
        elif kind == "excuse":
            body = self.c(self.stock["system_excuse"])
            gold.add("boilerplate")
            (gold if st.last_move in ("excuse", "repeat") else skip).add("non_answer")
            skip.add("missing_empathy")
            has_ack = True
        elif kind == "deflect":
            body = self.c(self.stock["deflect"])
            gold.add("non_answer")
            skip.add("boilerplate")
        elif kind == "drift":
            body = self.c(dom["drift"])
            gold.add("non_answer")
            if upset:
                skip.add("ad_to_upset_customer")
        elif kind == "far_ticket":
            body = self.c(dom["far_ticket"])
            (gold if upset else skip).add("non_answer")
            if upset and self.rng.random() < 0.3:  # acknowledged, still days away for help needed now
                body = self._opener(sc, st) + " " + body
                has_ack = True
        elif kind == "defensive":
            generic = self.rng.random() < 0.5
            body = self.c(self.stock["defensive"] + self.x("defensive") if generic else dom["defensive"])
            gold.add("defensive")
            st.pending_tags.add("defensive")
            (gold if generic and st.open_q else skip).add("non_answer")
            skip.add("missing_empathy")
            has_ack = True
        elif kind == "hold":
            body = self.c(self.stock["hold"])
        elif kind == "refuse_bare":
            # a "no" with no reason and no alternative: doubtful as a first reply to the question,
            # a non-answer when the customer has asked why (and boilerplate when sent again verbatim)
            body = self.c(bare_no or [r[1] for r in self.x("refuse_bare")])
            if st.question_kind == "why":
                gold.add("non_answer")
                (gold if st.refused and body in st.refused else skip).add("boilerplate")
            else:
                skip.add("non_answer")
                st.refused = body
        elif kind == "complain_argue":
            body = self.c(self.x("complain_argue"))
            gold |= {"defensive", "non_answer"}
            st.pending_tags.add("defensive")
            skip.add("missing_empathy")
            has_ack = True
        elif kind == "ad_only":
            body = self.ad(dom, st)
            gold.add("non_answer")
            if upset:
                gold.add("ad_to_upset_customer")
            else:
                skip.add("ad_to_upset_customer")
        else:  # repeat an earlier agent turn to a new customer message
            i = self.rng.choice([-1, -2]) if len(st.prev_agent) > 1 else -1
            body = self.noise.light_variant(st.prev_agent[i])
            gold |= {"boilerplate", "non_answer"}
            skip.add("missing_empathy")
            has_ack = True
            tags = st.prev_tags[i]  # a repeat carries what the original said
            st.pending_tags |= tags
            if "defensive" in tags:
                gold.add("defensive")
            if "ad" in tags:
                (gold if upset else skip).add("ad_to_upset_customer")
        if kind in ("bare", "closing_open", "greeting_late") and self.rng.random() < 0.15 and upset:
            body += " " + self.ad(dom, st)
            gold.add("ad_to_upset_customer")
            # a formula followed by a sales pitch is no longer "only a stock formula" (LABELS.md
            # boilerplate (b)); the pitch is what is wrong with it
            gold.discard("boilerplate")
            skip.discard("boilerplate")
        self._empathy_labels(st, has_ack, gold, skip)
        return body, gold, skip, kind

    # -- a whole conversation -------------------------------------------------
    def conversation(self, domain: str, sc: dict, cid: str) -> dict:
        rng = self.rng
        dom = self.domains[domain]
        turns: list[dict] = []
        st = State(domain=domain, sid=sc["id"])

        def say_agent(text: str, gold: set, skip: set, kind: str) -> None:
            text = self.noise.agent(text)
            skip = skip - gold
            turns.append({"role": "agent", "text": text, "gold": sorted(gold), "skip": sorted(skip), "move": kind})
            st.prev_agent.append(text)
            st.prev_tags.append(set(st.pending_tags))
            st.pending_tags.clear()
            st.last_move = kind
            if st.upset_open or st.upset_last:
                st.acked_since_upset = st.acked_since_upset or "missing_empathy" not in gold

        def say_customer(texts: list[str]) -> None:
            turns.extend({"role": "customer", "text": t} for t in texts)

        if rng.random() < 0.15:
            say_agent(self.c(self.stock["greeting"]), set(), set(), "greeting")
        mood = rng.random()
        say_customer(self.customer_open(sc, st, upset=mood < 0.45, distress=0.45 <= mood < 0.62))
        n_agent = rng.randint(2, 5)
        p_good = rng.choice([0.2, 0.5, 0.8])
        while sum(t["role"] == "agent" for t in turns) < n_agent + (turns[0]["role"] == "agent"):
            if st.settled or not st.open_q:
                # closing phase: stock lines are right here; a promotion is fine once settled
                pick = rng.random()
                if st.promo_asked:
                    body = self.c(self.stock["promo_request"])[1]
                elif pick < 0.7:
                    body = self.c(self.stock[rng.choice(["anything_else", "closing", "rate_request"])])
                    if rng.random() < 0.2 and st.settled:
                        body += " " + self.ad(dom, st)
                else:
                    body = self.ad(dom, st) if st.settled else self.c(self.stock["closing"])
                say_agent(body, set(), set(), "closing_ok")
                st.promo_asked = False
                if rng.random() < 0.5:
                    break
                say_customer([self.noise.customer(self.c(self.stock["ack"] + self.stock["neutral_chitchat"]), False)])
                st.upset_open = st.upset_last = False
                continue
            good = rng.random() < p_good
            body, gold, skip, kind = self.agent(sc, dom, st, good)
            say_agent(body, gold, skip, kind)
            # customer reacts
            st.upset_last = st.upset_open
            if st.upset_open:
                st.acked_since_upset = "missing_empathy" not in gold and "missing_empathy" not in skip
            if good or kind == "hold":
                if kind == "clarify":
                    say_customer([self.noise.customer(self.c(sc["clarify_reply"]), False)])
                    st.question_kind, st.upset_open, st.upset_unsure = "clarify_reply", False, False
                    continue
                if kind == "hold":
                    nxt = rng.choice(["impatient", "wait"])
                    if nxt == "impatient":
                        say_customer([self.noise.customer(self.c(self.stock["impatient_followup"]), True)])
                        st.upset_open, st.upset_unsure = True, False
                    else:
                        # agent comes back with the answer after a hold: customer silent
                        body, gold, skip, kind = self.agent(sc, dom, st, True)
                        say_agent(body, gold, skip, kind)
                        continue
                    continue
                nxt = rng.choices(["followup", "satisfied", "ack", "promo", "side"], [0.4, 0.35, 0.12, 0.13, 0.2])[0]
                calm = not st.upset_open and not (st.upset_last and not st.acked_since_upset)
                side = self.x("short_generic")
                if nxt == "side" and calm and side and st.question_kind != "short":
                    # a calm side question ("改好了吗?", "did you get my screenshot?") met by a very short answer
                    q, st.short_a = self.c(side)
                    say_customer([self.noise.customer(q, False)])
                    st.question_kind, st.open_q, st.upset_open, st.upset_unsure = "short", True, False, False
                    continue
                if nxt == "side":
                    nxt = "followup"
                if nxt == "followup" and st.question_kind != "followup":
                    say_customer([self.noise.customer(self.c(sc["followup"]), False)])
                    st.question_kind, st.open_q, st.upset_open, st.upset_unsure = "followup", True, False, False
                elif nxt == "promo":
                    ask, _ = self.c(self.stock["promo_request"])
                    say_customer([self.noise.customer(ask, False)])
                    st.promo_asked, st.open_q, st.upset_open, st.complaint = True, False, False, False
                else:
                    say_customer([self.noise.customer(self.c(self.stock["satisfied" if nxt == "satisfied" else "ack"]), False)])
                    st.settled, st.open_q, st.upset_open, st.upset_unsure = True, False, False, False
                    st.complaint = False
            else:
                nxt = rng.choices(["impatient", "repeat", "escalate", "resigned", "complain", "bot"],
                                  [0.3, 0.25, 0.35, 0.1, 0.15, 0.06])[0]
                if kind == "refuse_bare" and st.question_kind != "why" and rng.random() < 0.8:
                    nxt = "why"
                elif kind == "excuse" and rng.random() < 0.6 and self.x("excuse_pushback"):
                    nxt = "pushback"
                if nxt == "complain" and not self.x("complain_ask") or nxt == "bot" and not self.x("bot_check"):
                    nxt = "impatient"
                if nxt == "why":
                    # a calm "why?" / "what can I do then?" after a bare "no"
                    say_customer([self.noise.customer(self.c(self.x("why_followup")), False)])
                    st.question_kind, st.upset_open, st.upset_unsure = "why", False, False
                elif nxt == "pushback":
                    say_customer([self.noise.customer(self.c(self.x("excuse_pushback")), True)])
                    st.upset_open, st.upset_unsure = True, False
                elif nxt == "complain":
                    say_customer([self.noise.customer(self.c(self.x("complain_ask")), True)])
                    st.question_kind, st.upset_open, st.upset_unsure = "complain", True, False
                elif nxt == "bot":
                    # "are you a bot?": a direct answer is the right reply; whether it needs more
                    # acknowledgement is doubtful, so missing_empathy is not scored without one
                    q, st.short_a = self.c(self.x("bot_check"))
                    say_customer([self.noise.customer(q, True)])
                    st.question_kind, st.upset_open, st.upset_unsure = "short", False, True
                elif nxt == "impatient":
                    lines = self.stock["impatient_followup"] + self.x("upset_customer")
                    say_customer([self.noise.customer(self.c(lines), True)])
                    st.upset_open, st.upset_unsure = True, False
                elif nxt == "repeat":
                    prev_q = next(t["text"] for t in reversed(turns) if t["role"] == "customer")
                    say_customer([self.noise.repeat_question(prev_q)])
                    st.upset_unsure = not st.upset_open
                elif nxt == "escalate":
                    text = self.c(sc["ask_upset"]) + " " + self.c(self.stock["upset_marks"])
                    say_customer([self.noise.customer(text, True)])
                    st.upset_open, st.upset_unsure, st.question_kind = True, False, "ask"
                else:
                    say_customer([self.noise.customer(self.c(self.stock["resigned"]), True)])
                    st.upset_open, st.upset_unsure = True, False
                    body = self.c(self.stock[rng.choice(["closing", "anything_else"])])
                    say_agent(body, {"boilerplate"}, {"non_answer", "missing_empathy"}, "closing_resigned")
                    break
                st.open_q = True
        return {"id": cid, "lang": self.lang, "domain": domain, "scenario": sc["id"], "split": self.split,
                "source": "replyguard scenario banks", "turns": turns}

    def short_qa(self, q: str, a: str, cid: str) -> dict:
        """A yes/no or factual question with a very short answer ("可以的"): a full answer;
        the same question met with a stock line or an ad is not."""
        turns = [{"role": "customer", "text": self.noise.customer(q, False)}]
        r = self.rng.random()
        if r < 0.6:
            turns.append({"role": "agent", "text": self.noise.agent(a), "gold": [], "skip": [], "move": "short_answer"})
        elif r < 0.85:
            line = self.c(self.stock[self.rng.choice(["hold", "greeting", "anything_else", "bare_apology"])])
            gold = ["non_answer", "boilerplate"]
            skip = ["boilerplate", "non_answer"] if line in self.stock["hold"] else []
            turns.append({"role": "agent", "text": self.noise.agent(line), "gold": [g for g in gold if g not in skip],
                          "skip": skip, "move": "short_stock"})
        else:
            turns.append({"role": "agent", "text": self.noise.agent(self.c(self.x("ads") or ["-"])),
                          "gold": ["non_answer"], "skip": ["ad_to_upset_customer"], "move": "short_ad"})
        return {"id": cid, "lang": self.lang, "domain": "short_qa", "scenario": "short_qa:" + q, "split": self.split,
                "source": "replyguard scenario banks", "turns": turns}

    def short_chat(self, first: list[str], cid: str) -> dict:
        """A chat of short questions ("帮我看下在不在我的订单里" / "有的。", "is this a bot?" / "No,
        I'm a person"), sometimes from an upset customer: a very short answer is a full answer;
        a stock line instead of it is not, and an upset customer answered with no acknowledgement
        at all is missing empathy (a direct answer to "are you a bot?" is doubtful, not scored)."""
        rng = self.rng
        bots = self.x("bot_check")
        pairs = self.x("short_answers") + self.x("short_generic") + self.x("puzzled_calm") + bots
        turns: list[dict] = []

        def agent(text: str, gold: set, skip: set, move: str) -> None:
            turns.append({"role": "agent", "text": self.noise.agent(text), "gold": sorted(gold),
                          "skip": sorted(skip - gold), "move": move})

        def ack_prefix() -> str:
            return self.c(self.x("apology_clauses") or self.stock["empathy_opener"])

        if rng.random() < 0.25:
            agent(self.c(self.stock["greeting"]), set(), set(), "greeting")
        q, a = first
        for rnd in range(rng.choice([1, 2, 2, 3])):
            if rnd:
                q, a = self.c(pairs)
            bot = [q, a] in bots
            upset = not bot and rng.random() < 0.3
            text = q + " " + self.c(self.stock["upset_marks"]) if upset else q
            turns.append({"role": "customer", "text": self.noise.customer(text, upset or bot)})
            missing = set() if bot else {"missing_empathy"} if upset else set()
            unsure = {"missing_empathy"} if bot else set()
            if rng.random() < 0.72:
                if (upset or bot) and rng.random() < 0.55:
                    agent(ack_prefix() + (" " if self.lang == "en" else "") + a, set(), set(), "short_answer")
                else:
                    agent(a, set(missing), set(unsure), "short_answer")
            else:
                role = rng.choice(["hold", "greeting", "anything_else", "bare_apology", "system_excuse"])
                line = self.c(self.stock[role])
                if role == "hold":  # a hold used once is fine; it acknowledges nothing
                    gold, skip = set(missing), {"non_answer", "boilerplate"} | unsure
                elif role == "system_excuse":
                    gold, skip = {"boilerplate"}, {"non_answer", "missing_empathy"}
                elif role == "bare_apology":
                    gold, skip = {"non_answer", "boilerplate"}, set()
                else:
                    gold, skip = {"non_answer", "boilerplate"} | missing, set(unsure)
                agent(line, gold, skip, "short_stock")
                # the customer asks again; the agent answers (whether a repeat carries emotion is
                # doubtful, so missing_empathy is not scored), or sends the same line again
                turns.append({"role": "customer", "text": self.noise.repeat_question(q)})
                if rng.random() < 0.6:
                    agent(a, set(), {"missing_empathy"}, "short_answer")
                else:
                    agent(self.noise.light_variant(line), {"non_answer", "boilerplate"}, {"missing_empathy"},
                          "repeat")
                    break
        if turns[-1].get("move") == "short_answer" and rng.random() < 0.5:
            turns.append({"role": "customer", "text": self.noise.customer(
                self.c(self.stock[rng.choice(["satisfied", "ack"])]), False)})
            agent(self.c(self.stock[rng.choice(["closing", "anything_else", "rate_request"])]), set(), set(),
                  "closing_ok")
        return {"id": cid, "lang": self.lang, "domain": "short_qa", "scenario": "short_chat:" + first[0],
                "split": self.split, "source": "replyguard scenario banks", "turns": turns}

    def conversations(self, n_per_scenario: int, prefix: str) -> Iterator[dict]:
        for domain, dom in self.domains.items():
            for sc in dom["scenarios"]:
                for k in range(n_per_scenario):
                    yield self.conversation(domain, sc, f"{prefix}-{sc['id']}-{k}")
        for i, (q, a) in enumerate(self.x("short_answers")):
            for k in range(max(1, n_per_scenario // 10)):
                yield self.short_qa(q, a, f"{prefix}-short-{i}-{k}")
        firsts = self.x("short_answers") + self.x("short_generic") + self.x("puzzled_calm") + self.x("bot_check")
        for i, pair in enumerate(firsts):
            for k in range(max(2, n_per_scenario // 6)):
                yield self.short_chat(pair, f"{prefix}-shortchat-{i}-{k}")


# -- hard cases: a separate pass with its own rng -------------------------------------
def hard_bank(lang: str) -> dict:
    """Hard-case text (``training/banks/hard_*.py``), when present."""
    try:
        return importlib.import_module(f"training.banks.hard_{BANK_MODULES[lang]}").HARD
    except ModuleNotFoundError:
        return {}


HARD_TOTAL = {"train": 1000, "valid": 600, "heldout": 300}  # hard conversations per split, all languages
HARD_LANG_SHARE = {"en": 0.4, "zh-Hans": 0.3, "zh-Hant": 0.3}  # English is the weakest for ads and defensive
HARD_MIX = {  # family -> weight (English doubles defensive and the ad families)
    "merged_ad": 3, "apology_pitch": 2, "sarcasm": 3, "rejected": 2.5, "defensive": 1.5, "busy": 2,
}


# family -> the hard-bank key it cannot do without (the others fall back to the main banks)
HARD_NEEDS = {"rejected": "rejected", "busy": "busy", "sarcasm": "sarcasm", "threat": "threat", "voice": "blame_voice",
              "polarity": "polarity", "tone": "blame_tone", "absolve": "absolve"}
LATER_TOTAL = {"train": 1200, "valid": 600, "heldout": 300}  # second hard-case pass, all languages
LATER_MIX = {"threat": 1.0, "reword": 1.2, "repeat_far": 0.8}  # family -> weight (a family runs where its bank has lines)
CONTRAST_TOTAL = {"train": 1000, "valid": 500, "heldout": 250}  # third pass: defensive or its look-alike
CONTRAST_LANG_SHARE = {"en": 0.5, "zh-Hans": 0.25, "zh-Hant": 0.25}  # English defensive is the weakest
VOICE_TOTAL = {"train": 1000, "valid": 500, "heldout": 300}  # fourth pass: the defensive moves in everyday voice
VOICE_LANG_SHARE = {"en": 1.0, "zh-Hans": 0.0, "zh-Hant": 0.0}  # English only (its banks hold the lines)
POLARITY_TOTAL = {"train": 1200, "valid": 600, "heldout": 200}  # fifth pass: who is blamed, in minimal pairs
POLARITY_LANG_SHARE = VOICE_LANG_SHARE  # English only (its bank holds the pairs)
TONE_TOTAL = {"train": 1000, "valid": 500, "heldout": 300}  # sixth pass: dismissing, tone-policing, blame as fact
TONE_LANG_SHARE = VOICE_LANG_SHARE  # English only (its banks hold the lines)
ABSOLVE_TOTAL = {"train": 800, "valid": 400, "heldout": 200}  # seventh pass: the customer cleared in blame words
ABSOLVE_LANG_SHARE = VOICE_LANG_SHARE  # English only (its banks hold the lines)


class HardComposer(Composer):
    """Hard cases, composed after the main pass with their own rng so that the main pass is untouched:

    merged_ad      a stock line and a promotion in one merged turn to an upset customer (ad), and the
                   same structure once the customer asked for an offer or said it is settled (no ad);
    apology_pitch  an apology followed by a sales pitch to a complaining customer: ad and non_answer,
                   not boilerplate (not only a stock formula) and not missing_empathy (it apologises);
    sarcasm        implicit anger with no exclamation marks ("do they train you at all?", "I'm recording
                   this"): a reply with no acknowledgement is missing_empathy; calm look-alikes are not;
    rejected       the agent repeats a suggestion the customer already said does not help: non_answer,
                   and boilerplate when it is near-verbatim what the agent sent before;
    defensive      blaming, lecturing, "why would you complain?" (many English lines), and firm refusals
                   with a reason that are not defensive;
    busy           a long process explanation that answers nothing asked: non_answer;
    threat         (second pass) a complaint threat: a real answer or escalation with an owner and a
                   time is an answer, "you may complain" or arguing is not;
    reword         (second pass) bare acknowledgements, blame and late greetings in many more wordings;
    repeat_far     (second pass) the first reply pasted again two agent turns later: boilerplate.
    contrast       (third pass) blame in a calm, factual voice: defensive; and replies that look like it
                   (a firm "no" with a reason, owning a mistake, a late greeting, a hold): not defensive.
    voice          (fourth pass) the same moves in everyday registers (idioms, quips, curt, chatty):
                   blame is defensive; a colloquial acknowledgement, a help-desk greeting and a reply
                   that takes the blame itself are not.
    polarity       (fifth pass) one line of a minimal pair: blame ("it's on you, not us"), defensive,
                   or the same words turned so that nobody is blamed ("it's on us, not you"), not.
    tone           (sixth pass) the ``voice`` moves with banks of their own: dismissing the complaint,
                   policing the customer's tone, talking down and blame stated as a fact about what the
                   customer did (defensive), next to sympathy, reassurance, holds, checks and refusals
                   with a way forward (not).
    absolve        (seventh pass) a reply that clears the customer in the words blame uses ("not your
                   fault", "you won't need to"), not defensive; or blame in the same plain words, defensive.
    """

    def __init__(self, lang: str, split: str, rng: random.Random) -> None:
        super().__init__(lang, split, rng)
        # strict split (no fallback line for an empty split): held-out never shares hard text with training
        self.hard = {k: [x for x in v if split_of(json.dumps(x, ensure_ascii=False)) == split]
                     for k, v in hard_bank(lang).items()}
        self.sp = "" if lang != "en" else " "

    def h(self, key: str) -> list:
        return self.hard.get(key, [])

    def join(self, *parts: str) -> str:
        """Messages sent in a row, merged into one turn (joined by spaces, as in real logs)."""
        return " ".join(p for p in parts if p)

    @staticmethod
    def a(text: str, gold: set, skip: set, move: str) -> dict:
        return {"role": "agent", "text": text, "gold": sorted(gold), "skip": sorted(set(skip) - set(gold)),
                "move": "hard_" + move}

    @staticmethod
    def u(text: str) -> dict:
        return {"role": "customer", "text": text}

    def pick_scenario(self) -> tuple[str, dict, dict]:
        doms = [(d, dom) for d, dom in self.domains.items() if dom["scenarios"]]
        d, dom = self.c(doms)
        return d, dom, self.c(dom["scenarios"])

    def ad_tail(self, dom: dict) -> str:
        """A promotion sent right after another line; the bank's own tails, or any ad line."""
        tails = self.h("ad_tails")
        if tails and self.rng.random() < 0.5:
            return self.c(tails)
        return self.c(dom["ad"])

    def opener(self, sc: dict) -> str:
        return self._opener(sc)

    def upset_ask(self, sc: dict) -> str:
        text = self.c(sc["ask_upset"])
        if self.rng.random() < 0.35:
            text = self.join(text, self.c(self.stock["upset_marks"]))
        return self.noise.customer(text, True)

    def conv(self, cid: str, family: str, domain: str, scenario: str, turns: list[dict]) -> dict:
        for t in turns:
            if t["role"] == "agent":
                t["text"] = self.noise.agent(t["text"])
        return {"id": cid, "lang": self.lang, "domain": domain, "scenario": f"hard:{family}:{scenario}",
                "split": self.split, "source": "replyguard scenario banks (hard cases)", "turns": turns}

    # -- 1. stock line + promotion in one merged turn ---------------------------------------
    def merged_ad(self, cid: str) -> dict:
        rng = self.rng
        d, dom, sc = self.pick_scenario()
        turns = []
        if rng.random() < 0.15:
            turns.append(self.a(self.c(self.stock["greeting"]), set(), set(), "greeting"))
        turns.append(self.u(self.upset_ask(sc)))
        r = rng.random()
        if r < 0.3:
            # stock excuse + ad; pushed back, the same excuse + an ad again
            excuse = self.c(self.stock["system_excuse"])
            turns.append(self.a(self.join(excuse, self.ad_tail(dom)), {"ad_to_upset_customer"},
                                {"boilerplate", "non_answer", "missing_empathy"}, "excuse_ad"))
            if rng.random() < 0.6:
                push = self.x("excuse_pushback") or self.stock["impatient_followup"]
                turns.append(self.u(self.noise.customer(self.c(push), True)))
                again = self.noise.light_variant(excuse)
                turns.append(self.a(self.join(again, self.ad_tail(dom)), {"ad_to_upset_customer", "boilerplate",
                                    "non_answer"}, {"missing_empathy"}, "excuse_ad_again"))
        elif r < 0.5:
            # a closing/greeting formula + ad while the problem is open
            role = rng.choice(["anything_else", "greeting", "patience"])
            line = self.c(self.stock[role])
            # "thanks for your patience": acknowledgement is doubtful; "please wait" is none
            patience = role == "patience" and line not in self.patience_request
            turns.append(self.a(self.join(line, self.ad_tail(dom)),
                                {"ad_to_upset_customer", "non_answer"} | (set() if patience else {"missing_empathy"}),
                                {"boilerplate"} | ({"missing_empathy"} if patience else set()), "stock_ad"))
        elif r < 0.65:
            # a real answer, then a promotion, to an upset customer
            ack = rng.random() < 0.5
            body = self.join(self.opener(sc) if ack else "", self.c(sc[rng.choice(["answer", "action"])]))
            gold = {"ad_to_upset_customer"} | (set() if ack else {"missing_empathy"})
            turns.append(self.a(self.join(body, self.ad_tail(dom)), gold, set(), "answer_ad"))
        else:
            # hard negative: answered, the customer settled (and maybe asked for an offer), then stock + ad
            turns.append(self.a(self.join(self.opener(sc), self.c(sc["answer"])), set(), set(), "answer"))
            settled = self.c(self.stock["satisfied"])
            if rng.random() < 0.5 and self.stock["promo_request"]:
                ask, offer = self.c(self.stock["promo_request"])
                turns.append(self.u(self.noise.customer(self.join(settled, ask), False)))
                head = self.c(self.h("glad") or self.stock["closing"])
                turns.append(self.a(self.join(head, offer), set(), set(), "offer_asked"))
            else:
                turns.append(self.u(self.noise.customer(settled, False)))
                head = self.c(self.h("glad") or self.stock["closing"])
                turns.append(self.a(self.join(head, self.ad_tail(dom)), set(), set(), "settled_ad"))
        return self.conv(cid, "merged_ad", d, sc["id"], turns)

    # -- 2. apology + sales pitch to a complaining customer ----------------------------------
    def apology_pitch(self, cid: str) -> dict:
        rng = self.rng
        spam = self.h("spam_complaint")
        if spam and rng.random() < 0.4:
            complaint, fix = self.c(spam)
            d, dom, _ = self.pick_scenario()
            turns = [self.u(self.noise.customer(complaint, True))]
            sorry = self.c(self.h("sorry_lead") or self.stock["bare_apology"])
            turns.append(self.a(self.join(sorry, self.c(self.h("pitch") or self.x("ads"))),
                                {"ad_to_upset_customer", "non_answer"}, set(), "apology_pitch"))
            if rng.random() < 0.6:
                turns.append(self.u(self.noise.customer(self.c(self.h("spam_again") or
                                                               self.stock["impatient_followup"]), True)))
                ack = rng.random() < 0.6
                body = self.join(self.c(self.stock["empathy_opener"]) if ack else "", fix)
                turns.append(self.a(body, set() if ack else {"missing_empathy"}, set(), "spam_fix"))
            return self.conv(cid, "apology_pitch", "marketing", "spam-" + hashlib.sha1(complaint.encode()).hexdigest()[:8],
                             turns)
        d, dom, sc = self.pick_scenario()
        turns = [self.u(self.upset_ask(sc))]
        sorry = self.c(self.h("sorry_lead") + self.stock["bare_apology"])
        pitch = self.c(self.h("pitch")) if self.h("pitch") and rng.random() < 0.5 else self.ad_tail(dom)
        turns.append(self.a(self.join(sorry, pitch), {"ad_to_upset_customer", "non_answer"}, set(),
                            "apology_pitch"))
        if rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(self.stock["impatient_followup"] + self.h("sarcasm")),
                                                    True)))
            ack = rng.random() < 0.6
            body = self.join(self.opener(sc) if ack else "", self.c(sc[rng.choice(["answer", "action"])]))
            turns.append(self.a(body, set() if ack else {"missing_empathy"}, set(), "answer"))
        return self.conv(cid, "apology_pitch", d, sc["id"], turns)

    # -- 3. sarcasm / implicit anger, no exclamation marks ------------------------------------
    def sarcasm(self, cid: str) -> dict:
        rng = self.rng
        d, _dom, sc = self.pick_scenario()
        calm_q = self.noise.customer(self.c(sc["ask"]), False)
        turns = [self.u(calm_q)]
        first = rng.choice(["deflect", "anything_else", "greeting", "excuse"] +
                           (["opening"] if self.h("implicit_open") else []))
        if first == "opening":
            # the opening message itself carries the implicit anger ("this is my third time...")
            turns = [self.u(self.noise.customer(self.join(self.c(sc["ask"]), self.c(self.h("implicit_open")))
                                                if rng.random() < 0.6 else
                                                self.join(self.c(self.h("implicit_open")), self.c(sc["ask"])),
                                                False))]
            upset = True
        else:
            if first == "deflect":
                turns.append(self.a(self.c(self.stock["deflect"]), {"non_answer"}, {"boilerplate"}, "deflect"))
            elif first == "excuse":
                turns.append(self.a(self.c(self.stock["system_excuse"]), {"boilerplate"},
                                    {"non_answer", "missing_empathy"}, "excuse"))
            else:
                turns.append(self.a(self.c(self.stock[first]), {"boilerplate", "non_answer"}, set(), first))
            calm = rng.random() < 0.2 and self.h("calm_lookalike")
            line = self.c(self.h("calm_lookalike") if calm else self.h("sarcasm"))
            r = rng.random()
            text = line if r < 0.4 else self.join(line, self.c(sc["ask"])) if r < 0.7 else self.join(
                self.c(sc["ask"]), line)
            turns.append(self.u(self.noise.customer(text, False)))  # no "!!!" added: the anger is implicit
            upset = not calm
        prev = turns[-2]["text"] if len(turns) > 1 else ""
        opts = ["answer", "ack_answer", "action", "hold", "bare"] + (["repeat"] if prev else [])
        kind = rng.choices(opts, [3, 3, 2, 1, 1, 1.5][:len(opts)])[0]
        miss = {"missing_empathy"} if upset else set()
        if kind == "answer":
            turns.append(self.a(self.c(sc["answer"]), miss, set(), "answer"))
        elif kind == "action":
            turns.append(self.a(self.c(sc["action"]), miss, set(), "action"))
        elif kind == "ack_answer":
            turns.append(self.a(self.join(self.opener(sc), self.c(sc["answer"])), set(), set(), "ack_answer"))
        elif kind == "hold":
            turns.append(self.a(self.c(self.stock["hold"]), miss, {"non_answer", "boilerplate"}, "hold"))
        elif kind == "bare":
            turns.append(self.a(self.c(self.stock["bare_apology"]), {"boilerplate", "non_answer"}, set(), "bare"))
        else:  # the first line again (an excuse may read as an apology: empathy not scored then)
            excuse = turns[-2]["move"] == "hard_excuse"
            gold = {"boilerplate", "non_answer"} | (set() if excuse else miss)
            turns.append(self.a(self.noise.light_variant(prev), gold, {"missing_empathy"} if excuse else set(),
                                "repeat"))
        return self.conv(cid, "sarcasm", d, sc["id"], turns)

    # -- 4. a suggestion the customer already rejected, sent again ----------------------------
    def rejected(self, cid: str) -> dict:
        rng = self.rng
        row = self.c(self.h("rejected"))
        turns = [self.u(self.noise.customer(self.c(row["ask"]), False))]
        tip = self.c(row["tip"])
        turns.append(self.a(tip, set(), set(), "tip"))
        for rnd in range(rng.choice([1, 1, 2])):
            upset = rng.random() < 0.45
            no = self.c(row["no"])
            if upset:
                no = self.join(no, self.c(self.h("sarcasm") + self.stock["upset_marks"]))
            turns.append(self.u(self.noise.customer(no, upset)))
            miss = {"missing_empathy"} if upset else set()
            r = rng.random()
            if r < 0.4:  # near-verbatim: the same line again, maybe behind "as I said"
                again = self.noise.light_variant(tip)
                if rng.random() < 0.5 and self.h("as_said"):
                    again = self.c(self.h("as_said")) + self.sp + again
                turns.append(self.a(again, {"non_answer", "boilerplate"} | miss, set(), "tip_repeat"))
            elif r < 0.7:  # the same suggestion in other words
                turns.append(self.a(self.c(row["tip2"]), {"non_answer"} | miss, {"boilerplate"}, "tip_reworded"))
            else:
                ack = upset and rng.random() < 0.7
                body = self.join(self.c(self.stock["empathy_opener"]) if ack else "", self.c(row["good"]))
                turns.append(self.a(body, miss if not ack else set(), set(), "tip_next_step"))
                break
        return self.conv(cid, "rejected", row["d"], row["id"], turns)

    # -- 5. defensive (blaming, lecturing) and firm-but-fair refusals -------------------------
    def defensive(self, cid: str) -> dict:
        rng = self.rng
        d, dom, sc = self.pick_scenario()
        upset = rng.random() < 0.75
        turns = [self.u(self.upset_ask(sc) if upset else self.noise.customer(self.c(sc["ask"]), False))]
        if rng.random() < 0.75:
            if rng.random() < 0.6:  # generic arguing / lecturing: answers nothing
                line = self.c(self.h("defensive") or self.stock["defensive"])
                turns.append(self.a(line, {"defensive", "non_answer"}, {"missing_empathy"}, "defensive"))
            else:  # domain blame: may carry an explanation, so non_answer is doubtful
                turns.append(self.a(self.c(dom["defensive"]), {"defensive"}, {"non_answer", "missing_empathy"},
                                    "defensive_domain"))
            if rng.random() < 0.6:
                back = self.c(self.h("blamed_back") or self.stock["impatient_followup"])
                turns.append(self.u(self.noise.customer(back, True)))
                if rng.random() < 0.35:
                    line2 = self.c(self.h("defensive") + self.x("complain_argue"))
                    turns.append(self.a(line2, {"defensive", "non_answer"}, {"missing_empathy"}, "defensive_again"))
                else:
                    body = self.join(self.c(self.stock["empathy_opener"]),
                                     self.c(sc[rng.choice(["answer", "action"])]))
                    turns.append(self.a(body, set(), set(), "recover"))
        else:
            # hard negative: a firm "no" with the reason or an alternative, no blame
            ack = rng.random() < 0.5
            body = self.join(self.opener(sc) if ack else "", self.c(self.h("firm") + sc["refuse"]))
            turns.append(self.a(body, {"missing_empathy"} if upset and not ack else set(), set(), "firm"))
        return self.conv(cid, "defensive", d, sc["id"], turns)

    # -- 6. busy-sounding explanation that answers nothing ------------------------------------
    def busy(self, cid: str) -> dict:
        rng = self.rng
        row = self.c(self.h("busy"))
        q = self.c(row["ask"])
        upset = rng.random() < 0.5
        turns = [self.u(self.noise.customer(self.join(q, self.c(self.stock["upset_marks"])) if upset else q, upset))]
        miss = {"missing_empathy"} if upset else set()
        busy = self.c(row["busy"])
        if rng.random() < 0.8:
            turns.append(self.a(busy, {"non_answer"} | miss, set(), "busy"))
            if rng.random() < 0.6:
                turns.append(self.u(self.noise.repeat_question(q)))
                if rng.random() < 0.5:
                    turns.append(self.a(self.noise.light_variant(busy), {"non_answer", "boilerplate"},
                                        {"missing_empathy"}, "busy_again"))
                else:
                    turns.append(self.a(self.c(row["good"]), set(), {"missing_empathy"}, "busy_then_answer"))
        else:
            ack = upset and rng.random() < 0.6
            body = self.join(self.c(self.stock["empathy_opener"]) if ack else "", self.c(row["good"]))
            turns.append(self.a(body, miss if not ack else set(), set(), "answer"))
        return self.conv(cid, "busy", row["d"], row["id"], turns)

    # -- 7. a complaint threat, answered for real or not ---------------------------------------
    def threat(self, cid: str) -> dict:
        """An upset customer who threatens to complain: a real answer or next step is still an
        answer (with or without acknowledgement), a "you may complain" pointer or an argument is not."""
        rng = self.rng
        d, dom, sc = self.pick_scenario()
        ask, threat = self.c(sc["ask_upset"]), self.c(self.h("threat"))
        turns = [self.u(self.noise.customer(self.join(ask, threat) if rng.random() < 0.7
                                            else self.join(threat, ask), True))]
        r = rng.random()
        if r < 0.3:  # acknowledgement + the answer or action: clean
            turns.append(self.a(self.join(self.opener(sc), self.c(sc[rng.choice(["answer", "action"])])),
                                set(), set(), "threat_answer"))
        elif r < 0.5:  # the answer or action with no acknowledgement: only missing_empathy
            turns.append(self.a(self.c(sc[rng.choice(["answer", "action"])]), {"missing_empathy"}, set(),
                                "threat_answer_flat"))
        elif r < 0.65:  # escalation with a time and an owner: an answer
            line = self.c(self.h("escalate")) if self.h("escalate") and rng.random() < 0.6 else self.join(
                self.opener(sc), self.c(sc["action"]))
            turns.append(self.a(line, set(), set(), "threat_escalate"))
        elif r < 0.85:  # "you are free to complain": nothing done
            turns.append(self.a(self.c(self.h("complain_deflect")), {"non_answer", "missing_empathy"},
                                {"boilerplate"}, "threat_deflect"))
        else:  # arguing about the complaint
            line = self.c(self.x("complain_argue") or self.h("defensive") or self.stock["defensive"])
            turns.append(self.a(line, {"defensive", "non_answer"}, {"missing_empathy"}, "threat_argue"))
        if turns[-1]["gold"] and rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(self.stock["impatient_followup"]), True)))
            turns.append(self.a(self.join(self.opener(sc), self.c(sc[rng.choice(["answer", "action"])])),
                                set(), set(), "threat_recover"))
        return self.conv(cid, "threat", d, sc["id"], turns)

    # -- 8. the same moves in many more words -------------------------------------------------
    def reword(self, cid: str) -> dict:
        """Bare acknowledgements, blame and greeting formulas from a wider wording bank, so the
        models learn the move rather than the few lines of the main banks."""
        rng = self.rng
        # a split without lines of its own for a move borrows that split's main-bank lines
        acks = self.h("ack_more") or self.stock["bare_empathy"]
        blames = self.h("blame_more") or self.stock["defensive"]
        greets = self.h("greet_more") or self.stock["greeting"]
        d, _dom, sc = self.pick_scenario()
        upset = rng.random() < 0.7
        turns = [self.u(self.upset_ask(sc) if upset else self.noise.customer(self.c(sc["ask"]), False))]
        miss = {"missing_empathy"} if upset else set()
        r = rng.random()
        if r < 0.3:  # a bare acknowledgement: empathy present, nothing else
            turns.append(self.a(self.c(acks), {"boilerplate", "non_answer"}, set(), "ack_bare"))
        elif r < 0.55:  # acknowledgement + the answer: clean
            turns.append(self.a(self.join(self.c(acks), self.c(sc[rng.choice(["answer", "action"])])),
                                set(), set(), "ack_answer"))
        elif r < 0.8:  # blame / lecture (some carry a reason, so non_answer is not scored)
            turns.append(self.a(self.c(blames), {"defensive"}, {"non_answer", "missing_empathy"},
                                "blame"))
        else:  # a greeting formula after the customer already asked
            turns.append(self.a(self.c(greets), {"non_answer", "boilerplate"} | miss, set(), "greet_late"))
        if rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(self.stock["impatient_followup"]), True)))
            if rng.random() < 0.3:
                turns.append(self.a(self.c(blames), {"defensive"}, {"non_answer", "missing_empathy"},
                                    "blame_again"))
            else:
                ack = rng.random() < 0.7
                body = self.join(self.c(acks) if ack else "", self.c(sc[rng.choice(["answer", "action"])]))
                turns.append(self.a(body, set() if ack else {"missing_empathy"}, set(), "recover"))
        return self.conv(cid, "reword", d, sc["id"], turns)

    # -- 9. an earlier paragraph pasted again, with other turns in between ---------------------
    def repeat_far(self, cid: str) -> dict:
        """The agent's first reply (an answer, a refusal, a stock excuse) pasted again two agent
        turns later, after the customer said something new: boilerplate (a) and non_answer even
        though the text itself reads like an answer, and an advert in the paste to an upset
        customer is ad_to_upset_customer. The paste is far from the reply the pair model sees as
        "agent before", so only the repeat features can tell."""
        rng = self.rng
        d, dom, sc = self.pick_scenario()
        upset = rng.random() < 0.6
        turns = [self.u(self.upset_ask(sc) if upset else self.noise.customer(self.c(sc["ask"]), False))]
        miss = {"missing_empathy"} if upset else set()
        first_kind = rng.choice(["answer", "refuse", "excuse"])
        if first_kind == "excuse":
            first = self.c(self.stock["system_excuse"])
            turns.append(self.a(first, {"boilerplate"}, {"non_answer", "missing_empathy"}, "far_first_excuse"))
        else:
            first = self.c(sc[first_kind])
            turns.append(self.a(first, miss, set() if first_kind == "answer" else {"non_answer"}, "far_first"))
        # something in between: a calm follow-up answered, or a question back and its reply
        if rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(sc["followup"]), False)))
            turns.append(self.a(self.c(sc["followup_answer"]), set(), set(), "far_between"))
        else:
            turns.append(self.u(self.noise.customer(self.c(self.stock["impatient_followup"]), True)))
            turns.append(self.a(self.join(self.c(self.stock["bare_apology"]), self.c(sc["clarify"])), set(),
                                {"non_answer"}, "far_between"))
            turns.append(self.u(self.noise.customer(self.c(sc["clarify_reply"]), False)))
        # the customer says something new; the first reply comes back
        late_upset = rng.random() < 0.7
        new = self.c(self.stock["impatient_followup"]) if late_upset else self.noise.repeat_question(self.c(sc["ask"]))
        turns.append(self.u(self.noise.customer(new, late_upset)))
        again, gold = self.noise.light_variant(first), {"boilerplate", "non_answer"}
        if late_upset and rng.random() < 0.35:
            again, gold = self.join(again, self.ad_tail(dom)), gold | {"ad_to_upset_customer"}
        turns.append(self.a(again, gold, {"missing_empathy"}, "far_repeat"))
        return self.conv(cid, "repeat_far", d, sc["id"], turns)

    def opening(self) -> tuple[str, dict, list[dict], set]:
        """A scenario and its open question, upset 70% of the time: (domain, scenario, turns,
        the ``missing_empathy`` label a reply with no acknowledgement earns)."""
        d, _dom, sc = self.pick_scenario()
        upset = self.rng.random() < 0.7
        turns = [self.u(self.upset_ask(sc) if upset else self.noise.customer(self.c(sc["ask"]), False))]
        return d, sc, turns, {"missing_empathy"} if upset else set()

    # -- 10. defensive or its look-alike ---------------------------------------------------------
    def contrast(self, cid: str) -> dict:
        """Blame in a calm, factual voice next to replies that look like it and blame nobody: a
        firm "no" with a reason, owning a mistake, an escalation offer, a check in progress, a bare
        acknowledgement, a greeting sent late, a hold. Only ``defensive`` is asserted for the
        look-alikes whose other labels depend on the question (the rest are not scored)."""
        rng = self.rng
        blames = self.h("blame_calm") + self.h("blame_more") or self.stock["defensive"]
        acks = self.h("ack_more") or self.stock["bare_empathy"]
        greets = self.h("greet_more") or self.stock["greeting"]
        looks = self.h("lookalike") or self.h("firm") or self.stock["hold"]
        d, sc, turns, miss = self.opening()
        unsure = {"non_answer", "boilerplate", "missing_empathy"}
        r = rng.random()
        if r < 0.4:
            turns.append(self.a(self.c(blames), {"defensive"}, {"non_answer", "missing_empathy"}, "calm_blame"))
        elif r < 0.65:
            turns.append(self.a(self.c(looks), set(), unsure, "lookalike"))
        elif r < 0.78:
            turns.append(self.a(self.c(acks), {"boilerplate", "non_answer"}, set(), "ack_bare"))
        elif r < 0.9:
            turns.append(self.a(self.c(greets), {"non_answer", "boilerplate"} | miss, set(), "greet_late"))
        else:
            turns.append(self.a(self.c(self.stock["hold"]), miss, {"non_answer", "boilerplate"}, "hold"))
        if rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(self.h("blamed_back") or self.stock["impatient_followup"]),
                                                    True)))
            if rng.random() < 0.35:
                turns.append(self.a(self.c(blames), {"defensive"}, {"non_answer", "missing_empathy"},
                                    "calm_blame_again"))
            else:
                turns.append(self.a(self.c(looks), set(), unsure, "lookalike_again"))
        return self.conv(cid, "contrast", d, sc["id"], turns)

    # -- 11. the defensive moves in everyday voice ----------------------------------------------
    def voice(self, cid: str) -> dict:
        """Blame said in idioms and quips ("that one's on you", "we're not mind readers") next to
        what shares their register and blames nobody: a colloquial acknowledgement ("I see where
        you're coming from"), a help-desk greeting sent after the question ("what seems to be the
        issue?") and a reply that takes the blame itself ("that one's on us"). As in ``contrast``,
        only ``defensive`` is asserted for a reply whose other labels depend on the question."""
        return self._register_pass(cid, "voice", self.h("blame_voice"),
                                   self.h("ack_voice") or self.h("ack_more") or self.stock["bare_empathy"],
                                   self.h("greet_voice") or self.h("greet_more") or self.stock["greeting"],
                                   self.h("own_voice") or self.h("lookalike") or self.stock["hold"])

    def _register_pass(self, cid: str, family: str, blames: list, acks: list, greets: list, owns: list) -> dict:
        """One conversation of a register pass (``voice``, ``tone``): a blaming reply (defensive),
        a bare or answering acknowledgement, a late greeting or a reply that blames nobody; then,
        half the time, a customer who pushes back and one more of them."""
        rng = self.rng
        d, sc, turns, miss = self.opening()
        unsure = {"non_answer", "boilerplate", "missing_empathy"}
        blame = ({"defensive"}, {"non_answer", "missing_empathy"})
        r = rng.random()
        if r < 0.35:
            turns.append(self.a(self.c(blames), *blame, f"{family}_blame"))
        elif r < 0.5:  # a bare acknowledgement: empathy present, nothing else
            turns.append(self.a(self.c(acks), {"boilerplate", "non_answer"}, set(), f"{family}_ack_bare"))
        elif r < 0.62:  # acknowledgement + the answer: clean
            turns.append(self.a(self.join(self.c(acks), self.c(sc[rng.choice(["answer", "action"])])),
                                set(), set(), f"{family}_ack_answer"))
        elif r < 0.76:  # a greeting after the customer already asked
            turns.append(self.a(self.c(greets), {"non_answer", "boilerplate"} | miss, set(),
                                f"{family}_greet_late"))
        else:
            turns.append(self.a(self.c(owns), set(), unsure, f"{family}_own"))
        if rng.random() < 0.5:
            turns.append(self.u(self.noise.customer(self.c(self.h("blamed_back") or self.stock["impatient_followup"]),
                                                    True)))
            r = rng.random()
            if r < 0.35:
                turns.append(self.a(self.c(blames), *blame, f"{family}_blame_again"))
            elif r < 0.7:
                turns.append(self.a(self.join(self.c(acks), self.c(sc[rng.choice(["answer", "action"])])),
                                    set(), set(), f"{family}_ack_answer_again"))
            else:
                turns.append(self.a(self.c(owns), set(), unsure, f"{family}_own_again"))
        return self.conv(cid, family, d, sc["id"], turns)

    # -- 12. who is blamed, in minimal pairs -----------------------------------------------------
    def polarity(self, cid: str) -> dict:
        """One line of a minimal pair per agent turn: the blaming line ("it's on you, not us"),
        defensive, or its twin with the same words turned so that nobody is blamed or the agent
        owns it ("it's on us, not you"), not defensive. The words a model could key on ("your
        fault", "should have", "on you") occur on both sides, so only who is blamed tells them
        apart. The customer's follow-up is drawn apart from the label, so the context gives
        nothing away. As in ``voice``, only ``defensive`` is asserted for the turned line."""
        pairs = self.h("polarity")

        def draw() -> tuple[str, bool]:
            blames, turned = self.c(pairs)
            return (blames, True) if self.rng.random() < 0.5 else (turned, False)

        return self._blamed_or_not(cid, "polarity", draw, "turned")

    # -- 13. dismissing, tone-policing, talking down, blame as a fact; and their look-alikes -----
    def tone(self, cid: str) -> dict:
        """The ``voice`` moves with the sixth pass's banks: defensive lines that dismiss the
        complaint, police the customer's tone, talk down or state blame as a bare fact about what
        the customer did, next to everyday sympathy and replies that reassure, hold, check, refuse
        with a way forward or own the problem (``blame_tone``, ``ack_tone``, ``own_tone``)."""
        return self._register_pass(cid, "tone", self.h("blame_tone"), self.h("ack_tone") or self.h("ack_voice"),
                                   self.h("greet_voice") or self.h("greet_more") or self.stock["greeting"],
                                   self.h("own_tone") or self.h("own_voice"))

    # -- 14. the customer cleared in the words blame uses, next to blame in plain words --------
    def absolve(self, cid: str) -> dict:
        """Per agent turn, a reply that clears the customer or takes the blame in the words blame
        uses ("not your fault", "you didn't do anything wrong", "you won't need to"), not
        defensive; or blame aimed at the customer in the same plain words (``blame_plain``) or in
        idiom (``blame_voice``), defensive. The customer's follow-up is drawn apart from the
        label, and as in ``voice`` only ``defensive`` is asserted for the clearing line."""
        clears = self.h("absolve")
        blames = self.h("blame_plain") + self.h("blame_voice") or self.stock["defensive"]

        def draw() -> tuple[str, bool]:
            return (self.c(clears), False) if self.rng.random() < 0.55 else (self.c(blames), True)

        return self._blamed_or_not(cid, "absolve", draw, "clear")

    def _blamed_or_not(self, cid: str, family: str, draw, not_move: str) -> dict:
        """One conversation of a who-is-blamed pass (``polarity``, ``absolve``): an opening, then one
        or two agent turns, each ``draw()`` -> (text, blames the customer); a blaming turn is
        defensive, the other is scored as not defensive and nothing else about it is asserted. The
        customer's follow-up between them is drawn apart from the label."""
        rng = self.rng
        follow = self.h("blamed_back") + self.stock["impatient_followup"]
        d, sc, turns, miss = self.opening()
        unsure = {"non_answer", "boilerplate", "missing_empathy"}
        for k in range(2 if rng.random() < 0.5 else 1):
            if k:
                turns.append(self.u(self.noise.customer(self.c(follow), True)))
            text, blames = draw()
            if blames:
                turns.append(self.a(text, {"defensive"}, {"non_answer", "missing_empathy"},
                                    f"{family}_blame" + "_again" * k))
            else:
                turns.append(self.a(text, set(), unsure, f"{family}_{not_move}" + "_again" * k))
        return self.conv(cid, family, d, sc["id"], turns)

    def conversations(self, n: int, prefix: str, families: dict | None = None) -> Iterator[dict]:  # type: ignore[override]
        """``n`` hard conversations, families drawn by weight: ``HARD_MIX`` (English doubles
        defensive and the ad families), or the given ``families`` for a later pass. A family
        whose bank lines this language and split lack (``HARD_NEEDS``) is left out."""
        mix = dict(HARD_MIX if families is None else families)
        if families is None and self.lang == "en":
            mix["defensive"] *= 2
            mix["merged_ad"] *= 1.5
            mix["apology_pitch"] *= 1.5
        fams = [f for f in mix if f not in HARD_NEEDS or self.h(HARD_NEEDS[f])]
        if not fams:
            return
        for i in range(n):
            fam = self.rng.choices(fams, [mix[f] for f in fams])[0]
            yield getattr(self, fam)(f"{prefix}-{fam}-{i}")


# -- signal lines -----------------------------------------------------------------
CUSTOMER_LINES = {  # role -> (upset, settled, asks); None = not used for that signal
    "ask": (0, 0, 1), "ask_upset": (1, 0, 1), "followup": (0, 0, 1), "clarify_reply": (0, 0, 0),
    "impatient_followup": (1, 0, None), "resigned": (1, 0, 0), "satisfied": (0, 1, 0),
    "ack": (0, None, 0), "neutral_chitchat": (0, 0, None), "upset_marks": (1, 0, None),
}
AGENT_LINES = {  # role -> (ack, stock, promo, defensive); "hold" is 1 for hold lines only
    "bare_apology": (1, 1, 0, 0), "bare_empathy": (1, 1, 0, 0), "empathy_opener": (1, 1, 0, 0),
    "specific_empathy": (1, 0, 0, 0), "patience": (None, 1, 0, 0), "patience_request": (0, 1, 0, 0),
    "feedback_important": (None, 1, 0, 0),
    "anything_else": (0, 1, 0, 0), "closing": (0, 1, 0, 0), "rate_request": (0, 1, 0, 0),
    "hold": (0, 1, 0, 0), "system_excuse": (None, 1, 0, 0), "deflect": (0, 1, 0, 0),
    "compliment_understanding": (None, 1, 0, 0), "greeting": (0, 1, 0, 0), "defensive": (0, 0, 0, 1),
    "answer": (0, 0, 0, 0), "clarify": (0, 0, 0, 0), "action": (0, 0, 0, 0), "refuse": (None, 0, 0, 0),
    "followup_answer": (0, 0, 0, 0), "notice": (None, 0, 0, 0), "ad": (0, 0, 1, 0),
    "compensation": (1, 0, 0, 0), "drift": (0, None, None, 0), "far_ticket": (0, None, 0, 0),
    "dom_defensive": (0, 0, 0, 1), "promo_offer": (0, 0, 1, 0),
}


def signal_lines(lang: str, split: str, rng: random.Random) -> Iterator[dict]:
    comp = Composer(lang, split, rng)
    noise = comp.noise

    def emit_customer(role: str, text: str) -> Iterator[dict]:
        for name, y in zip(("upset", "settled", "asks"), CUSTOMER_LINES[role]):
            if y is not None:
                yield {"signal": name, "text": text, "label": y, "lang": lang}

    def emit_agent(role: str, text: str) -> Iterator[dict]:
        for name, y in zip(("ack", "stock", "promo", "defensive"), AGENT_LINES[role]):
            if y is not None:
                yield {"signal": name, "text": text, "label": y, "lang": lang}
        yield {"signal": "hold", "text": text, "label": int(role == "hold"), "lang": lang}

    for role in CUSTOMER_LINES:
        for t in comp.stock.get(role, []):
            yield from emit_customer(role, noise.customer(t, CUSTOMER_LINES[role][0] == 1))
    for ask, offer in comp.stock["promo_request"]:
        yield from emit_customer("ask", ask)
        yield from emit_agent("promo_offer", noise.agent(offer))
    for role in AGENT_LINES:
        for t in comp.stock.get(role, []):
            if role == "specific_empathy":
                continue
            if role == "patience" and t in comp.patience_request:
                yield from emit_agent("patience_request", noise.agent(t))
                continue
            yield from emit_agent(role, noise.agent(t))
    ex = comp.extra
    for t in ex.get("ads", []):
        yield from emit_agent("ad", noise.agent(t))
    for t in ex.get("compensation", []):
        yield from emit_agent("compensation", noise.agent(t))
    for t in ex.get("defensive", []):
        yield from emit_agent("defensive", noise.agent(t))
    for t in ex.get("upset_customer", []):
        yield from emit_customer("ask_upset", noise.customer(t, True))
    for t in ex.get("calm_customer", []):
        yield from emit_customer("neutral_chitchat", noise.customer(t, False))
    for t in ex.get("stock_specific", []):
        yield {"signal": "stock", "text": noise.agent(t), "label": 0, "lang": lang}
    for t in ex.get("apology_clauses", []):
        yield {"signal": "ack", "text": t, "label": 1, "lang": lang}
    short = ex.get("short_answers", [])
    for q, a in short:
        yield {"signal": "relevance", "text": q, "text2": a, "label": 1, "lang": lang}
        yield {"signal": "stock", "text": a, "label": 0, "lang": lang}
        yield {"signal": "asks", "text": q, "label": 1, "lang": lang}
        if len(short) > 1:
            other = comp.c([x for x in short if x[0] != q])[1]
            yield {"signal": "relevance", "text": q, "text2": other, "label": 0, "lang": lang}
    for q, a in ex.get("short_generic", []) + ex.get("bot_check", []) + ex.get("puzzled_calm", []):
        yield {"signal": "relevance", "text": q, "text2": a, "label": 1, "lang": lang}
        yield {"signal": "stock", "text": noise.agent(a), "label": 0, "lang": lang}
        yield {"signal": "asks", "text": q, "label": 1, "lang": lang}
        if short:
            yield {"signal": "relevance", "text": q, "text2": comp.c(short)[1], "label": 0, "lang": lang}
    for q, _ in ex.get("puzzled_calm", []):  # pointed but calm: not negative emotion
        yield {"signal": "upset", "text": noise.customer(q, False), "label": 0, "lang": lang}
    for t in ex.get("why_followup", []):
        yield from emit_customer("followup", noise.customer(t, False))
    for t in ex.get("excuse_pushback", []):
        yield {"signal": "upset", "text": noise.customer(t, True), "label": 1, "lang": lang}
    for line, ack in [r[1:] for r in ex.get("stakes", [])]:  # calm wording, real stakes: negative emotion
        yield {"signal": "upset", "text": noise.customer(line, False), "label": 1, "lang": lang}
        yield {"signal": "ack", "text": ack, "label": 1, "lang": lang}
    for t in ex.get("complain_ask", []):
        yield {"signal": "asks", "text": noise.customer(t, True), "label": 1, "lang": lang}
        for a in ex.get("complain_answer", [])[:2]:
            yield {"signal": "relevance", "text": t, "text2": a, "label": 1, "lang": lang}
        for a in ex.get("complain_argue", [])[:2]:
            yield {"signal": "relevance", "text": t, "text2": a, "label": 0, "lang": lang}
    for t in ex.get("complain_argue", []):
        yield from emit_agent("defensive", noise.agent(t))
    for t in ex.get("complain_answer", []):
        yield {"signal": "defensive", "text": noise.agent(t), "label": 0, "lang": lang}
        yield {"signal": "stock", "text": noise.agent(t), "label": 0, "lang": lang}
    all_sc = [(d, s) for d, dom in comp.domains.items() for s in dom["scenarios"]]
    for d, dom in comp.domains.items():
        for role in ("ad", "compensation", "drift", "far_ticket"):
            for t in dom[role]:
                yield from emit_agent(role, noise.agent(t))
        for t in dom["defensive"]:
            yield from emit_agent("dom_defensive", noise.agent(t))
    for d, sc in all_sc:
        for role in ("ask", "ask_upset", "followup", "clarify_reply"):
            for t in sc[role]:
                yield from emit_customer(role, noise.customer(t, role == "ask_upset"))
        for role in ("answer", "clarify", "action", "refuse", "followup_answer", "notice"):
            for t in sc.get(role, []):
                yield from emit_agent(role, noise.agent(t))
        for t in ex.get("apology_clauses", [])[:6]:
            yield {"signal": "ack", "text": t + comp.c(sc[rng.choice(["answer", "action", "clarify", "refuse"])]),
                   "label": 1, "lang": lang}
        for t in comp.stock["specific_empathy"][:4]:
            yield from emit_agent("specific_empathy", t.replace("{issue}", sc["issue"]))
            yield from emit_agent("specific_empathy", t.replace("{issue}", sc["issue"]) + " " + comp.c(sc["answer"]))
        # relevance pairs: right reply vs. a wrong one (other scenario, follow-up mix-up, stock)
        dom = comp.domains[d]
        others = [s for dd, s in all_sc if s is not sc]
        for q in sc["ask"] + sc["ask_upset"]:
            for role in ("answer", "clarify", "action", "refuse"):
                yield {"signal": "relevance", "text": q, "text2": noise.agent(comp.c(sc[role])), "label": 1, "lang": lang}
            same_dom = [s for s in dom["scenarios"] if s is not sc] or others
            wrong = [comp.c(comp.c(same_dom)["answer"]), comp.c(comp.c(others)["answer"]), comp.c(dom["drift"]),
                     comp.c(comp.stock[rng.choice(["hold", "bare_apology", "system_excuse", "deflect", "greeting"])]),
                     comp.c(dom["ad"]), comp.c(sc["followup_answer"])]
            for w in wrong:
                yield {"signal": "relevance", "text": q, "text2": noise.agent(w), "label": 0, "lang": lang}
        for q in sc["followup"]:
            yield {"signal": "relevance", "text": q, "text2": comp.c(sc["followup_answer"]), "label": 1, "lang": lang}
            yield {"signal": "relevance", "text": q, "text2": comp.c(sc["answer"]), "label": 0, "lang": lang}
            yield {"signal": "relevance", "text": q, "text2": comp.c(comp.stock["anything_else"]), "label": 0, "lang": lang}


HARD_LINE_SIGNALS = {  # hard-bank key holding single lines -> signal labels (LABELS.md)
    "defensive": {"defensive": 1, "ack": 0, "promo": 0}, "blame_more": {"defensive": 1, "ack": 0, "stock": 0},
    "blamed_back": {"upset": 1}, "sarcasm": {"upset": 1}, "implicit_open": {"upset": 1},
    "threat": {"upset": 1}, "spam_again": {"upset": 1}, "calm_lookalike": {"upset": 0},
    "ack_more": {"ack": 1, "stock": 1, "defensive": 0, "promo": 0},
    "sorry_lead": {"ack": 1, "defensive": 0}, "escalate": {"ack": 1, "defensive": 0, "stock": 0},
    "greet_more": {"ack": 0, "stock": 1, "defensive": 0}, "glad": {"defensive": 0, "promo": 0},
    "complain_deflect": {"ack": 0, "defensive": 0, "promo": 0}, "firm": {"defensive": 0, "promo": 0},
    "pitch": {"promo": 1, "defensive": 0}, "ad_tails": {"promo": 1, "defensive": 0},
}


VOICE_LINE_SIGNALS = {  # the fourth pass's single lines -> signal labels, written only with that pass
    "ack_voice": {"ack": 1, "stock": 1, "defensive": 0, "promo": 0},
    "greet_voice": {"ack": 0, "stock": 1, "defensive": 0},
    "blame_voice": {"defensive": 1, "ack": 0, "stock": 0},
    "own_voice": {"defensive": 0, "promo": 0},
}
POLARITY_LINE_SIGNALS = {  # the fifth pass's pairs: (bank key, side) -> signal labels
    ("polarity", 0): {"defensive": 1, "ack": 0},
    ("polarity", 1): {"defensive": 0, "promo": 0},
}
TONE_LINE_SIGNALS = {  # the sixth pass's single lines -> signal labels, written only with that pass
    "blame_tone": {"defensive": 1, "ack": 0, "stock": 0},
    "ack_tone": {"ack": 1, "stock": 1, "defensive": 0, "promo": 0},
    "own_tone": {"defensive": 0, "promo": 0},
}
ABSOLVE_LINE_SIGNALS = {  # the seventh pass's single lines -> signal labels, written only with that pass
    "absolve": {"defensive": 0, "promo": 0},
    "blame_plain": {"defensive": 1, "ack": 0, "stock": 0},
}


def pass_signal_lines(lang: str, split: str, rng: random.Random, table: dict) -> Iterator[dict]:
    """A later pass's bank lines (their split only) as agent signal lines, per ``table``: bank key,
    or (bank key, side) for a bank of pairs -> signal labels (``VOICE_LINE_SIGNALS``,
    ``POLARITY_LINE_SIGNALS``)."""
    comp = HardComposer(lang, split, rng)
    for key, labels in table.items():
        bank, side = key if isinstance(key, tuple) else (key, None)
        for t in comp.h(bank):
            t = comp.noise.agent(t if side is None else t[side])
            for name, y in labels.items():
                yield {"signal": name, "text": t, "label": y, "lang": lang}


def merged_signal_lines(lang: str, split: str, rng: random.Random) -> Iterator[dict]:
    """Signal lines for what real turns merge into one message (own rng, written after the rest).

    - a question with the stakes told calmly in the same message ("我一个人在机场，已经半夜了 …
      能不能帮我联系司机?"): negative emotion all the same (LABELS.md: urgency with stakes),
      next to the same question alone (calm, from ``signal_lines``);
    - an action or answer followed by "please wait patiently" ("工单已提交，请您耐心等待处理结果"):
      no acknowledgement, however polite; with an apology clause in front it has one;
    - the single lines of the hard-case banks (blame, sarcasm, threats, "I get where you're coming
      from", late greetings, pitches), labelled per ``HARD_LINE_SIGNALS``.
    """
    comp = HardComposer(lang, split, rng)
    noise, sp = comp.noise, comp.sp
    # the hard-case banks' single lines (their split only) as signal lines too: the main banks
    # alone give the sentence signals few blame lines and few acknowledgements that open with "I get it"
    for key, labels in HARD_LINE_SIGNALS.items():
        customer = "upset" in labels
        for t in comp.h(key):
            t = noise.customer(t, bool(labels.get("upset"))) if customer else noise.agent(t)
            for name, y in labels.items():
                yield {"signal": name, "text": t, "label": y, "lang": lang}
    request = [t for t in comp.stock.get("patience", []) if t in comp.patience_request]
    apologies = comp.x("apology_clauses")
    for d, dom in comp.domains.items():
        for sc in dom["scenarios"]:
            stakes = comp.by_domain("stakes", d, sc["id"], with_any=True)
            for q in sc["ask"][:2]:
                if stakes:
                    line = comp.c(stakes)[0]
                    text = f"{q}{sp}{line}" if rng.random() < 0.5 else f"{line}{sp}{q}"
                    yield {"signal": "upset", "text": noise.customer(text, False), "label": 1, "lang": lang}
            if request:
                body = comp.c(sc[rng.choice(["action", "answer"])])
                yield {"signal": "ack", "text": noise.agent(f"{body}{sp}{comp.c(request)}"), "label": 0, "lang": lang}
                if apologies:
                    yield {"signal": "ack", "text": noise.agent(f"{comp.c(apologies)}{sp}{body}{sp}{comp.c(request)}"),
                           "label": 1, "lang": lang}

# -- licensed English sets ------------------------------------------------------------
def bitext(split: str, rng: random.Random, limit: int) -> tuple[list[dict], list[dict]]:
    """Bitext request/reply pairs: the reply is relevant; a reply for another intent is not."""
    path = SHARED / "data/train/bitext_customer_support/Bitext_Sample_Customer_Support_Training_Dataset.csv"
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if split_of("bitext:" + r["intent"]) == split]
    rng.shuffle(rows)
    rows = rows[:limit]
    by_intent: dict[str, list[dict]] = {}
    for r in rows:
        by_intent.setdefault(r["intent"], []).append(r)
    convs, lines = [], []
    for i, r in enumerate(rows):
        other = rng.choice([x for x in rows if x["intent"] != r["intent"]] or rows)
        upset = "W" in r["tags"]
        wrong = rng.random() < 0.35
        reply = other["response"] if wrong else r["response"]
        gold = ["non_answer"] if wrong else []
        skip = ["missing_empathy", "boilerplate"] if upset or wrong else ["boilerplate"]
        convs.append({"id": f"bitext-{split}-{i}", "lang": "en", "domain": "bitext", "scenario": r["intent"],
                      "split": split, "source": "bitext_customer_support",
                      "turns": [{"role": "customer", "text": r["instruction"]},
                                {"role": "agent", "text": reply, "gold": gold, "skip": skip, "move": "bitext"}]})
        lines.append({"signal": "relevance", "text": r["instruction"], "text2": r["response"], "label": 1, "lang": "en"})
        lines.append({"signal": "relevance", "text": r["instruction"], "text2": other["response"], "label": 0, "lang": "en"})
        lines.append({"signal": "asks", "text": r["instruction"], "label": 1, "lang": "en"})
        lines.append({"signal": "promo", "text": r["response"], "label": 0, "lang": "en"})
        lines.append({"signal": "defensive", "text": r["response"], "label": 0, "lang": "en"})
    return convs, lines


def abcd(split: str) -> list[dict]:
    """ABCD dialogues: real agents following policy; nothing in them is an ad or defensive."""
    data = json.loads((SHARED / "data/train/abcd_sample/abcd_sample.json").read_text())
    out = []
    for conv in data:
        if split_of(f"abcd:{conv['convo_id']}") != split:
            continue
        turns = []
        for speaker, text in conv["original"]:
            if speaker == "action":
                turns.append({"role": "system", "text": text})
            elif speaker == "agent":
                turns.append({"role": "agent", "text": text, "gold": [],
                              "skip": ["non_answer", "boilerplate", "missing_empathy"], "move": "abcd"})
            else:
                turns.append({"role": "customer", "text": text})
        out.append({"id": f"abcd-{conv['convo_id']}", "lang": "en", "domain": "abcd", "scenario": str(conv["convo_id"]),
                    "split": split, "source": "abcd_sample", "turns": turns})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/generated")
    ap.add_argument("--per-scenario", type=int, default=40,
                    help="conversations per valid scenario (flag-head training); heldout gets half, train 3")
    ap.add_argument("--train-per-scenario", type=int, default=20,
                    help="conversations per scenario in the train split (the fine-tuned pair model learns from them)")
    ap.add_argument("--bitext", type=int, default=900, help="Bitext pairs per split (train; others scaled)")
    ap.add_argument("--hard-scale", type=float, default=1.0,
                    help="scale of the hard-case pass (1.0: about 1000 train, 600 valid, 300 heldout); 0 turns it off")
    ap.add_argument("--contrast-scale", type=float, default=1.0,
                    help="scale of the third pass (defensive or its look-alike; 1.0: 1000 train, 500 valid, 250 heldout); "
                         "0 writes the data the earlier pair models were trained on")
    ap.add_argument("--voice-scale", type=float, default=1.0,
                    help="scale of the fourth pass (the defensive moves in everyday English voice; 1.0: 1000 train, "
                         "500 valid, 300 heldout); 0 writes the data the three-pass models were trained on")
    ap.add_argument("--polarity-scale", type=float, default=1.0,
                    help="scale of the fifth pass (who is blamed, in English minimal pairs; 1.0: 1200 train, 600 valid, "
                         "200 heldout); 0 writes the data the four-pass models were trained on")
    ap.add_argument("--tone-scale", type=float, default=1.0,
                    help="scale of the sixth pass (dismissing, tone-policing, blame as a fact, and look-alikes, in "
                         "English; 1.0: 1000 train, 500 valid, 300 heldout); 0 leaves it out")
    ap.add_argument("--absolve-scale", type=float, default=1.0,
                    help="scale of the seventh pass (the customer cleared in the words blame uses, next to plain "
                         "blame, in English; 1.0: 800 train, 400 valid, 200 heldout); 0 writes the data the "
                         "four-pass models (v9-v13) were trained on when the fifth and sixth are 0 too")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--langs", nargs="*", default=list(BANK_MODULES))
    ap.add_argument("--splits", nargs="*", default=list(SPLITS), choices=SPLITS,
                    help="splits to write (each has its own rng, so the others are unchanged); "
                         "a mining pool (training.mine) writes only valid")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for split in args.splits:
        rng = random.Random(f"{args.seed}-{split}")
        convs, lines = [], []
        for lang in args.langs:
            comp = Composer(lang, split, rng)
            n = {"valid": args.per_scenario, "heldout": args.per_scenario // 2, "train": args.train_per_scenario}[split]
            convs += list(comp.conversations(n, f"{lang}-{split}"))
            lines += list(signal_lines(lang, split, rng))
        # Simplified conversations re-scripted to Traditional by opencc, besides the native ones
        from replyguard.text import _S2T
        for conv in [c for c in convs if c["lang"] == "zh-Hans" and rng.random() < 0.12]:
            convs.append({**conv, "id": conv["id"] + "-s2t", "lang": "zh-Hant",
                          "turns": [{**t, "text": _S2T.convert(t["text"])} for t in conv["turns"]]})
        n_bitext = args.bitext if split == "train" else args.bitext // 3
        bconvs, blines = bitext(split, rng, n_bitext)
        convs += bconvs + abcd(split)
        lines += blines
        lines_rng = random.Random(f"{args.seed}-{split}-lines2")  # own rng: the conversations stay as they were
        for lang in args.langs:
            lines += list(merged_signal_lines(lang, split, lines_rng))
        # hard cases: their own rng, after everything above, so the main pass stays as it was
        hard_rng = random.Random(f"{args.seed}-{split}-hard")
        for lang in args.langs:
            n_hard = round(HARD_TOTAL[split] * args.hard_scale * HARD_LANG_SHARE.get(lang, 0.3))
            convs += list(HardComposer(lang, split, hard_rng).conversations(n_hard, f"{lang}-{split}-hard"))
        rng.shuffle(convs)
        # later hard-case passes, appended after the shuffle so every conversation above keeps
        # its text and its place: complaint threats and rewordings, then defensive or its look-alike
        convs += later_pass(split, args.langs, args.seed, "hard2", LATER_TOTAL[split] * args.hard_scale,
                            HARD_LANG_SHARE, LATER_MIX)
        convs += later_pass(split, args.langs, args.seed, "hard3",
                            CONTRAST_TOTAL[split] * args.hard_scale * args.contrast_scale, CONTRAST_LANG_SHARE,
                            {"contrast": 1.0})
        # the passes with bank lines of their own: conversations, then those lines as signal lines
        for tag, family, total, scale, share, signals in (
                ("hard4", "voice", VOICE_TOTAL, args.voice_scale, VOICE_LANG_SHARE, VOICE_LINE_SIGNALS),
                ("hard5", "polarity", POLARITY_TOTAL, args.polarity_scale, POLARITY_LANG_SHARE, POLARITY_LINE_SIGNALS),
                ("hard6", "tone", TONE_TOTAL, args.tone_scale, TONE_LANG_SHARE, TONE_LINE_SIGNALS),
                ("hard7", "absolve", ABSOLVE_TOTAL, args.absolve_scale, ABSOLVE_LANG_SHARE, ABSOLVE_LINE_SIGNALS)):
            convs += later_pass(split, args.langs, args.seed, tag, total[split] * args.hard_scale * scale, share,
                                {family: 1.0})
            if scale > 0:
                line_rng = random.Random(f"{args.seed}-{split}-{family}-lines")
                for lang in args.langs:
                    lines += list(pass_signal_lines(lang, split, line_rng, signals))
        write_jsonl(out / f"{split}.jsonl", convs)
        write_jsonl(out / f"lines_{split}.jsonl", lines)
        n_turns = sum(t["role"] == "agent" for c in convs for t in c["turns"])
        print(f"{split}: {len(convs)} conversations, {n_turns} agent turns, {len(lines)} signal lines")


def hard_family(conv) -> str:
    """The hard-case family of a composed conversation (``scenario`` "hard:FAMILY:ID", see
    ``HardComposer.conv``; a dict or a parsed conversation), "" for the main pass and other data."""
    scenario = str((conv.get("scenario") if isinstance(conv, dict) else getattr(conv, "scenario", None)) or "")
    return scenario.split(":")[1] if scenario.startswith("hard:") else ""


def later_pass(split: str, langs: list[str], seed: int, tag: str, total: float, share: dict[str, float],
               families: dict[str, float]) -> list[dict]:
    """One hard-case pass composed after everything else with its own rng (so adding a pass
    leaves the earlier ones as they were): ``total`` conversations, ``share`` of them per
    language, families drawn by weight, shuffled."""
    rng = random.Random(f"{seed}-{split}-{tag}")
    convs: list[dict] = []
    for lang in langs:
        convs += list(HardComposer(lang, split, rng).conversations(round(total * share[lang]), f"{lang}-{split}-{tag}",
                                                                    families))
    rng.shuffle(convs)
    return convs


def write_jsonl(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    tmp.replace(path)


if __name__ == "__main__":
    main()
