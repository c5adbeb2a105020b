"""Paired comparison of two pair models' relevance on the eval_only sets (fake pair models)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))
eval_only = pytest.importorskip("eval_only")
pytestmark = pytest.mark.skipif(not (eval_only.DATA / "ecd_sample").exists(), reason="eval_only data not present")


class _LengthPair:
    """A stand-in pair model: the non_answer logit is the reply's length (times ``sign``)."""

    def __init__(self, sign: float) -> None:
        self.sign = sign

    def logits(self, pairs):
        return np.array([[self.sign * len(r)] + [0.0] * 4 for _, r in pairs])


def test_paired_relevance_difference_of_a_model_with_itself_is_zero():
    d = eval_only.compare_pair_relevance(_LengthPair(1), _LengthPair(1), n_ecd=5, n_dd=3, resamples=50)
    for k in ("ecd_R10@1", "dailydialog_adversarial_auc"):
        assert d[k]["diff"] == 0 and d[k]["diff_ci"] == [0.0, 0.0] and d[k]["p_ahead"] == 0
    assert d["ecd_R10@1"]["contexts"] == 5 and d["dailydialog_adversarial_auc"]["paragraphs"] == 3


def test_paired_relevance_difference_is_b_minus_a_with_an_interval_around_it():
    d = eval_only.compare_pair_relevance(_LengthPair(1), _LengthPair(-1), n_ecd=8, n_dd=4, resamples=200)
    auc = d["dailydialog_adversarial_auc"]
    assert auc["b"] == pytest.approx(1 - auc["a"], abs=1e-3)  # the reversed score
    assert auc["diff"] == pytest.approx(auc["b"] - auc["a"], abs=1e-3)
    for k in ("ecd_R10@1", "dailydialog_adversarial_auc"):
        lo, hi = d[k]["diff_ci"]
        assert lo <= d[k]["diff"] <= hi and 0 <= d[k]["p_ahead"] <= 1
