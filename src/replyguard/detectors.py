"""The five detectors. One interface: a batch of turn features in, one finding (or None) per turn out.

Each detector is a small calibrated head over :data:`replyguard.features.FEATURES`,
registered under a versioned name. Prediction is pure; writing results is the caller's job.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from replyguard.features import ALL_FEATURES, FEATURES, PAIR_FEATURES, TurnFeatures
from replyguard.heads import Head
from replyguard.schema import Finding

REGISTRY: dict[str, type[Detector]] = {}
EVIDENCE_CHARS = 160


def register(cls: type[Detector]) -> type[Detector]:
    REGISTRY[f"{cls.flag}.{cls.version}"] = cls
    return cls


def _clip(text: str, limit: int = EVIDENCE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Detector:
    """Base detector: calibrated head + threshold; subclasses say what evidence and why."""

    flag: ClassVar[str]
    version: ClassVar[str] = "v1"
    # Features the head reads. Flags defined by a few signals see only those, so the head
    # cannot latch onto incidental regularities of the training conversations.
    features: ClassVar[tuple[str, ...]] = FEATURES
    # n-gram twins (replyguard.lexical) of the signals above that a head may also read;
    # training decides per flag whether it does (training.train.train_flags)
    lexical_features: ClassVar[tuple[str, ...]] = ()
    # ... and the fine-tuned line model's (replyguard.line), decided the same way
    line_features: ClassVar[tuple[str, ...]] = ()

    def __init__(self, head: Head, threshold: float, pair: bool = False, lexical: bool = False,
                 line: bool = False) -> None:
        self.head = head
        self.threshold = float(threshold)
        self.pair = pair  # the head also reads the pair model's logits
        self.lexical = lexical  # ... and its lexical_features
        self.line = line  # ... and its line_features

    @classmethod
    def feature_names(cls, pair: bool = False, lexical: bool = False, line: bool = False) -> tuple[str, ...]:
        return (cls.features + (cls.lexical_features if lexical else ()) + (cls.line_features if line else ())
                + (PAIR_FEATURES if pair else ()))

    @classmethod
    def variants(cls) -> dict[tuple[str, ...], tuple[bool, bool, bool]]:
        """Every input list a head of this detector can be trained on -> (pair, lexical, line)."""
        return {cls.feature_names(p, lx, ln): (p, lx, ln) for p in (False, True)
                for lx in ((False, True) if cls.lexical_features else (False,))
                for ln in ((False, True) if cls.line_features else (False,))}

    @classmethod
    def columns(cls, pair: bool = False, lexical: bool = False, line: bool = False) -> list[int]:
        return [ALL_FEATURES.index(f) for f in cls.feature_names(pair, lexical, line)]

    @property
    def name(self) -> str:
        return f"{self.flag}.{self.version}"

    def proba(self, feats: list[TurnFeatures]) -> np.ndarray:
        if not feats:
            return np.zeros(0, dtype=np.float32)
        return self.head.proba(np.stack([f.x for f in feats])[:, self.columns(self.pair, self.lexical, self.line)])

    def predict(self, feats: list[TurnFeatures]) -> list[Finding | None]:
        out: list[Finding | None] = []
        for f, p in zip(feats, self.proba(feats)):
            if p >= self.threshold:
                out.append(Finding(flag=self.flag, confidence=round(float(p), 4),  # type: ignore[arg-type]
                                   evidence=_clip(self.evidence(f)), explanation=self.explain(f)))
            else:
                out.append(None)
        return out

    def evidence(self, f: TurnFeatures) -> str:
        return f.ctx.reply

    def explain(self, f: TurnFeatures) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


def _seg_by(f: TurnFeatures, signal: str, highest: bool = True) -> str:
    scores = f.seg_scores[signal]
    i = int(np.argmax(scores) if highest else np.argmin(scores))
    return f.segments[i]


@register
class NonAnswer(Detector):
    flag = "non_answer"

    def evidence(self, f: TurnFeatures) -> str:
        return _seg_by(f, "relevance", highest=False) if len(f.segments) > 1 else f.ctx.reply

    def explain(self, f: TurnFeatures) -> str:
        q = f.ctx.question.strip()
        if f.f("rep_char") > 0.85 or f.f("seg_rep_frac") > 0.5:
            why = "repeats an earlier reply instead of answering the new message"
        elif f.f("stock_min") > 0.5:
            why = "only stock phrases; nothing addresses the question"
        else:
            why = f"does not engage with the question (relevance {f.f('rel_max'):.2f})"
        return f"customer asked \"{_clip(q, 60)}\"; reply {why}" if q else f"reply {why}"


@register
class Boilerplate(Detector):
    flag = "boilerplate"
    # canned text is a property of the reply and of what the agent sent before; how relevant
    # the reply is belongs to non_answer
    features = ("stock_whole", "stock_min", "stock_mean", "rep_cos", "rep_char", "seg_rep_frac", "repeat_new",
                "specifics", "len_reply", "n_segs", "open_empty", "settled", "ack_max", "hold_max",
                "n_prev_agent", "asks_stock", "asks_q", "up_max")

    def evidence(self, f: TurnFeatures) -> str:
        if f.repeat_of and (f.f("rep_char") > 0.8 or f.f("seg_rep_frac") > 0):
            return f.ctx.reply
        return _seg_by(f, "stock")

    def explain(self, f: TurnFeatures) -> str:
        if f.f("rep_char") > 0.8 or f.f("seg_rep_frac") >= 0.5:
            n = sum(1 for p in f.ctx.prev_agent if p.strip() and f.repeat_of and p == f.repeat_of)
            times = f" (sent {n + 1} times now)" if n >= 1 else ""
            return f"same text as an earlier agent reply{times} although the customer said something new"
        return "stock formula with nothing specific to the customer's message"


@register
class AdToUpsetCustomer(Detector):
    flag = "ad_to_upset_customer"
    features = ("promo_max", "up_open", "up_prev", "up_max", "settled", "asks_open", "promo_upset",
                "ack_max", "open_empty", "specifics")

    def evidence(self, f: TurnFeatures) -> str:
        return _seg_by(f, "promo")

    def explain(self, f: TurnFeatures) -> str:
        return (f"promotion (p={f.f('promo_max'):.2f}) sent while the customer is upset or complaining "
                f"(p={f.f('up_max'):.2f})")


@register
class MissingEmpathy(Detector):
    flag = "missing_empathy"
    features = ("up_open", "up_prev", "up_max", "ack_max", "ack_prev", "upset_noack", "settled", "open_empty")

    def evidence(self, f: TurnFeatures) -> str:
        return f.segments[0]

    def explain(self, f: TurnFeatures) -> str:
        return (f"customer is upset (p={f.f('up_max'):.2f}); reply has no acknowledgement of their "
                f"feelings or situation (p={f.f('ack_max'):.2f})")


@register
class Defensive(Detector):
    flag = "defensive"
    features = ("def_max", "ack_max", "up_max", "rel_max", "stock_min", "len_reply", "asks_q")
    lexical_features = ("defensive_lex",)
    line_features = ("defensive_line",)

    def evidence(self, f: TurnFeatures) -> str:
        return _seg_by(f, "defensive_line" if self.line else "defensive_lex" if self.lexical else "defensive")

    def explain(self, f: TurnFeatures) -> str:
        return "argues with, blames or lectures the customer"
