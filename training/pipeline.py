"""Regenerate every committed model artefact: data -> pair model -> heads -> evaluation and cards.

    python -m training.pipeline [--recipe v13|v12|v9|v5|v6] [--fit-pair | --no-fit-pair]

Steps: compose the data; tokenise it for the pair model; fine-tune the pair model (LoRA) when
a GPU is present or ``--fit-pair`` is given (otherwise the committed adapters are reused and only
re-evaluated); train the flag heads with and without the pair model (``replyguard-v5`` and
``-v5-frozen``, or ``replyguard-v6`` and ``-v6-frozen``; each flag's head, logistic or an MLP with
its L2 strength, chosen on lines no candidate saw: ``training.train.choose_head``); evaluate
everything and write cards.

Five recipes: ``v5`` composes the data without the third to fifth hard-case passes
(``--contrast-scale 0 --voice-scale 0 --polarity-scale 0``) and its heads read
``replyguard-pair-v3``; ``v6`` composes the first three passes and its heads read
``replyguard-pair-v4``; ``v9`` composes the first four and its heads read
``replyguard-pair-v7``, each head chosen by unseen-line log-loss alone (``--f1-tolerance -1``);
``v12`` is v9 with heads chosen by log-loss *or* F1 (``training.train.choose_head``); ``v13`` (the
default) is v12 plus an n-gram twin of the ``defensive`` signal (``replyguard.lexical``), which a flag
head reads only where that wins on unseen lines (``training.train.train_flags``). ``v14`` is v13
plus the fine-tuned line model (``replyguard-line-v1``, ``training/train_line.py``, on the signal
lines of every data pass) offered to the heads the same way; no head took it (README history
row 23), so v14 is a measurement, not a shipped model, and the recipe is how ``replyguard-line-v1``
is regenerated (``--fit-pair``) and re-measured.
The fifth to seventh passes (``polarity``, ``tone``, ``absolve``) are composed by default but no
shipped model was trained on them (every recipe turns them off; see the README's model
history).

The pair model is made in four steps, as it was made: ``replyguard-pair-v1`` from scratch on
the conversations without the hard-case passes (``--hard-scale 0``; 7 epochs, minutes on a GPU,
hours on 2 CPU cores); ``replyguard-pair-v2`` continued from it for one epoch on the data of the
first two hard-case passes (``--contrast-scale 0``), each hard-case row seen twice and 35% of the
other rows replayed (about 25 minutes on 2 CPU cores); ``replyguard-pair-v3``, the equal-weight
average of the two (``training.soup_pair``; seconds); ``replyguard-pair-v4``, continued from v3
for one epoch on the full data in which the rows of the defensive families (``contrast``,
``defensive``, ``reword``) are seen twice and 25% of the others replayed (about 15 minutes on
2 CPU cores), which v6's heads read; ``replyguard-pair-v7``, continued from v3 the same way on the
four-pass data with the ``voice`` family focused too and the four other flags held to pair-v3's
logits (``--keep``; about 16 minutes on 2 CPU cores), which v9's heads read.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

PAIR_BASE = "models/replyguard-pair-v1"
PAIR_CONTINUED = "models/replyguard-pair-v2"
PAIR_SOUP = "models/replyguard-pair-v3"  # the average of PAIR_BASE and PAIR_CONTINUED
PAIR = "models/replyguard-pair-v4"  # PAIR_SOUP continued on the defensive families
PAIR_VOICE = "models/replyguard-pair-v7"  # PAIR_SOUP continued on them and the voice pass, other flags kept
LINE = "models/replyguard-line-v1"  # the line model (training/train_line.py), on the lines of every pass
CONTINUE = ["--epochs", "1", "--lr", "3e-4", "--hard-repeat", "2", "--replay", "0.35", "--max-eval", "3000"]
FOCUS = ["--epochs", "1", "--lr", "3e-4", "--hard-repeat", "2", "--replay", "0.25", "--max-eval", "3000",
         "--focus", "contrast", "defensive", "reword"]
KEEP = ["--keep", "non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy"]
# v9 and v12: the first four passes, heads over pair-v7 (v5-frozen stays the fast option)
FOUR_PASS = {"passes": ["--polarity-scale", "0", "--tone-scale", "0", "--absolve-scale", "0"], "pair": PAIR_VOICE,
             "pair_fit": [*FOCUS, "voice", *KEEP], "frozen": False}
RECIPES = {
    "v5": {"name": "replyguard-v5", "previous": "models/replyguard-v4",
           "passes": ["--contrast-scale", "0", "--voice-scale", "0", "--polarity-scale", "0", "--tone-scale", "0",
                      "--absolve-scale", "0"],
           "pair": PAIR_SOUP, "pair_fit": None, "frozen": True},
    "v6": {"name": "replyguard-v6", "previous": "models/replyguard-v5", "passes": ["--voice-scale", "0", "--polarity-scale", "0", "--tone-scale", "0",
                                                                        "--absolve-scale", "0"],
           "pair": PAIR, "pair_fit": FOCUS, "frozen": True},
    "v9": {**FOUR_PASS, "name": "replyguard-v9", "previous": "models/replyguard-v5", "compare": ["models/replyguard-v6"],
           "train": ["--f1-tolerance", "-1"]},  # heads chosen by log-loss alone
    "v12": {**FOUR_PASS, "name": "replyguard-v12", "previous": "models/replyguard-v9"},
    # v12 plus an n-gram twin of the defensive signal, read by the heads where it wins on unseen lines
    "v13": {**FOUR_PASS, "name": "replyguard-v13", "previous": "models/replyguard-v12", "train": ["--lexical", "defensive"]},
    # v13 plus the fine-tuned line model (trained on the signal lines of every pass), read where it wins
    "v14": {**FOUR_PASS, "name": "replyguard-v14", "previous": "models/replyguard-v13",
            "train": ["--lexical", "defensive", "--line", LINE], "line": True},
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", choices=sorted(RECIPES), default="v13",
                    help="v5: two hard-case passes, heads over pair-v3; v6: three passes, heads over pair-v4; "
                         "v9: four passes, heads over pair-v7 chosen by log-loss; "
                         "v12: the same, heads chosen by log-loss or F1; "
                         "v13 (default): v12 plus the n-gram twin of the defensive signal; "
                         "v14: v13 plus the line model (not shipped)")
    ap.add_argument("--name", default=None, help="model name (default: the recipe's)")
    ap.add_argument("--previous", default=None, help="previous model folder for the card (default: the recipe's)")
    ap.add_argument("--data", default="data/generated")
    ap.add_argument("--bundle", default="build/pair-bundle")
    ap.add_argument("--fit-pair", action=argparse.BooleanOptionalAction, default=None,
                    help="fine-tune the pair model, and the line model where the recipe has one "
                         "(default: only when a GPU is available)")
    return ap.parse_args(argv)


def plan(args: argparse.Namespace, fit_pair: bool) -> list[list[str]]:
    """The commands of one run, in order."""
    recipe = RECIPES[args.recipe]
    name = args.name or recipe["name"]
    previous = args.previous if args.previous is not None else recipe["previous"]
    pair = recipe["pair"]
    py = sys.executable
    frozen = f"{name}-frozen"
    # the twin without the pair model (trained and carded only when the recipe ships one)
    twin_train = [[py, "-m", "training.train", "--data", args.data, "--out", f"models/{frozen}", "--name", frozen]]
    twin_card = [[py, "-m", "training.card", "--model", frozen]]
    if not recipe["frozen"]:
        twin_train = twin_card = []
    # other models in the card's tables: the recipe's list, else the twin when there is one
    compare = recipe.get("compare", [f"models/{frozen}"] if recipe["frozen"] else [])
    base_data, base_bundle = f"{args.data}-base", f"{args.bundle}-base"
    two_data, two_bundle = f"{args.data}-two-passes", f"{args.bundle}-two-passes"
    fit_steps = [
        [py, "-m", "training.build_data", "--out", base_data, "--hard-scale", "0"],
        [py, "-m", "training.train_pair", "bundle", "--data", base_data, "--out", base_bundle],
        [py, "-m", "training.train_pair", "fit", "--bundle", base_bundle, "--out", PAIR_BASE],
        [py, "-m", "training.build_data", "--out", two_data, "--contrast-scale", "0", "--voice-scale", "0",
         "--polarity-scale", "0", "--tone-scale", "0", "--absolve-scale", "0"],
        [py, "-m", "training.train_pair", "bundle", "--data", two_data, "--out", two_bundle],
        [py, "-m", "training.train_pair", "fit", "--bundle", two_bundle, "--out", PAIR_CONTINUED,
         "--init", PAIR_BASE, *CONTINUE],
    ]
    # the line model learns from the signal lines of every data pass (its own data folder);
    # fitted when the encoders are fine-tuned, otherwise the committed adapter is re-measured
    line_data = f"{args.data}-lines"
    line_steps = [[py, "-m", "training.build_data", "--out", line_data],
                  [py, "-m", "training.train_line", "--data", line_data, "--out", LINE,
                   *([] if fit_pair else ["--measure-only"])]] if recipe.get("line") else []
    focus_step = [py, "-m", "training.train_pair", "fit", "--bundle", args.bundle, "--out", pair, "--init", PAIR_SOUP,
                  *(recipe["pair_fit"] or [])]
    steps = [
        [py, "-m", "training.build_data", "--out", args.data, *recipe["passes"]],
        [py, "-m", "training.train_pair", "bundle", "--data", args.data, "--out", args.bundle],
        *(fit_steps if fit_pair else []),
        [py, "-m", "training.soup_pair", "--adapters", PAIR_BASE, PAIR_CONTINUED, "--out", PAIR_SOUP],
        *([focus_step] if fit_pair and recipe["pair_fit"] else []),
        [py, "-m", "training.train_pair", "card", "--adapter", pair, "--data", args.data, "--bundle", args.bundle],
        *line_steps,
        *twin_train,
        [py, "-m", "training.train", "--data", args.data, "--out", f"models/{name}", "--name", name,
         "--pair", pair, *recipe.get("train", [])],
        *twin_card,
        [py, "-m", "training.card", "--model", name, *(["--compare", *compare] if compare else []),
         *(["--previous", previous] if previous else [])],
    ]
    return steps


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    fit_pair = args.fit_pair
    if fit_pair is None:
        import torch

        fit_pair = torch.cuda.is_available()
    steps = plan(args, fit_pair)
    for i, cmd in enumerate(steps, 1):
        print(f"== step {i}/{len(steps)}: {' '.join(cmd[2:])}", flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
