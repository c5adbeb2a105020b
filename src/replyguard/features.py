"""Turn features: sentence-level signals from trained heads plus conversation structure.

Signals (each a head on e5 embeddings, trained on role-labelled lines):
  customer text: ``upset``, ``settled``, ``asks``
  agent text:    ``ack`` (acknowledges feelings/apologises), ``stock`` (canned formula),
                 ``promo`` (promotion), ``defensive``
  pair:          ``relevance`` (does the reply engage with the question)
  lexical:       ``defensive_lex``, an n-gram twin of ``defensive`` (:mod:`replyguard.lexical`)
  line model:    ``defensive_line``, the fine-tuned line model's ``defensive`` (:mod:`replyguard.line`)
The flag heads combine them with repeat measures and lengths. Every text is encoded once
per batch (and cached across calls), so history costs nothing on the next turn.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rapidfuzz import fuzz

from replyguard.context import TurnContext
from replyguard.heads import Head
from replyguard.lexical import LEXICAL_FEATURES, LEXICAL_SIGNALS, LexicalHead
from replyguard.line import LINE_FEATURES, LINE_SIGNALS, line_texts
from replyguard.pair import PAIR_FEATURES
from replyguard.text import clauses, fold, has_specifics, segments

CUSTOMER_SIGNALS = ("upset", "settled", "asks")
AGENT_SIGNALS = ("ack", "stock", "promo", "defensive", "hold")
PAIR_SIGNALS = ("relevance",)
SIGNALS = CUSTOMER_SIGNALS + AGENT_SIGNALS + PAIR_SIGNALS

FEATURES = (
    "up_open", "up_prev", "up_max", "settled", "asks_open", "asks_q", "open_empty",
    "ack_max", "stock_whole", "stock_min", "stock_mean", "promo_max", "def_max",
    "rel", "rel_max", "rep_cos", "rep_char", "seg_rep_frac", "n_prev_agent",
    "len_reply", "len_open", "specifics", "n_segs", "cust_repeat", "ack_prev",
    # interactions the flags are defined by (LABELS.md), so even a linear head can express
    # "upset and no acknowledgement", "promotion while upset", "asked and not engaged with"
    "upset_noack", "promo_upset", "asks_norel", "asks_stock", "repeat_new",
    # a hold message is the one stock line that is fine the first time (LABELS.md)
    "hold_max",
)
# the lexical signals follow (0 for a model without lexical heads), then the line model's
# (0 without one), then, with a fine-tuned pair model, its five logits
ALL_FEATURES = FEATURES + LEXICAL_FEATURES + LINE_FEATURES + PAIR_FEATURES
REPEAT_CHAR = 85.0  # rapidfuzz ratio (0-100) above which two folded segments are "the same"
# earlier agent turns counted by ``n_prev_agent`` (models trained since replyguard-v4; the
# value is stored in their config as ``feature_options.n_prev_cap``): real chats run to dozens
# of turns, composed training conversations rarely past five, and a head must not extrapolate
# a trend in turn position (later turns are more often closings there) to turn 20 of a real chat
N_PREV_CAP = 4


def pair_input(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Input of the pair head: the usual sentence-pair combination."""
    return np.concatenate([q, r, q * r, np.abs(q - r)], axis=-1)


@dataclass
class TurnFeatures:
    ctx: TurnContext
    x: np.ndarray  # (len(FEATURES) + len(LEXICAL_FEATURES) + len(LINE_FEATURES) [+ len(PAIR_FEATURES)],)
    segments: list[str]
    seg_scores: dict[str, np.ndarray]  # per-segment signal values, for evidence
    repeat_of: str | None  # the earlier agent turn this one repeats most

    def f(self, name: str) -> float:
        return float(self.x[ALL_FEATURES.index(name)])


def _char_sim(a: str, fb: str) -> float:
    """Character similarity of text ``a`` and the already folded ``fb``."""
    fa = fold(a)
    if not fa or not fb:
        return 0.0
    return fuzz.ratio(fa, fb) / 100.0


@lru_cache(maxsize=16384)
def _folded_segments(text: str) -> tuple[str, ...]:
    """fold() of each segment of an earlier agent turn (history: the same on every check)."""
    return tuple(fold(p) for p in segments(text))


_PAIR_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replyguard-pair")


class Featurizer:
    """Computes :data:`FEATURES` for a batch of turn contexts."""

    def __init__(self, encoder, signal_heads: dict[str, Head], pair=None, n_prev_cap: int | None = None,
                 lexical: dict[str, LexicalHead] | None = None, line=None) -> None:
        self.pair = pair  # a PairModel whose logits are appended as PAIR_FEATURES, or None
        self.lexical = lexical or {}  # signal -> LexicalHead; LEXICAL_FEATURES are 0 without one
        self.line = line  # a LineModel (replyguard.line); LINE_FEATURES are 0 without one
        self.n_prev_cap = n_prev_cap  # None: uncapped, as the heads of models before v4 were trained
        self.encoder = encoder
        self.heads = signal_heads

    def __call__(self, contexts: list[TurnContext]) -> list[TurnFeatures]:
        if not contexts:
            return []
        # the pair model needs only the contexts: it runs on a second core while the sentence
        # encoder and the heads work here (torch releases the GIL inside its kernels)
        pair_logits = _PAIR_POOL.submit(self.pair, contexts) if self.pair is not None else None
        segs = [segments(c.reply) for c in contexts]
        # the line model reads each reply and its segments, on the same second core after the pair model
        line_scores = None
        if self.line is not None:
            line_scores = _PAIR_POOL.submit(self.line.proba, [t for c, s in zip(contexts, segs)
                                                              for t in line_texts(c.reply, s)])
        # opening clauses ("实在抱歉，…", "I'm sorry —") carry acknowledgement that a
        # whole-sentence embedding of a long answer drowns out
        heads = [[h for x in s if (h := clauses(x)[0]) != x] for s in segs]
        texts: list[str] = []
        drafts: list[str] = []  # texts of unsent drafts: encoded, but not kept as history
        for c, s, h in zip(contexts, segs, heads):
            texts += [c.reply, c.open_msg, c.question, *c.prev_customer[-2:], *c.prev_agent, *h]
            if len(s) > 1:
                texts += s
            if c.draft:
                drafts += [c.reply, *h, *(s if len(s) > 1 else [])]
        texts = [t for t in dict.fromkeys(texts) if t.strip()]
        if not texts:
            embs = np.zeros((0, self.encoder.dim), np.float32)
        elif drafts:
            history = {t for c in contexts for t in (c.open_msg, c.question, *c.prev_customer, *c.prev_agent)}
            embs = self.encoder.encode(texts, transient=[t for t in dict.fromkeys(drafts) if t not in history])
        else:
            embs = self.encoder.encode(texts)
        E = dict(zip(texts, embs))
        zero = np.zeros(self.encoder.dim, dtype=np.float32)

        def emb(t: str) -> np.ndarray:
            return E.get(t, zero)

        # single-text signals at once over every unique text a feature reads (not the whole
        # agent history, which only the repeat measures compare with)
        scored = [t for t in dict.fromkeys(
            x for c, s, h in zip(contexts, segs, heads)
            for x in (c.reply, c.open_msg, c.question, *c.prev_customer[-2:], *c.prev_agent[-1:], *h,
                      *(s if len(s) > 1 else []))) if t.strip()]
        U = np.stack([emb(t) for t in scored]) if scored else np.zeros((0, self.encoder.dim), np.float32)
        sig = {name: dict(zip(scored, self.heads[name].proba(U))) for name in CUSTOMER_SIGNALS + AGENT_SIGNALS}
        # pair relevance for (question, reply) and (question, each segment)
        pairs = []
        for c, s in zip(contexts, segs):
            if c.question.strip():
                pairs += [(c.question, c.reply)] + [(c.question, x) for x in s if len(s) > 1]
        pairs = list(dict.fromkeys(pairs))
        rel = {}
        if pairs:
            P = pair_input(np.stack([emb(q) for q, _ in pairs]), np.stack([emb(r) for _, r in pairs]))
            rel = dict(zip(pairs, self.heads["relevance"].proba(P)))

        out = [self._one(c, s, h, emb, sig, rel) for c, s, h in zip(contexts, segs, heads)]
        self._add_lexical(out)
        self._add_line(out, line_scores.result() if line_scores is not None else {})
        if pair_logits is not None:
            for f, lg in zip(out, pair_logits.result()):
                f.x = np.concatenate([f.x, lg.astype(f.x.dtype)])
        return out

    def _add_lexical(self, feats: list[TurnFeatures]) -> None:
        """Append LEXICAL_FEATURES: each lexical signal's highest value over the reply and its
        segments (as ``def_max`` takes the e5 signal's), 0 where the model has no such head;
        per-segment values go to ``seg_scores`` under the feature's name, for evidence."""
        zeros = np.zeros(len(LEXICAL_FEATURES), dtype=np.float32)
        if not self.lexical:
            for f in feats:
                f.x = np.concatenate([f.x, zeros.astype(f.x.dtype)])
            return
        texts = [t for t in dict.fromkeys(t for f in feats for t in (f.ctx.reply, *f.segments)) if t.strip()]
        lex = {feat: dict(zip(texts, self.lexical[name].proba(texts)))
               for name, feat in zip(LEXICAL_SIGNALS, LEXICAL_FEATURES) if name in self.lexical}
        for f in feats:
            vals = zeros.copy()
            for i, feat in enumerate(LEXICAL_FEATURES):
                if feat in lex:
                    f.seg_scores[feat] = np.array([float(lex[feat].get(p, 0.0)) for p in f.segments])
                    vals[i] = max(float(lex[feat].get(f.ctx.reply, 0.0)), f.seg_scores[feat].max(initial=0.0))
            f.x = np.concatenate([f.x, vals.astype(f.x.dtype)])

    def _add_line(self, feats: list[TurnFeatures], scores: dict[str, dict[str, float]]) -> None:
        """Append LINE_FEATURES: each line-model signal's highest value over the reply and its
        segments (as ``def_max`` takes the e5 signal's), 0 where there is no line model or it does
        not score that signal; per-segment values go to ``seg_scores``, for evidence."""
        for f in feats:
            vals = np.zeros(len(LINE_FEATURES), dtype=np.float32)
            for i, (name, feat) in enumerate(zip(LINE_SIGNALS, LINE_FEATURES)):
                if name in scores:
                    f.seg_scores[feat] = np.array([float(scores[name].get(p, 0.0)) for p in f.segments])
                    vals[i] = max(float(scores[name].get(f.ctx.reply, 0.0)), f.seg_scores[feat].max(initial=0.0))
            f.x = np.concatenate([f.x, vals.astype(f.x.dtype)])

    def _one(self, c: TurnContext, s: list[str], heads: list[str], emb, sig, rel) -> TurnFeatures:
        g = lambda name, t: float(sig[name].get(t, 0.0)) if t.strip() else 0.0
        parts = s if len(s) > 1 else [c.reply]
        seg_scores = {name: np.array([g(name, p) for p in parts]) for name in AGENT_SIGNALS}
        if c.question.strip():
            seg_scores["relevance"] = np.array([float(rel.get((c.question, p), 0.0)) for p in parts])
        else:
            seg_scores["relevance"] = np.zeros(len(parts))
        r = emb(c.reply)
        # a draft is new on every keystroke: folded here, not kept in fold()'s cache
        fold_own = fold.__wrapped__ if c.draft else fold
        f_reply = fold_own(c.reply)
        f_parts = [fold_own(p) for p in parts]
        rep_cos, rep_char, repeat_of = 0.0, 0.0, None
        for p in c.prev_agent:
            cs = float(emb(p) @ r)
            ch = _char_sim(p, f_reply)
            if max(cs, ch) > max(rep_cos, rep_char) or repeat_of is None:
                repeat_of = p if (ch > 0.6 or cs > 0.97) else repeat_of
            rep_cos, rep_char = max(rep_cos, cs), max(rep_char, ch)
        folded_prev = [fp for p in c.prev_agent for fp in _folded_segments(p)]
        seg_rep = 0.0
        if folded_prev:
            hits = [max(fuzz.ratio(fp_, fp) for fp in folded_prev) >= REPEAT_CHAR for fp_ in f_parts if fp_]
            seg_rep = float(np.mean(hits)) if hits else 0.0
        n_prev = len(c.prev_agent) if self.n_prev_cap is None else min(len(c.prev_agent), self.n_prev_cap)
        up_prev = max((g("upset", t) for t in c.prev_customer[-2:]), default=0.0)
        up_open = g("upset", c.open_msg)
        o = emb(c.open_msg)
        cust_repeat = max((float(emb(t) @ o) for t in c.prev_customer), default=0.0) if c.open_msg.strip() else 0.0
        x = np.array([
            up_open, up_prev, max(up_open, up_prev), g("settled", c.open_msg), g("asks", c.open_msg),
            g("asks", c.question), float(not c.open_msg.strip()),
            max([g("ack", c.reply), seg_scores["ack"].max()] + [g("ack", h) for h in heads]), g("stock", c.reply),
            seg_scores["stock"].min(), seg_scores["stock"].mean(),
            max(g("promo", c.reply), seg_scores["promo"].max()),
            max(g("defensive", c.reply), seg_scores["defensive"].max()),
            float(rel.get((c.question, c.reply), 0.0)), seg_scores["relevance"].max(),
            rep_cos, rep_char, seg_rep, np.log1p(n_prev),
            np.log1p(len(f_reply)), np.log1p(len(fold(c.open_msg))),
            min(has_specifics(c.reply), 3) / 3.0, np.log1p(len(parts)), cust_repeat,
            g("ack", c.prev_agent[-1]) if c.prev_agent else 0.0,
        ], dtype=np.float32)
        up, ack, promo = float(x[2]), float(x[7]), float(x[11])
        asks, rel, stock_min = float(x[5]), float(x[14]), float(x[9])
        new_msg = float(bool(c.open_msg.strip()))
        x = np.concatenate([x, np.array([
            up * (1.0 - ack), promo * up, asks * (1.0 - rel), asks * stock_min,
            max(rep_char, seg_rep) * new_msg, max(g("hold", c.reply), seg_scores["hold"].max()),
        ], dtype=np.float32)])
        return TurnFeatures(c, x, parts, seg_scores, repeat_of)
