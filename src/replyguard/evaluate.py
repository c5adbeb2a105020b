"""Evaluation against gold files: per-flag precision / recall / F1, per language."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable

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
             on_error: Callable[[dict], None] | None = None) -> dict:
    """Compare predictions with gold labels; flags listed in a turn's ``skip`` are not scored.

    Returns ``{"all": {flag: prf, "macro_f1": x}, "by_lang": {lang: {...}}, "turns": n}``;
    ``macro_f1`` averages the four mission flags (all but ``defensive``) that are defined
    on the set (a flag with neither gold nor predicted positives has no F1).
    ``on_error`` receives every false positive / negative with its context.
    """
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
