from __future__ import annotations

import os
from pathlib import Path

import pytest

from replyguard.schema import DEFAULT_MODEL
from tests.utils.fixtures import HashEncoder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny"
ACCEPTANCE = ROOT.parent / "shared" / "acceptance" / "cases.jsonl"


@pytest.fixture(scope="session")
def hash_encoder() -> HashEncoder:
    return HashEncoder()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, hash_encoder) -> Path:
    """A model folder trained in seconds on the committed tiny set with the hash encoder."""
    from training.train import TrainArgs, main

    out = tmp_path_factory.mktemp("models") / "tiny"
    # logistic heads only: the MLP candidates of ``choose_head`` would add a minute of fits on
    # 200 conversations; test_mine covers the choice between them
    main(TrainArgs(data=str(TINY), out=str(out), name="tiny", hidden=0), encoder=hash_encoder)
    return out


@pytest.fixture(scope="session")
def tiny_analyzer(tiny_model, hash_encoder):
    from replyguard.analyzer import Analyzer, ModelFolder

    return Analyzer(ModelFolder.load(tiny_model), hash_encoder)


@pytest.fixture(scope="session")
def real_analyzer():
    from replyguard.analyzer import Analyzer

    return Analyzer.load(DEFAULT_MODEL)
