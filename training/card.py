"""Evaluate a model folder everywhere and write its card (README.md) and metrics.json.

Sets: the held-out split (scenarios no training step saw), the acceptance cases, and the
eval_only sets; each side by side with the rule baseline and, when given, a previous model.

    python -m training.card [--model NAME] [--previous OLD_MODEL_DIR] [--compare OTHER_DIR ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from replyguard.analyzer import Analyzer, resolve_model
from replyguard.batch import score_chunked
from replyguard.context import build_contexts
from replyguard.evaluate import Outcomes, evaluate, fmt
from replyguard.io import RecordError, read_conversations
from replyguard.rules import RuleAnalyzer
from replyguard.schema import DEFAULT_MODEL, FLAGS
from training.build_data import hard_family
from training.train import ece, head_name

ROOT = Path(__file__).resolve().parents[1]
ACCEPTANCE = ROOT.parent / "shared" / "acceptance" / "cases.jsonl"
HELDOUT = ROOT / "data" / "generated" / "heldout.jsonl"
NEWEST_PASS = "voice"  # hard-case family of the latest data pass (training.build_data)


def load_gold(path: Path) -> list:
    return [c for _, c in read_conversations(path, gold=True) if not isinstance(c, RecordError)]


RESAMPLES = 1000  # bootstrap resamples of reply lines for intervals (replyguard.evaluate.Outcomes)


def calibration(analyzer: Analyzer, gold: list) -> dict:
    """ECE per flag on scored (non-skipped) turns."""
    probs, ys = {f: [] for f in FLAGS}, {f: [] for f in FLAGS}
    for conv in gold:
        ctxs = build_contexts(conv, conv.lang or "en")
        for ctx, p in zip(ctxs, analyzer.probabilities(ctxs)):
            t = conv.turns[ctx.index]
            for f in FLAGS:
                if f not in t.skip:
                    probs[f].append(p[f])
                    ys[f].append(int(f in t.gold))
    return {f: ece(np.array(probs[f]), np.array(ys[f])) for f in FLAGS}


def table(rows: list[tuple[str, dict]], langs: list[str]) -> str:
    """Markdown: one row per flag, one column per (system, language) F1."""
    head = "| flag | " + " | ".join(f"{name} {lang}" for name, _ in rows for lang in langs) + " |"
    sep = "|---|" + "---|" * (len(rows) * len(langs))
    lines = [head, sep]
    for flag in list(FLAGS) + ["macro_f1"]:
        cells = []
        for _, rep in rows:
            for lang in langs:
                t = rep["all"] if lang == "all" else rep.get("by_lang", {}).get(lang)
                if not t:
                    cells.append("–")
                elif flag == "macro_f1":
                    cells.append(f"**{fmt(t['macro_f1'])}**")
                else:
                    m = t[flag]
                    pr = f" ({fmt(m['precision'], 2)}/{fmt(m['recall'], 2)})" if lang == "all" and m["f1"] is not None else ""
                    cells.append(fmt(m["f1"], 2) + pr)
        lines.append(f"| {flag} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--previous", default=None, help="previous model folder to compare with")
    ap.add_argument("--compare", nargs="*", default=[], help="other model folders to put in the tables")
    ap.add_argument("--limit", type=int, default=2000, help="examples per eval_only set")
    args = ap.parse_args()
    path = resolve_model(args.model)
    analyzer = Analyzer.load(path)
    if analyzer.pair is not None:  # every set is scored more than once: keep pair logits (disk, as training does)
        from training.train import CachedPair

        analyzer.featurize.pair = CachedPair.for_adapter(analyzer.pair, analyzer.model.pair_dir)
    systems = [("model", analyzer), ("rules", RuleAnalyzer())]
    if args.previous:
        systems.append(("previous", Analyzer.load(args.previous, encoder=analyzer.encoder)))
    for other in args.compare:
        systems.append((Path(other).name, Analyzer.load(other, encoder=analyzer.encoder)))
    heldout = load_gold(HELDOUT) if HELDOUT.exists() else []
    sets = {"heldout": heldout}
    # the same split without the newest hard-case pass: comparable with cards written before it
    earlier = [c for c in heldout if hard_family(c) != NEWEST_PASS]
    if len(earlier) < len(heldout):
        sets[f"heldout_without_{NEWEST_PASS}"] = earlier
    sets["acceptance"] = load_gold(ACCEPTANCE) if ACCEPTANCE.exists() else []
    metrics: dict = {"sets": {}}
    for name, gold in sets.items():
        if gold:
            preds = {sys_name: score_chunked(a, gold) for sys_name, a in systems}
            metrics["sets"][name] = {s: evaluate(gold, p, resamples=RESAMPLES if s == "model" else 0)
                                     for s, p in preds.items()}
            if "previous" in preds:  # paired: the same resampled reply lines for both models
                metrics.setdefault("vs_previous", {})[name] = Outcomes(
                    gold, [preds["previous"], preds["model"]]).compare(resamples=RESAMPLES)
            print(f"{name}: " + ", ".join(f"{s}={fmt(m['all']['macro_f1'])}" for s, m in metrics["sets"][name].items()))
    if sets["heldout"]:
        metrics["ece_heldout"] = calibration(analyzer, sets["heldout"])
    sys.path.insert(0, str(ROOT / "eval"))
    import eval_only

    metrics["eval_only"] = {"model": eval_only.run(str(path), args.limit, enc=analyzer.encoder, pair=analyzer.pair),
                            "rules": eval_only.rules_baseline(args.limit)}
    (path / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (path / "README.md").write_text(card(path, metrics))
    print(f"wrote {path / 'README.md'} and metrics.json")


def intervals(metrics: dict) -> list[str]:
    """Card section: the model's F1 with 95% intervals and, when a previous model was given,
    the paired difference from it, per set, flag and language."""
    parts = ["", "## How sure: 95% intervals and the difference from the previous model", "",
             f"Intervals resample whole reply lines ({RESAMPLES} draws; `replyguard.evaluate.Outcomes`): composed "
             "data and real agents send the same lines many times, and one misread line is wrong wherever it is sent, "
             "so turns are not independent evidence. *vs previous* is this model's F1 minus the previous model's on "
             "the same draws, with its interval and the share of draws in which this model is ahead."]
    for set_name, reps in metrics["sets"].items():
        rep = reps["model"]
        langs = ["all"] + sorted(rep.get("by_lang", {}))
        diff = metrics.get("vs_previous", {}).get(set_name)
        head = "| flag | " + " | ".join(f"{lang} F1 [95%]" + (f" | {lang} vs previous" if diff else "") for lang in langs) + " |"
        parts += ["", f"**{set_name}** ({rep.get('intervals', {}).get('clusters', '–')} distinct reply lines)", "",
                  head, "|---|" + "---|" * (len(langs) * (2 if diff else 1))]
        for flag in list(FLAGS) + ["macro_f1"]:
            cells = []
            for lang in langs:
                t = rep["all"] if lang == "all" else rep["by_lang"][lang]
                value, ci = (t["macro_f1"], t.get("macro_f1_ci")) if flag == "macro_f1" else (t[flag]["f1"], t[flag].get("f1_ci"))
                cells.append(fmt(value, 3) + (f" [{fmt(ci[0], 2)}, {fmt(ci[1], 2)}]" if ci else ""))
                if diff:
                    d = diff.get(lang, {}).get(flag)
                    cells.append("–" if d is None else
                                 f"{d['diff']:+.3f} [{d['diff_ci'][0]:+.2f}, {d['diff_ci'][1]:+.2f}], ahead {d['p_ahead']:.0%}")
            parts.append(f"| {'macro-F1 (mission)' if flag == 'macro_f1' else flag} | " + " | ".join(cells) + " |")
    return parts



def lexical_lines(config: dict) -> list[str]:
    """The card's lines on the lexical signals and which flag heads read them (none without)."""
    lex = config.get("lexical")
    if not lex:
        return []
    heads = "; ".join(f"`{n}`: valid-line AUC {h['valid_auc']:.4f}, {h['weights']} non-zero weights"
                      for n, h in lex["heads"].items())
    out = [f"- Lexical signals: an n-gram twin of {', '.join(f'`{n}`' for n in lex['signals'])} — logistic regression "
           "on hashed word (1–3) and character (2–4) n-grams of the Simplified-folded, lower-cased text "
           f"(`replyguard/lexical.py`), fitted on the same *train* lines as the e5 signal heads ({heads})."]
    return out + choice_lines(config, "lexical")


def line_lines(config: dict) -> list[str]:
    """The card's lines on the fine-tuned line model and which flag heads read it (none without)."""
    line = config.get("line")
    if not line:
        return []
    return [f"- Line model: `{line['adapter']}` — the same e5-small fine-tuned with LoRA adapters on the *train* "
            f"signal lines -> {', '.join(f'`{n}`' for n in line['signals'])} (`training/train_line.py`; its own card "
            "has its line metrics); its value on the reply and each segment (the highest) is an extra input "
            "a flag head may read."] + choice_lines(config, "line")


def choice_lines(config: dict, kind: str) -> list[str]:
    """Per detector: whether its head reads the ``kind`` inputs, and the unseen-line measures that decided."""
    out = []
    for name, spec in config["detectors"].items():
        c = spec.get(kind)
        if c:
            out.append(f"  `{name}` {'reads' if c['reads'] else 'does not read'} it: on unseen lines, with the same head, "
                       f"log-loss {c['without']['log_loss']:.4f} -> {c['with']['log_loss']:.4f}, F1 "
                       f"{c['without']['f1']:.3f} -> {c['with']['f1']:.3f} (it must win on both, as in the head choice).")
    return out

def card(path: Path, metrics: dict) -> str:
    config = json.loads((path / "config.json").read_text())
    td = config["training_data"]
    frozen = path.parent / f"{config.get('name', path.name)}-frozen"  # its twin without the pair model, if shipped
    parts = [f"# {config['name']}", "",
             f"Created {config['created']} by `python -m training.pipeline` (data, training, this card).", "",
             "## What it is",
             f"- Base encoder: {config['encoder']['name']} ({config['encoder']['source']}), frozen; weights sha256 "
             f"`{config['encoder']['sha256'][:16]}…`, rebuilt at setup.",
             "- Signal heads (logistic regression on e5 embeddings): customer `upset`, `settled`, `asks`; agent `ack`, "
             "`stock`, `promo`, `defensive`; pair `relevance` (question × reply).",
             "- Flag heads: one head per flag (logistic, or a one-hidden-layer MLP) over the signals plus structure "
             "(repeat similarity to earlier agent turns, lengths, segments of merged turns), Platt-calibrated on 5-fold "
             "out-of-fold predictions grouped by scenario; thresholds chosen per flag for F1 on the same predictions.",
             *([f"- Pair model: `{config['pair']['adapter']}` — the same e5-small fine-tuned as a cross-encoder on "
                "(customer message + recent context, reply) -> the five flags with LoRA adapters "
                "(`training/train_pair.py`, trained on the *train* split only); its five logits are extra inputs "
                "of every flag head."] if config.get("pair") else []),
             *lexical_lines(config),
             *line_lines(config),
             "- Weights: `heads.safetensors`; configuration, thresholds and training metrics: `config.json`.", "",
             "## Training data",
             f"- Signal heads: {td['n_signal_lines']} role-labelled lines from the *train* split of the project's "
             "scenario banks (zh-Hans, zh-Hant, en; 10 service domains) and Bitext request/reply pairs.",
             f"- Flag heads: {td['n_flag_conversations']} composed conversations from the *valid* split "
             "(scenarios the signal heads never saw), plus ABCD dialogues." +
             (f" Extra labelled files: {td['extra']}." if td.get("extra") else ""),
             "- Never trained on: the acceptance cases, the eval_only sets, the held-out split.", "",
             "## Thresholds and calibration", "",
             "| detector | threshold | OOF F1 | OOF ECE | heldout ECE |", "|---|---|---|---|---|"]
    for name, spec in config["detectors"].items():
        e = metrics.get("ece_heldout", {}).get(name.split(".")[0], float("nan"))
        parts.append(f"| {name} | {spec['threshold']:.2f} | {spec['oof_f1']:.3f} | {spec['oof_ece']:.3f} | {e:.3f} |")
    chosen = [(name, spec) for name, spec in config["detectors"].items() if "unseen_lines" in spec]
    if chosen:
        cands = list(chosen[0][1]["unseen_lines"])
        rule = chosen[0][1].get("choice")
        if rule:  # since replyguard-v12: a more complex head must win on both measures
            how = (f"the simplest candidate whose log-loss is within {rule['log_loss_within']:.0%} of the lowest, or whose "
                   f"max-F1 is within {rule['f1_within']:g} of the highest, on folds that ")
        else:
            how = "the simplest candidate whose log-loss is within 2% of the best on folds that "
        parts += ["", "## Head choice on unseen lines", "",
                  "Each flag's head is " + how +
                  "share neither scenario nor (folded) reply text with their training part (`training.train.choose_head`): "
                  "composed data reuses stock lines across scenarios, so scenario folds alone reward memorised lines. "
                  "Cells: log-loss / F1.", "",
                  "| detector | chosen | " + " | ".join(cands) + " |", "|---|---|" + "---|" * len(cands)]
        for name, spec in chosen:
            pick = head_name(spec["hidden"], spec.get("alpha", 0.0))
            parts.append(f"| {name} | {pick} | " + " | ".join(
                f"{spec['unseen_lines'][c]['log_loss']:.4f} / {spec['unseen_lines'][c]['f1']:.3f}" for c in cands) + " |")
    for set_name, reps in metrics["sets"].items():
        langs = ["all"] + sorted(reps["model"].get("by_lang", {}))
        rows = list(reps.items())
        parts += ["", f"## {set_name}: F1 per flag and language ({reps['model']['turns']} agent turns)",
                  "Cells are F1 (precision/recall for `all`); macro-F1 is over the four mission flags."
                  + (f" The held-out split without its `{NEWEST_PASS}` hard-case pass: the turns cards written before "
                     "that pass were measured on." if set_name == f"heldout_without_{NEWEST_PASS}" else ""), "",
                  table(rows, langs)]
    parts += intervals(metrics)
    eo = metrics["eval_only"]
    m, r = eo["model"], eo["rules"]
    parts += ["", "## eval_only sets (measurement only, never trained on)", "",
              "| set | measure | model | rule baseline |", "|---|---|---|---|",
              f"| ECD sample (zh) | relevance R10@1 | {m['ecd_relevance']['R10@1']:.3f} | {r['ecd_relevance']['R10@1']:.3f} |",
              f"| DailyDialog++ (en) | relevance AUC, true vs adversarial | "
              f"{m['dailydialog_relevance']['adversarial']['auc']:.3f} | {r['dailydialog_relevance']['adversarial']['auc']:.3f} |",
              f"| DailyDialog++ (en) | relevance AUC, true vs random | {m['dailydialog_relevance']['random']['auc']:.3f} | – |"]
    for k in m["chinese_sentiment_negativity"]:
        a, b = m["chinese_sentiment_negativity"][k], r["chinese_sentiment_negativity"][k]
        parts.append(f"| {k} (zh) | negativity AUC / F1 | {a['auc']:.3f} / {a['f1']:.3f} | {b['auc']:.3f} / {b['f1']:.3f} |")
    if "pair" in m:
        pm = m["pair"]
        parts += [f"| ECD sample (zh), first {pm['ecd_relevance']['contexts']} contexts | relevance R10@1, pair model | "
                  f"{pm['ecd_relevance']['R10@1']:.3f} | – |",
                  f"| DailyDialog++ (en), {pm['dailydialog_adversarial']['replies']} replies | relevance AUC true vs "
                  f"adversarial, pair model | {pm['dailydialog_adversarial']['auc']:.3f} | – |"]
    a, b = m["sms_promo"], r["sms_promo"]
    parts.append(f"| SMS spam (en) | promotion AUC / F1 | {a['auc']:.3f} / {a['f1']:.3f} | {b['auc']:.3f} / {b['f1']:.3f} |")
    parts += ["", "## Limits",
              "- The flag heads learn from composed conversations; real chats are messier. Read `replyguard eval --errors` output "
              "on your own labelled data before trusting a flag.",
              "- `missing_empathy` and `ad_to_upset_customer` depend on the `upset` signal, which is trained on customer "
              "service lines and reviewed on review sentiment only as a proxy.",
              *(["- The pair model was fine-tuned on composed conversations only; its relevance on real e-commerce logs "
                 "(ECD) is above chance but far from solved. It costs one cross-encoder pass per agent turn; "
                 + (f"`{frozen.name}` skips it." if frozen.is_dir() else
                    "a model without a pair model (such as `replyguard-v5-frozen`) skips it.")]
               if config.get("pair") else []), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    main()
