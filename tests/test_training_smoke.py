"""Training smoke test: the committed tiny set trains a working model in seconds."""

import json

from replyguard.analyzer import Analyzer, ModelFolder
from replyguard.evaluate import evaluate
from replyguard.io import read_conversations
from replyguard.schema import FLAGS
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
