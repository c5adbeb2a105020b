"""Training smoke test: the committed tiny set trains a working model in seconds."""

import json

import pytest

from replyguard.analyzer import Analyzer, ModelFolder
from replyguard.evaluate import evaluate
from replyguard.io import read_conversations
from replyguard.schema import DEFAULT_MODEL, FLAGS
from tests.conftest import TINY


def test_tiny_training_writes_a_self_describing_folder(tiny_model):
    config = json.loads((tiny_model / "config.json").read_text())
    assert set(config["detectors"]) == {f"{f}.v1" for f in FLAGS}
    assert (tiny_model / "heads.safetensors").exists()
    assert not list(tiny_model.glob("*.pkl"))
    for spec in config["detectors"].values():
        assert 0.0 < spec["threshold"] < 1.0


def test_tiny_model_scores_heldout_above_floor(tiny_model, hash_encoder):
    analyzer = Analyzer(ModelFolder.load(tiny_model), hash_encoder)
    gold = [c for _, c in read_conversations(TINY / "heldout.jsonl", gold=True)]
    report = evaluate(gold, analyzer.score(gold))
    # a hashed-n-gram encoder and 200 conversations: far from the real model, but the
    # structure features alone (repeats, stock signals) must carry these flags
    assert report["all"]["macro_f1"] >= 0.38, report["all"]
    assert report["all"]["boilerplate"]["f1"] >= 0.5
    assert report["all"]["non_answer"]["f1"] >= 0.45


@pytest.mark.slow
def test_training_with_a_pair_model_records_the_adapter(tmp_path, hash_encoder):
    """Flag heads over the shipped pair adapter: the config names it with its checksum and the
    folder loads with the pair features in every detector."""
    from replyguard.encoder_build import sha256
    from training.train import TrainArgs, main

    adapter = ModelFolder.load(DEFAULT_MODEL).pair_dir
    out = tmp_path / "tiny-pair"
    main(TrainArgs(data=str(TINY), out=str(out), name="tiny-pair", hidden=8, pair=str(adapter)), encoder=hash_encoder)
    config = json.loads((out / "config.json").read_text())
    assert config["pair"]["adapter"] == adapter.name
    assert config["pair"]["sha256"] == sha256(adapter / "adapter_model.safetensors")
    folder = ModelFolder.load(out)
    assert folder.pair_dir is not None and all(d.pair for d in folder.detectors)
