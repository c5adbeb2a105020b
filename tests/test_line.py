"""The fine-tuned line model: its place among the features, when a flag head reads it, and
(slow, on the real encoder) training, loading and scoring it the way the shipped one was."""

import json

import numpy as np
import pytest

from replyguard.context import TurnContext
from replyguard.features import ALL_FEATURES, FEATURES
from replyguard.lexical import LEXICAL_FEATURES
from replyguard.line import LINE_FEATURES, LineModel
from replyguard.pair import PAIR_FEATURES
from replyguard.schema import FLAGS
from tests.conftest import TINY
from tests.utils.fixtures import twin_table


class FakeLine:
    """Stands in for a LineModel: scores a line by the words it knows, records what it saw."""

    signals = ("defensive",)

    def __init__(self) -> None:
        self.seen: list[str] = []

    def proba(self, texts):
        self.seen += texts
        return {"defensive": {t: (0.9 if "on you" in t else 0.1) for t in texts if t.strip()}}


def ctx(reply: str) -> TurnContext:
    return TurnContext(conv_id="c", index=1, reply=reply, open_msg="Where is my parcel??", question="Where is my parcel??")


def test_line_features_sit_between_lexical_and_pair():
    start = len(FEATURES) + len(LEXICAL_FEATURES)
    assert ALL_FEATURES[start:start + len(LINE_FEATURES)] == LINE_FEATURES == ("defensive_line",)
    assert ALL_FEATURES[start + len(LINE_FEATURES):] == PAIR_FEATURES


def test_a_model_without_a_line_model_gets_zeros_there(tiny_analyzer):
    (f,) = tiny_analyzer.featurize([ctx("That's on you.")])
    assert f.x.shape == (len(FEATURES) + len(LEXICAL_FEATURES) + len(LINE_FEATURES),)
    assert f.f("defensive_line") == 0.0 and "defensive_line" not in f.seg_scores
    assert not any(d.line for d in tiny_analyzer.detectors)


def test_the_line_feature_is_the_highest_over_the_reply_and_its_segments(tiny_model, hash_encoder):
    from replyguard.analyzer import Analyzer, ModelFolder

    line = FakeLine()
    an = Analyzer(ModelFolder.load(tiny_model), hash_encoder, line=line)
    merged = "Thanks for waiting. That one is on you, I'm afraid."
    calm, blame = an.featurize([ctx("Thanks for waiting, it ships today."), ctx(merged)])
    assert calm.f("defensive_line") == pytest.approx(0.1)
    assert blame.f("defensive_line") == pytest.approx(0.9)
    assert len(blame.segments) > 1 and max(blame.seg_scores["defensive_line"]) == pytest.approx(0.9)
    assert merged in line.seen and all(s in line.seen for s in blame.segments)


@pytest.mark.parametrize("informative", [True, False])
def test_a_head_reads_the_line_model_only_when_that_wins_on_unseen_lines(informative):
    from replyguard.detectors import REGISTRY
    from training.train import train_flags

    heads, specs = train_flags(twin_table("defensive_line", informative), hidden=0, seed=0, lexical=True, line=True)
    spec = specs["defensive.v1"]
    assert spec["lexical"]["reads"] is False  # noise
    assert spec["line"]["reads"] is informative
    assert ("defensive_line" in spec["features"]) is informative
    assert heads["defensive.v1"].layers[0][0].shape[0] == len(spec["features"])
    # the measure with the line model starts from the lexical choice
    assert spec["line"]["without"] == spec["unseen_lines"][next(iter(spec["unseen_lines"]))]
    det_cls = REGISTRY["defensive.v1"]
    assert det_cls.variants()[tuple(spec["features"])] == (False, False, informative)
    for flag in FLAGS:
        if flag != "defensive":
            assert "line" not in specs[f"{flag}.v1"]


def test_a_model_whose_heads_read_a_line_model_needs_it(tiny_model, tmp_path, hash_encoder):
    import shutil

    from replyguard.analyzer import Analyzer, ModelFolder
    from replyguard.detectors import REGISTRY

    bad = tmp_path / "needs-line"
    shutil.copytree(tiny_model, bad)
    config = json.loads((bad / "config.json").read_text())
    spec = config["detectors"]["defensive.v1"]
    spec["features"] = list(REGISTRY["defensive.v1"].feature_names(line=True))
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="other features"):  # no line model named in the config
        ModelFolder.load(bad)
    config["line"] = {"adapter": "no-such-line-model", "signals": ["defensive"]}
    (bad / "config.json").write_text(json.dumps(config))
    with pytest.raises(FileNotFoundError, match="line model adapter"):
        ModelFolder.load(bad)
    adapter = tmp_path / "no-such-line-model"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    folder = ModelFolder.load(bad)
    assert folder.line_dir == adapter
    with pytest.raises(ValueError, match="line model"):
        Analyzer(folder, hash_encoder)  # without the line model loaded


def test_a_line_model_refuses_signals_it_cannot_score(tmp_path):
    with pytest.raises(ValueError, match="upset"):
        LineModel(None, None, {}, ("upset",))
    with pytest.raises(FileNotFoundError, match="line.json"):
        LineModel.read_meta(tmp_path)


def test_read_lines_merges_signals_and_drops_conflicting_labels(tmp_path):
    from training.train_line import read_lines

    rows = [{"signal": "defensive", "text": "a", "label": 1, "lang": "en"},
            {"signal": "defensive", "text": "b", "label": 0, "lang": "zh-Hans"},
            {"signal": "defensive", "text": "c", "label": 0, "lang": "en"},
            {"signal": "defensive", "text": "c", "label": 1, "lang": "en"},
            {"signal": "upset", "text": "a", "label": 1, "lang": "en"}]
    path = tmp_path / "lines.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    texts, y, m, langs = read_lines(path, ("defensive",))
    assert texts == ["a", "b", "c"] and langs == ["en", "zh-Hans", "en"]
    assert y[:, 0].tolist() == [1, 0, 0] and m[:, 0].tolist() == [True, True, False]


@pytest.mark.slow
def test_line_model_trains_loads_scores_and_feeds_a_flag_head(tmp_path, hash_encoder):
    """fit (a few steps, CPU) -> measure -> card -> LineModel.load -> training.train --line."""
    from replyguard.analyzer import Analyzer, ModelFolder
    from training import train_line
    from training.train import TrainArgs, main

    data = tmp_path / "data"
    data.mkdir()
    for split, src in (("train", "lines_train"), ("valid", "lines_valid"), ("heldout", "lines_valid")):
        (data / f"lines_{split}.jsonl").write_text((TINY / f"{src}.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "line"
    summary = train_line.fit(data, out, ("defensive",), epochs=1, lr=5e-4, rank=4, batch=16, seed=0, max_steps=3)
    assert summary["steps"] == 3 and summary["trainable_parameters"] > 0
    assert (out / "adapter_model.safetensors").stat().st_size < 5_000_000  # an adapter, not the encoder
    metrics = train_line.measure(out, data)
    assert set(metrics["defensive"]) == {"all", "en", "zh-Hans", "zh-Hant"}
    assert "held-out AP" in train_line.card(out, summary, metrics)

    lm = LineModel.load(out, share_embeddings_with=hash_encoder)
    texts = ["That's on you for not checking.", "Let me check that for you.", "", "是您自己没有备份"]
    lg = lm.logits(texts)
    assert lg.shape == (4, 1) and np.isfinite(lg).all()
    assert np.allclose(lm.logits(texts), lg)  # deterministic in eval mode
    assert set(lm.proba(texts)["defensive"]) == {t for t in texts if t}

    model = tmp_path / "tiny-line"
    config = main(TrainArgs(data=str(TINY), out=str(model), name="tiny-line", hidden=0, line=str(out)),
                  encoder=hash_encoder)
    assert config["line"]["signals"] == ["defensive"] and len(config["line"]["sha256"]) == 64
    assert "reads" in config["detectors"]["defensive.v1"]["line"]
    folder = ModelFolder.load(model)
    assert folder.line_dir == out
    an = Analyzer(folder, hash_encoder, line=lm)
    (f,) = an.featurize([ctx("That's on you for not checking.")])
    assert 0.0 < f.f("defensive_line") < 1.0
    reads = config["detectors"]["defensive.v1"]["line"]["reads"]
    assert next(d for d in folder.detectors if d.flag == "defensive").line is reads


def test_a_line_model_no_head_reads_is_not_loaded(tiny_model, tmp_path, hash_encoder):
    """A model trained with --line whose heads all declined it costs no line-model pass."""
    import shutil

    from replyguard.analyzer import Analyzer

    model = tmp_path / "declined"
    shutil.copytree(tiny_model, model)
    config = json.loads((model / "config.json").read_text())
    config["line"] = {"adapter": "unused-line-model", "signals": ["defensive"]}
    (model / "config.json").write_text(json.dumps(config))
    (tmp_path / "unused-line-model").mkdir()
    (tmp_path / "unused-line-model" / "adapter_config.json").write_text("{}")  # would not load as an adapter
    an = Analyzer.load(model, encoder=hash_encoder)
    assert an.line is None and an.featurize.line is None
