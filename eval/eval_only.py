"""Measure parts of the model on the eval_only sets (never used for training).

- ECD sample (zh e-commerce): reply relevance — rank the true reply among 10 candidates.
- DailyDialog++ (en): reply relevance — true replies vs adversarial (on-topic, wrong) replies.
- Chinese sentiment (waimai + hotel reviews): customer negativity via the ``upset`` signal.
- SMS spam (en): promotional text via the ``promo`` signal.

    python eval/eval_only.py --model replyguard-v1 [--limit 2000] [--json out.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from replyguard.analyzer import ModelFolder
from replyguard.features import pair_input
from replyguard.schema import DEFAULT_MODEL

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "eval_only"


def unsegment(text: str) -> str:
    """ECD text is word-segmented; join tokens between CJK characters back together."""
    return re.sub(r"(?<=[\u4e00-\u9fff])\s+(?=[\u4e00-\u9fff])", "", text.strip())


def binary(y: np.ndarray, p: np.ndarray) -> dict:
    pred = p >= 0.5
    return {"auc": round(float(roc_auc_score(y, p)), 4), "precision": round(float(precision_score(y, pred)), 4),
            "recall": round(float(recall_score(y, pred)), 4), "f1": round(float(f1_score(y, pred)), 4), "n": len(y)}


def ecd_groups() -> dict[str, list[tuple[int, str]]]:
    """ECD test: context (tab-joined utterances) -> [(label, candidate reply)]."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for line in (DATA / "ecd_sample" / "test").read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        groups.setdefault("\t".join(parts[1:-1]), []).append((int(parts[0]), unsegment(parts[-1])))
    return groups


def dd_paragraphs(limit: int) -> list[dict]:
    data = json.loads((DATA / "dailydialog_plusplus" / "test-v1.0.json").read_text())
    paras = [p for topic in data["data"] for p in topic["paragraphs"]]
    random.Random(0).shuffle(paras)
    return paras[: limit // 10]


def dd_last_turn(para: dict) -> str:
    return para["context"].strip().split("\n\n")[-1].split(":", 1)[-1].strip()


def sentiment_rows(name: str, limit: int) -> list[tuple[int, str]]:
    """(1 = negative review, text), a fixed random sample."""
    with open(DATA / "chinese_sentiment" / name, encoding="utf-8") as f:
        rows = [(1 - int(r["label"]), r["review"]) for r in csv.DictReader(f) if r["review"]]
    random.Random(0).shuffle(rows)
    return rows[:limit]


def sms_rows(limit: int) -> list[tuple[int, str]]:
    """(1 = spam, text), a fixed random sample."""
    lines = (DATA / "sms_spam" / "SMSSpamCollection").read_text(encoding="utf-8").splitlines()
    rows = [(int(lab == "spam"), text) for lab, text in (line.split("\t", 1) for line in lines)]
    random.Random(0).shuffle(rows)
    return rows[:limit]


SENTIMENT_FILES = ("waimai_10k.csv", "ChnSentiCorp_htl_all.csv")


def ecd(model: ModelFolder, enc) -> dict:
    groups = ecd_groups()
    r1 = r2 = mrr = 0.0
    ys, ps = [], []
    for ctx, cands in groups.items():
        q = unsegment(ctx.split("\t")[-1])
        qe = enc.encode([q])
        ce = enc.encode([c for _, c in cands])
        p = model.signals["relevance"].proba(pair_input(np.repeat(qe, len(cands), 0), ce))
        rank = 1 + int((p > p[[i for i, (lab, _) in enumerate(cands) if lab == 1][0]]).sum())
        r1 += rank == 1
        r2 += rank <= 2
        mrr += 1 / rank
        ys += [lab for lab, _ in cands]
        ps += list(p)
    n = len(groups)
    return {"contexts": n, "R10@1": round(r1 / n, 4), "R10@2": round(r2 / n, 4), "MRR": round(mrr / n, 4),
            "auc": round(float(roc_auc_score(ys, ps)), 4), "chance_R10@1": 0.1}


def dailydialog(model: ModelFolder, enc, limit: int) -> dict:
    out = {}
    for kind, tag in (("adversarial", "Adversarial"), ("random", "Random")):
        ys, ps, wins, pairs = [], [], 0, 0
        for para in dd_paragraphs(limit):
            last = dd_last_turn(para)
            pos = [r["text"] for r in para["responses"] if r["label"].startswith("1")]
            neg = [r["text"] for r in para["responses"] if tag in r["label"]]
            e = enc.encode(pos + neg)
            q = np.repeat(enc.encode([last]), len(pos) + len(neg), 0)
            p = model.signals["relevance"].proba(pair_input(q, e))
            pp, pn = p[: len(pos)], p[len(pos):]
            wins += int((pp[:, None] > pn[None, :]).sum())
            pairs += len(pp) * len(pn)
            ys += [1] * len(pos) + [0] * len(neg)
            ps += list(p)
        out[kind] = {"auc": round(float(roc_auc_score(ys, ps)), 4), "pairwise_acc": round(wins / pairs, 4),
                     "replies": len(ys)}
    return out


def sentiment(model: ModelFolder, enc, limit: int) -> dict:
    out = {}
    for name in SENTIMENT_FILES:
        rows = sentiment_rows(name, limit)
        p = model.signals["upset"].proba(enc.encode([t for _, t in rows]))
        out[name.split(".")[0]] = binary(np.array([y for y, _ in rows]), p)
    return out


def sms(model: ModelFolder, enc, limit: int) -> dict:
    rows = sms_rows(limit)
    p = model.signals["promo"].proba(enc.encode([t for _, t in rows]))
    return binary(np.array([y for y, _ in rows]), p)


class _RuleSignals:
    """The rule baseline's view of the same tasks: keyword lists, and lexical overlap for relevance."""

    def __init__(self) -> None:
        from rapidfuzz import fuzz

        from replyguard import rules
        from replyguard.text import fold

        self.fold, self.fuzz, self.rules = fold, fuzz, rules

    def promo(self, texts: list[str]) -> np.ndarray:
        return np.array([float(bool(self.rules._has(self.fold(t), self.rules.PROMO) or
                                    self.rules._raw_has(t, self.rules.PROMO))) for t in texts])

    def upset(self, texts: list[str]) -> np.ndarray:
        return np.array([float(bool(self.rules._raw_has(t, self.rules.NEGATIVE) or
                                    self.rules._has(self.fold(t), self.rules.NEGATIVE))) for t in texts])

    def relevance(self, q: str, cands: list[str]) -> np.ndarray:
        return np.array([self.fuzz.token_set_ratio(self.fold(q), self.fold(c)) / 100 for c in cands])


def rules_baseline(limit: int) -> dict:
    """Same sets, same samples, scored by the rule baseline."""
    rs = _RuleSignals()
    out: dict = {}
    groups = ecd_groups()
    r1 = 0.0
    for ctx, cands in groups.items():
        p = rs.relevance(unsegment(ctx.split("\t")[-1]), [c for _, c in cands])
        pos = [i for i, (lab, _) in enumerate(cands) if lab == 1][0]
        r1 += int((p > p[pos]).sum()) == 0 and int((p == p[pos]).sum()) == 1
    out["ecd_relevance"] = {"R10@1": round(r1 / len(groups), 4)}
    ys, ps = [], []
    for para in dd_paragraphs(limit):
        resp = [r for r in para["responses"] if not r["label"].startswith("0 (Random")]
        ys += [int(r["label"].startswith("1")) for r in resp]
        ps += list(rs.relevance(dd_last_turn(para), [r["text"] for r in resp]))
    out["dailydialog_relevance"] = {"adversarial": {"auc": round(float(roc_auc_score(ys, ps)), 4)}}
    out["chinese_sentiment_negativity"] = {}
    for name in SENTIMENT_FILES:
        rows = sentiment_rows(name, limit)
        out["chinese_sentiment_negativity"][name.split(".")[0]] = binary(
            np.array([y for y, _ in rows]), rs.upset([t for _, t in rows]))
    rows = sms_rows(limit)
    out["sms_promo"] = binary(np.array([y for y, _ in rows]), rs.promo([t for _, t in rows]))
    return out


def _pair_relevance_items(pair, n_ecd: int, n_dd: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per item: ECD hit@1 per context; DailyDialog++ paragraph, label and relevance per reply."""
    from replyguard.context import TurnContext
    from replyguard.pair import FLAGS, pair_texts

    na = FLAGS.index("non_answer")

    def rel(q: str, cands: list[str]) -> np.ndarray:
        return -pair.logits([pair_texts(TurnContext("eval", 1, c, q, q)) for c in cands])[:, na]

    hits = []
    for ctx, cands in list(ecd_groups().items())[:n_ecd]:
        p = rel(unsegment(ctx.split("\t")[-1]), [c for _, c in cands])
        true = [i for i, (lab, _) in enumerate(cands) if lab == 1][0]
        hits.append(int((p > p[true]).sum() == 0))
    paras, ys, ps = [], [], []
    for k, para in enumerate(dd_paragraphs(n_dd * 10)):
        pos = [r["text"] for r in para["responses"] if r["label"].startswith("1")]
        neg = [r["text"] for r in para["responses"] if "Adversarial" in r["label"]]
        ps += list(rel(dd_last_turn(para), pos + neg))
        ys += [1] * len(pos) + [0] * len(neg)
        paras += [k] * (len(pos) + len(neg))
    return np.array(hits), np.array(paras), np.array(ys), np.array(ps)


def pair_relevance(pair, n_ecd: int, n_dd: int) -> dict:
    """Relevance as the fine-tuned pair model sees it: -logit(non_answer) of (question, reply).

    A cross-encoder pass per candidate is costly on CPU, so this scores the first ``n_ecd``
    ECD contexts and ``n_dd`` DailyDialog++ paragraphs (fixed samples)."""
    hits, _, ys, ps = _pair_relevance_items(pair, n_ecd, n_dd)
    return {"ecd_relevance": {"contexts": len(hits), "R10@1": round(float(hits.mean()), 4), "chance_R10@1": 0.1},
            "dailydialog_adversarial": {"auc": round(float(roc_auc_score(ys, ps)), 4), "replies": len(ys)}}


def compare_pair_relevance(pair_a, pair_b, n_ecd: int, n_dd: int, resamples: int = 1000, seed: int = 0) -> dict:
    """Pair model ``b`` minus pair model ``a`` on the same items: ECD R10@1 and the DailyDialog++
    adversarial AUC, each with a paired bootstrap 95% interval (ECD contexts resampled; DD++
    paragraphs resampled whole, as their replies share a question) and the share of draws in
    which ``b`` is ahead."""
    (ha, pa_, ya, sa), (hb, _, _, sb) = (_pair_relevance_items(p, n_ecd, n_dd) for p in (pair_a, pair_b))
    rng = np.random.default_rng(seed)
    n_par = int(pa_.max()) + 1
    by_par = [np.flatnonzero(pa_ == k) for k in range(n_par)]
    d_ecd, d_dd = [], []
    for _ in range(resamples):
        ctx = rng.integers(0, len(ha), len(ha))
        d_ecd.append(hb[ctx].mean() - ha[ctx].mean())
        rows = np.concatenate([by_par[k] for k in rng.integers(0, n_par, n_par)])
        if len(set(ya[rows])) > 1:
            d_dd.append(roc_auc_score(ya[rows], sb[rows]) - roc_auc_score(ya[rows], sa[rows]))

    def row(point: float, draws: list[float]) -> dict:
        x = np.array(draws)
        return {"diff": round(float(point), 4), "diff_ci": [round(float(v), 4) for v in np.percentile(x, [2.5, 97.5])],
                "p_ahead": round(float((x > 0).mean()), 4)}

    return {"ecd_R10@1": {"a": round(float(ha.mean()), 4), "b": round(float(hb.mean()), 4),
                          **row(hb.mean() - ha.mean(), d_ecd), "contexts": len(ha)},
            "dailydialog_adversarial_auc": {"a": round(float(roc_auc_score(ya, sa)), 4),
                                            "b": round(float(roc_auc_score(ya, sb)), 4),
                                            **row(roc_auc_score(ya, sb) - roc_auc_score(ya, sa), d_dd),
                                            "replies": len(ya), "paragraphs": n_par},
            "resamples": resamples}


def run(model_name: str, limit: int, enc=None, pair=None) -> dict:
    from replyguard.encoder import Encoder

    model = ModelFolder.load(model_name)
    enc = enc or Encoder.load()
    out = {"ecd_relevance": ecd(model, enc), "dailydialog_relevance": dailydialog(model, enc, limit),
           "chinese_sentiment_negativity": sentiment(model, enc, limit), "sms_promo": sms(model, enc, limit)}
    if model.pair_dir is not None:
        if pair is None:
            from replyguard.pair import PairModel

            pair = PairModel.load(model.pair_dir, share_embeddings_with=enc)
        out["pair"] = pair_relevance(pair, n_ecd=max(20, limit // 10), n_dd=max(10, limit // 20))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=2000, help="examples per set (random, fixed seed)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--pair-against", metavar="OTHER_MODEL", default=None,
                    help="only compare the pair models' relevance of --model and OTHER_MODEL (paired intervals)")
    args = ap.parse_args()
    if args.pair_against:
        from replyguard.pair import PairModel

        a, b = (PairModel.load(ModelFolder.load(m).pair_dir) for m in (args.pair_against, args.model))
        n_ecd, n_dd = max(20, args.limit // 10), max(10, args.limit // 20)
        res = {"a": args.pair_against, "b": args.model, **compare_pair_relevance(a, b, n_ecd, n_dd)}
        print(json.dumps(res, indent=1))
        if args.json:
            args.json.write_text(json.dumps(res, indent=1))
        return
    res = {"model": run(args.model, args.limit), "rules": rules_baseline(args.limit)}
    print(json.dumps(res, indent=1))
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
