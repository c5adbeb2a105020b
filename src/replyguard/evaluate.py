"""Evaluation against gold files: per-flag precision / recall / F1, per language."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

import numpy as np

from replyguard.schema import FLAGS, MISSION_FLAGS, GoldConversation, ScoredConversation

Predicted = dict[int, set[str]]  # turn index -> flags


def _prf(tp: int, fp: int, fn: int) -> dict:
    """P/R/F1; with no gold and no predicted positives the scores are undefined (None) and
    the flag is left out of the macro average rather than counted as a perfect 1.0."""
    if tp + fp + fn == 0:
        return {"precision": None, "recall": None, "f1": None, "support": 0, "predicted": 0}
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4),
            "support": tp + fn, "predicted": tp + fp}


def _macro(table: dict) -> float | None:
    vals = [table[f]["f1"] for f in MISSION_FLAGS if table[f]["f1"] is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


def evaluate(gold: Iterable[GoldConversation], predicted: Iterable[ScoredConversation],
             on_error: Callable[[dict], None] | None = None, resamples: int = 0, seed: int = 0) -> dict:
    """Compare predictions with gold labels; flags listed in a turn's ``skip`` are not scored.

    Returns ``{"all": {flag: prf, "macro_f1": x}, "by_lang": {lang: {...}}, "turns": n}``;
    ``macro_f1`` averages the four mission flags (all but ``defensive``) that are defined
    on the set (a flag with neither gold nor predicted positives has no F1).
    ``on_error`` receives every false positive / negative with its context. With
    ``resamples`` > 0 every defined F1 also gets ``f1_ci`` and every table ``macro_f1_ci``:
    95% intervals from :class:`Outcomes` (a bootstrap over reply lines).
    """
    gold, predicted = list(gold), list(predicted)
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {f: [0, 0, 0] for f in FLAGS})
    n_turns = 0
    for g, p in zip(gold, predicted):
        if g.id != p.id:
            raise ValueError(f"prediction order differs from gold: {p.id} vs {g.id}")
        lang = g.lang or p.lang or "en"
        pred: Predicted = {t.index: {f.flag for f in t.findings} for t in p.turns}
        conf = {t.index: {f.flag: f for f in t.findings} for t in p.turns}
        for i, turn in enumerate(g.turns):
            if turn.role != "agent":
                continue
            n_turns += 1
            for flag in FLAGS:
                if flag in turn.skip:
                    continue
                is_gold, is_pred = flag in turn.gold, flag in pred.get(i, set())
                for key in ("all", lang):
                    c = counts[key][flag]
                    c[0] += is_gold and is_pred
                    c[1] += is_pred and not is_gold
                    c[2] += is_gold and not is_pred
                if on_error and is_gold != is_pred:
                    f = conf.get(i, {}).get(flag)
                    on_error({"conversation": g.id, "index": i, "lang": lang, "flag": flag,
                              "kind": "false_positive" if is_pred else "false_negative",
                              "reply": turn.text, "confidence": f.confidence if f else None,
                              "explanation": f.explanation if f else None,
                              "context": [f"{t.role}: {t.text}" for t in g.turns[max(0, i - 4): i]],
                              # where the gold file says how a turn was made (composed data), keep it:
                              # errors then group into classes (see ``error_classes``)
                              **{k: v for k, v in (("scenario", getattr(g, "scenario", None)),
                                                   ("move", getattr(turn, "move", None))) if v}})
    out: dict = {"turns": n_turns}
    for key, c in counts.items():
        table = {flag: _prf(*c[flag]) for flag in FLAGS}
        table["macro_f1"] = _macro(table)
        if key == "all":
            out["all"] = table
        else:
            out.setdefault("by_lang", {})[key] = table
    if resamples and n_turns:
        Outcomes(gold, [predicted]).add_intervals(out, resamples, seed)
    return out


class Outcomes:
    """Per-reply-line counts of true / false positives and false negatives, for intervals.

    Composed conversations reuse stock lines across scenarios and real agents paste the same
    lines all day, so a model's errors come in clusters: one misread line is wrong wherever
    it is sent. A bootstrap that resamples turns one by one treats those repeats as
    independent evidence and reports intervals that are too narrow; this one resamples whole
    reply lines (``text.fold`` keys, so case, script, particles and emoji do not split a
    line) with replacement. Several systems scored on the same gold file share the same
    draws, so :meth:`compare` gives a paired interval of their F1 difference. (scipy's
    ``stats.bootstrap`` resamples observations; clusters shared across systems are simpler
    as the weight matrix below.)
    """

    def __init__(self, gold: list[GoldConversation], systems: list[list[ScoredConversation]]) -> None:
        from replyguard.text import fold

        langs = sorted({g.lang or "en" for g in gold})
        self.keys = ["all"] + langs
        self.cells = [(k, f) for k in self.keys for f in FLAGS]
        cluster: dict[str, int] = {}
        hits: list[tuple[int, int, int, int]] = []  # (system, cluster, cell, 0 tp / 1 fp / 2 fn)
        preds = [[{t.index: {f.flag for f in t.findings} for t in p.turns} for p in sys] for sys in systems]
        for ci, g in enumerate(gold):
            lang_block = self.keys.index(g.lang or "en") * len(FLAGS)
            for i, turn in enumerate(g.turns):
                if turn.role != "agent":
                    continue
                c = cluster.setdefault(fold(turn.text) or turn.text, len(cluster))
                for j, flag in enumerate(FLAGS):
                    if flag in turn.skip:
                        continue
                    for s, p in enumerate(preds):
                        g_pos, p_pos = flag in turn.gold, flag in p[ci].get(i, set())
                        if g_pos or p_pos:  # the "all" cell j and the language's cell
                            k = 0 if g_pos and p_pos else 1 if p_pos else 2
                            hits += [(s, c, j, k), (s, c, lang_block + j, k)]
        self.counts = np.zeros((len(systems), len(cluster), len(self.cells), 3))  # [system, cluster, cell, k]
        if hits:
            np.add.at(self.counts, tuple(np.array(hits).T), 1)
        self.n_clusters = len(cluster)

    def _f1(self, resamples: int, seed: int) -> np.ndarray:
        """F1 per (system, resample, cell); NaN where a resample has no gold and no predicted.
        ``resamples`` 0: the F1 of the file itself, as one resample."""
        if resamples == 0:
            w = np.ones((1, self.n_clusters))
        else:
            rng = np.random.default_rng(seed)
            w = np.stack([np.bincount(rng.integers(0, self.n_clusters, self.n_clusters), minlength=self.n_clusters)
                          for _ in range(resamples)]).astype(float)
        c = np.tensordot(w, self.counts, axes=([1], [1])).transpose(1, 0, 2, 3)  # (system, resample, cell, k)
        tp, fp, fn = c[..., 0], c[..., 1], c[..., 2]
        den = 2 * tp + fp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, 2 * tp / den, np.nan)

    def _macro(self, f1: np.ndarray, key: str) -> np.ndarray:
        """Mean F1 of the mission flags defined in each resample, as ``_macro`` does for a file."""
        cols = [self.cells.index((key, f)) for f in MISSION_FLAGS]
        x = f1[..., cols]
        n = (~np.isnan(x)).sum(-1)
        return np.where(n > 0, np.nansum(x, -1) / np.maximum(n, 1), np.nan)

    @staticmethod
    def _ci(x: np.ndarray) -> list[float] | None:
        x = x[~np.isnan(x)]
        return [round(float(v), 4) for v in np.percentile(x, [2.5, 97.5])] if len(x) else None

    def _tables(self, report: dict) -> dict[str, dict]:
        return {k: report["all"] if k == "all" else report.get("by_lang", {}).get(k, {}) for k in self.keys}

    def add_intervals(self, report: dict, resamples: int = 1000, seed: int = 0) -> dict:
        """Write ``f1_ci`` into every defined cell of ``report`` (the first system's) and
        ``macro_f1_ci`` into every table."""
        f1 = self._f1(resamples, seed)[0]
        for key, table in self._tables(report).items():
            if not table:
                continue
            for flag in FLAGS:
                if table[flag]["f1"] is not None:
                    table[flag]["f1_ci"] = self._ci(f1[:, self.cells.index((key, flag))])
            table["macro_f1_ci"] = self._ci(self._macro(f1, key))
        report["intervals"] = {"resamples": resamples, "unit": "reply line", "clusters": self.n_clusters}
        return report

    def compare(self, a: int = 0, b: int = 1, resamples: int = 1000, seed: int = 0) -> dict:
        """Paired F1 difference (system ``b`` minus system ``a``) per language and flag, with
        its 95% interval and the share of resamples in which ``b`` is ahead. Cells that are
        undefined for either system on the file are left out; ``macro_f1`` compares each
        system's own macro-F1, as its report gives it."""
        point, f1 = self._f1(0, seed), self._f1(resamples, seed)
        out: dict = {"resamples": resamples, "unit": "reply line", "clusters": self.n_clusters}
        for key in self.keys:
            rows = {}
            defined = [f for f in FLAGS if not np.isnan(point[[a, b], 0, self.cells.index((key, f))]).any()]
            for flag in list(FLAGS) + ["macro_f1"]:
                if flag == "macro_f1":  # each model's own macro, as in its report
                    (pa, pb), (da, db) = ([self._macro(x[s], key) for s in (a, b)] for x in (point, f1))
                elif flag in defined:
                    j = self.cells.index((key, flag))
                    pa, pb, da, db = point[a, :, j], point[b, :, j], f1[a, :, j], f1[b, :, j]
                else:
                    continue
                d = db - da
                d = d[~np.isnan(d)]
                if len(d) and not np.isnan(pb - pa).any():
                    rows[flag] = {"diff": round(float((pb - pa)[0]), 4), "diff_ci": self._ci(d),
                                  "p_ahead": round(float(np.mean(d > 0)), 4)}
            out[key] = rows
        return out


def error_classes(errors: Iterable[dict], top: int = 12) -> list[tuple[str, str, str, int]]:
    """The biggest error classes: (flag, kind, class, count), most frequent first. The class is
    the turn's ``move`` when the gold file records one (composed data), else the scenario
    family (``hard:threat:...`` -> ``hard:threat``), else the language."""

    def cls(e: dict) -> str:
        if e.get("move"):
            return str(e["move"])
        if e.get("scenario"):
            return ":".join(str(e["scenario"]).split(":")[:2])
        return str(e.get("lang", "–"))

    c = Counter((e["flag"], e["kind"], cls(e)) for e in errors)
    return [(f, k, m, n) for (f, k, m), n in c.most_common(top)]


def fmt(x: float | None, digits: int = 3) -> str:
    """A metric for display; undefined metrics show as an en dash."""
    return "–" if x is None else f"{x:.{digits}f}"


def format_table(report: dict, title: str = "") -> str:
    """Plain-text table: rows = flags, columns = P / R / F1 / support, overall and per language."""
    lines = [title] if title else []
    blocks = [("all", report.get("all", {}))] + sorted(report.get("by_lang", {}).items())
    for name, table in blocks:
        if not table:
            continue
        lines.append(f"[{name}]  macro-F1 (4 mission flags) = {fmt(table['macro_f1'])}")
        lines.append(f"  {'flag':<22}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}")
        for flag in FLAGS:
            m = table[flag]
            lines.append(f"  {flag:<22}{fmt(m['precision']):>7}{fmt(m['recall']):>7}{fmt(m['f1']):>7}{m['support']:>6}")
    return "\n".join(lines)
