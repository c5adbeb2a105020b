"""The Ray engine on a local Ray instance: line-for-line equal to the local engine, one model per actor."""

from functools import partial

import pytest

from replyguard.batch import LocalEngine, score_file
from replyguard.schema import DEFAULT_MODEL
from tests.batch import helpers
from tests.batch.helpers import ROOT, resampled, write_jsonl

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    # workers import tests.batch.helpers (the factory) from the repository
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield
    ray.shutdown()


def test_ray_engine_equals_local_engine(local_ray, tmp_path, tiny_model, tiny_analyzer):
    from replyguard.batch_ray import RayEngine

    rows = resampled(90, seed=5)
    rows.insert(10, {"id": "bad"})
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    local = score_file(inp, tmp_path / "local.jsonl", LocalEngine(tiny_analyzer), chunk_size=8)
    markers = tmp_path / "loads"
    markers.mkdir()
    engine = RayEngine(partial(helpers.tiny_analyzer, str(tiny_model), str(markers)), workers=2,
                       stage_dir=tmp_path / "stage")
    res = score_file(inp, tmp_path / "ray.jsonl", engine, chunk_size=8)
    assert (tmp_path / "ray.jsonl").read_bytes().splitlines() == (tmp_path / "local.jsonl").read_bytes().splitlines()
    assert (res.scored, res.bad, res.chunks) == (local.scored, local.bad, local.chunks) == (90, 1, 12)
    assert (tmp_path / "ray.errors.jsonl").read_text() == (tmp_path / "local.errors.jsonl").read_text()
    assert 1 <= len(list(markers.iterdir())) <= 2  # one model per actor, not per chunk
    assert list((tmp_path / "stage").iterdir()) == []  # the staged chunks are gone



def test_cli_ray_engine_with_the_real_model(local_ray, tmp_path):
    """`--engine ray` end to end: the actors load the real model by path; output equals the local engine's."""
    from typer.testing import CliRunner

    from replyguard import cli
    from replyguard.analyzer import resolve_model

    try:
        resolve_model(DEFAULT_MODEL)
    except FileNotFoundError:
        pytest.skip("the default model is not trained")
    inp = write_jsonl(tmp_path / "in.jsonl", resampled(12, seed=9))
    runner = CliRunner()
    for engine in ("local", "ray"):
        res = runner.invoke(cli.app, ["score", str(inp), "-o", str(tmp_path / f"{engine}.jsonl"), "--engine", engine,
                                      "--workers", "1", "--chunk-size", "4"])
        assert res.exit_code == 0, res.output
    assert (tmp_path / "ray.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
