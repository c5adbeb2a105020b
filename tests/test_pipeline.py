"""The regeneration plan: each recipe composes the data its models were trained on and its
heads read the pair model they shipped with."""

from __future__ import annotations

from training import pipeline


def _args(*argv: str):
    return pipeline.parse_args(list(argv))


def _find(steps, *head):
    return [s for s in steps if s[2:2 + len(head)] == list(head)]


def test_default_recipe_rebuilds_the_default_model_on_the_four_pass_data():
    from replyguard.schema import DEFAULT_MODEL

    steps = pipeline.plan(_args(), fit_pair=False)
    (data,) = _find(steps, "training.build_data")
    assert "--contrast-scale" not in data and "--voice-scale" not in data
    heads = [s for s in _find(steps, "training.train") if "--pair" in s]
    assert len(heads) == 1 and heads[0][heads[0].index("--name") + 1] == DEFAULT_MODEL
    assert heads[0][heads[0].index("--pair") + 1] == pipeline.PAIR_VOICE
    assert not _find(steps, "training.train_pair", "fit")  # no GPU asked for: committed adapters reused
    # no frozen twin is trained for v13 (v5-frozen is the fast option that ships)
    assert len(_find(steps, "training.train")) == 1 and len(_find(steps, "training.card")) == 1


def test_v5_recipe_rebuilds_v5_on_the_two_pass_data_and_its_frozen_twin():
    steps = pipeline.plan(_args("--recipe", "v5"), fit_pair=False)
    (data,) = _find(steps, "training.build_data")
    assert data[data.index("--contrast-scale") + 1] == "0" and data[data.index("--voice-scale") + 1] == "0"
    names = [s[s.index("--name") + 1] for s in _find(steps, "training.train")]
    assert names == ["replyguard-v5-frozen", "replyguard-v5"]
    (heads,) = [s for s in _find(steps, "training.train") if "--pair" in s]
    assert heads[heads.index("--pair") + 1] == pipeline.PAIR_SOUP
    card = _find(steps, "training.card", "--model", "replyguard-v5")[0]
    assert card[card.index("--compare") + 1] == "models/replyguard-v5-frozen"


def test_v6_recipe_uses_all_passes_and_fits_pair_v4_from_pair_v3_only_when_asked():
    steps = pipeline.plan(_args("--recipe", "v6"), fit_pair=False)
    (data,) = _find(steps, "training.build_data")
    assert "--contrast-scale" not in data and data[data.index("--voice-scale") + 1] == "0"
    (heads,) = [s for s in _find(steps, "training.train") if "--pair" in s]
    assert heads[heads.index("--pair") + 1] == pipeline.PAIR and "replyguard-v6" in heads
    assert not _find(steps, "training.train_pair", "fit")

    fits = _find(pipeline.plan(_args("--recipe", "v6"), fit_pair=True), "training.train_pair", "fit")
    outs = [f[f.index("--out") + 1] for f in fits]
    assert outs == [pipeline.PAIR_BASE, pipeline.PAIR_CONTINUED, pipeline.PAIR]
    last = fits[-1]
    assert last[last.index("--init") + 1] == pipeline.PAIR_SOUP and "--focus" in last
    # pair-v2 was continued on the data of the first two passes
    v2 = fits[1]
    bundle = v2[v2.index("--bundle") + 1]
    (two,) = [s for s in _find(pipeline.plan(_args("--recipe", "v6"), fit_pair=True), "training.train_pair", "bundle")
              if s[s.index("--out") + 1] == bundle]
    two_data = two[two.index("--data") + 1]
    (built,) = [s for s in _find(pipeline.plan(_args("--recipe", "v6"), fit_pair=True), "training.build_data")
                if s[s.index("--out") + 1] == two_data]
    assert built[built.index("--contrast-scale") + 1] == "0"


def test_v9_recipe_uses_the_first_four_passes_and_continues_pair_v3_with_the_other_flags_kept():
    steps = pipeline.plan(_args("--recipe", "v9"), fit_pair=True)
    (data,) = [s for s in _find(steps, "training.build_data") if s[s.index("--out") + 1] == "data/generated"]
    assert "--contrast-scale" not in data and "--voice-scale" not in data
    assert data[data.index("--polarity-scale") + 1] == "0"
    fits = _find(steps, "training.train_pair", "fit")
    last = fits[-1]
    assert last[last.index("--out") + 1] == pipeline.PAIR_VOICE and last[last.index("--init") + 1] == pipeline.PAIR_SOUP
    focus = last[last.index("--focus") + 1:last.index("--keep")]
    assert focus == ["contrast", "defensive", "reword", "voice"]
    assert last[last.index("--keep") + 1:] == ["non_answer", "boilerplate", "ad_to_upset_customer", "missing_empathy"]
    (heads,) = [s for s in _find(steps, "training.train") if "--pair" in s]
    assert heads[heads.index("--pair") + 1] == pipeline.PAIR_VOICE and "replyguard-v9" in heads


def test_every_recipe_writes_the_data_without_the_fifth_to_seventh_passes():
    """No shipped model was trained on the fifth to seventh passes (polarity, tone, absolve), so
    every recipe turns them off, and so does the data pair-v2 is continued on."""
    for name in pipeline.RECIPES:
        (data,) = _find(pipeline.plan(_args("--recipe", name), fit_pair=False), "training.build_data", "--out",
                        "data/generated")
        for flag in ("--polarity-scale", "--tone-scale", "--absolve-scale"):
            assert data[data.index(flag) + 1] == "0", (name, flag)
    steps = pipeline.plan(_args("--recipe", "v13"), fit_pair=True)
    two = [s for s in _find(steps, "training.build_data") if s[s.index("--out") + 1].endswith("-two-passes")]
    assert two and all(two[0][two[0].index(f) + 1] == "0" for f in ("--voice-scale", "--tone-scale", "--absolve-scale"))


def test_v9_heads_are_chosen_by_log_loss_alone_and_v12_heads_by_both_measures():
    """v9 shipped before the F1 criterion of ``choose_head``: its recipe turns it off to rebuild v9."""
    (v9,) = [s for s in _find(pipeline.plan(_args("--recipe", "v9"), fit_pair=False), "training.train") if "--pair" in s]
    assert float(v9[v9.index("--f1-tolerance") + 1]) < 0
    (v12,) = [s for s in _find(pipeline.plan(_args("--recipe", "v12"), fit_pair=False), "training.train") if "--pair" in s]
    assert "--f1-tolerance" not in v12 and v12[v12.index("--name") + 1] == "replyguard-v12"
    assert v12[v12.index("--pair") + 1] == pipeline.PAIR_VOICE
    data = lambda r: _find(pipeline.plan(_args("--recipe", r), fit_pair=False), "training.build_data")  # noqa: E731
    assert data("v9") == data("v12")  # the same four-pass data


def test_v14_recipe_adds_the_line_model_trained_on_every_pass():
    """v14's flag heads learn on v13's four-pass data; its line model learns on the signal lines
    of every pass (its own data folder), refitted only when the encoders are fine-tuned."""
    steps = pipeline.plan(_args("--recipe", "v14"), fit_pair=False)
    (lines,) = _find(steps, "training.build_data", "--out", "data/generated-lines")
    assert not any(a.endswith("-scale") for a in lines)  # every pass on
    (line,) = _find(steps, "training.train_line")
    assert line[line.index("--data") + 1] == "data/generated-lines" and line[line.index("--out") + 1] == pipeline.LINE
    assert "--measure-only" in line
    assert "--measure-only" not in _find(pipeline.plan(_args("--recipe", "v14"), fit_pair=True), "training.train_line")[0]
    (heads,) = [s for s in _find(steps, "training.train") if "--pair" in s]
    assert heads[heads.index("--line") + 1] == pipeline.LINE and heads[heads.index("--data") + 1] == "data/generated"
    assert heads[heads.index("--lexical") + 1] == "defensive"
    assert steps.index(line) < steps.index(heads)
    assert not _find(pipeline.plan(_args("--recipe", "v13"), fit_pair=True), "training.train_line")
