from __future__ import annotations

import pytest
from typer.testing import CliRunner

from replyguard import cli
from tests.batch.helpers import resampled, write_jsonl


@pytest.fixture()
def runner(monkeypatch, tiny_analyzer):
    """The CLI with every model name resolved to the tiny analyzer (as in tests/test_cli.py)."""
    monkeypatch.setattr(cli, "_load", lambda model: tiny_analyzer)
    return CliRunner()


@pytest.fixture(scope="session")
def convs() -> list[dict]:
    """120 conversations with agents and channels, resampled from the tiny held-out set."""
    return resampled(120)


@pytest.fixture()
def convs_file(tmp_path, convs):
    return write_jsonl(tmp_path / "in.jsonl", convs)
