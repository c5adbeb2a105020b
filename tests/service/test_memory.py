"""What keeps a worker's memory flat under a stream of new drafts (see service/README.md, Latency)."""

from __future__ import annotations

import sys
from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from service.memory import SparseWeights, drop_word_caches


def _tokenizer() -> SimpleNamespace:
    return SimpleNamespace(backend_tokenizer=SimpleNamespace(model=MagicMock()))


def test_the_word_caches_of_both_tokenizers_are_turned_off():
    enc_tok, pair_tok = _tokenizer(), _tokenizer()
    analyzer = SimpleNamespace(encoder=SimpleNamespace(model=SimpleNamespace(tokenizer=enc_tok)),
                               pair=SimpleNamespace(tokenizer=pair_tok))
    assert drop_word_caches(analyzer) == 2
    for tok in (enc_tok, pair_tok):
        tok.backend_tokenizer.model._resize_cache.assert_called_once_with(0)


def test_a_shared_tokenizer_is_handled_once_and_fixture_models_are_left_alone(tiny_analyzer):
    tok = _tokenizer()
    shared = SimpleNamespace(encoder=SimpleNamespace(model=SimpleNamespace(tokenizer=tok)),
                             pair=SimpleNamespace(tokenizer=tok))
    assert drop_word_caches(shared) == 1
    assert drop_word_caches(tiny_analyzer) == 0  # hash encoder, no pair model: nothing to do


def test_the_installed_tokenizers_have_the_switch():
    """e5's tokenizer is a Unigram model; without this method the caches would stay on silently."""
    from tokenizers import Tokenizer
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0)], 0))
    before = tok.encode("ab ba").tokens
    tok.model._resize_cache(0)
    assert tok.encode("ab ba").tokens == tok.encode("ab ba").tokens == before


def _mapped_rss_kb(lo: int, hi: int) -> int:
    """Resident kB of the mapping that holds [lo, hi)."""
    cur = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                a, b = (int(x, 16) for x in head[0].split("-"))
                cur = a <= lo and hi <= b
            elif cur and head[0] == "Rss:":
                return int(head[1])
    raise AssertionError("mapping not found")


@pytest.fixture()
def mapped_table(tmp_path):
    """An embedding table memory-mapped from a weights file (privately, as model loaders map it)."""
    import torch

    rows, dim = 4096, 256  # 4 MB
    path = tmp_path / "weights.bin"
    torch.arange(rows * dim, dtype=torch.float32).numpy().tofile(path)
    weight = torch.from_file(str(path), shared=False, size=rows * dim, dtype=torch.float32).view(rows, dim)
    return torch.nn.Embedding.from_pretrained(weight, freeze=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_rows_read_from_a_mapped_table_are_handed_back_unchanged(mapped_table):
    import torch

    analyzer = SimpleNamespace(encoder=SimpleNamespace(model=torch.nn.Sequential(mapped_table)), pair=None)
    sparse = SparseWeights.of(analyzer, min_bytes=1 << 20)
    assert len(sparse.ranges) == 1
    lo, hi = sparse.ranges[0]
    ids = torch.arange(0, 4096, 7)
    before = mapped_table(ids).clone()
    assert _mapped_rss_kb(lo, hi) > 1000  # the rows read are resident
    assert sparse.release() == hi - lo
    assert _mapped_rss_kb(lo, hi) < 100
    assert torch.equal(mapped_table(ids), before)  # read again from the file, the same values


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_table_written_in_the_process_or_not_mapped_is_left_alone(mapped_table):
    import torch

    with torch.no_grad():
        mapped_table.weight[3, 0] = -1.0  # a private copy of that page now exists only in memory
    sparse = SparseWeights.from_tensors([mapped_table.weight])
    assert sparse.release() == 0
    assert mapped_table.weight[3, 0].item() == -1.0
    assert SparseWeights.from_tensors([torch.zeros(1 << 20)]).ranges == []


def test_the_model_lane_runs_the_trim_hook_and_survives_a_failing_one():
    import asyncio

    from service.runner import ModelRunner

    calls = []

    def hook():
        calls.append(1)
        raise OSError("no /proc here")

    runner = ModelRunner(timeout_s=5, max_queue=10, batchers={"check": lambda xs: xs}, on_trim=hook)
    runner.trim_every_s = 0.0
    try:
        assert [asyncio.run(runner.batched("check", i)) for i in range(3)] == [0, 1, 2]
    finally:
        runner.close()
    assert len(calls) >= 2
