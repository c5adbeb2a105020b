"""Weight-space average of LoRA adapters: the stored low-rank update equals the average of the
adapters' updates exactly, and mismatched adapters are refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.numpy import save_file

from training.soup_pair import soup

PREFIX = "base_model.model.bert.encoder.layer.0.attention.self.query"


def _adapter(path, seed: int, r: int = 4, alpha: int = 8):
    rng = np.random.default_rng(seed)
    path.mkdir()
    save_file({f"{PREFIX}.lora_A.weight": rng.normal(size=(r, 6)).astype(np.float32),
               f"{PREFIX}.lora_B.weight": rng.normal(size=(6, r)).astype(np.float32),
               "base_model.model.classifier.weight": rng.normal(size=(5, 6)).astype(np.float32)},
              str(path / "adapter_model.safetensors"))
    (path / "adapter_config.json").write_text(json.dumps({
        "base_model_name_or_path": "e5", "r": r, "lora_alpha": alpha, "target_modules": "q",
        "modules_to_save": ["classifier"], "peft_type": "LORA"}))
    return path


def _update(t: dict, cfg: dict) -> np.ndarray:
    return cfg["lora_alpha"] / cfg["r"] * t[f"{PREFIX}.lora_B.weight"] @ t[f"{PREFIX}.lora_A.weight"]


def test_soup_update_is_the_weighted_average(tmp_path):
    from safetensors.numpy import load_file

    a, b = _adapter(tmp_path / "a", 0), _adapter(tmp_path / "b", 1)
    tensors, cfg = soup([a, b], [0.3, 0.7])
    ta, tb = (load_file(str(p / "adapter_model.safetensors")) for p in (a, b))
    ca = json.loads((a / "adapter_config.json").read_text())
    expected = 0.3 * _update(ta, ca) + 0.7 * _update(tb, ca)
    assert cfg["r"] == 8 and cfg["lora_alpha"] == 16
    np.testing.assert_allclose(_update(tensors, cfg), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tensors["base_model.model.classifier.weight"],
                               0.3 * ta["base_model.model.classifier.weight"]
                               + 0.7 * tb["base_model.model.classifier.weight"], rtol=1e-6)


def test_soup_refuses_mismatched_adapters(tmp_path):
    a, b = _adapter(tmp_path / "a", 0), _adapter(tmp_path / "b", 1, r=2, alpha=4)
    with pytest.raises(SystemExit, match="differ in"):
        soup([a, b], [0.5, 0.5])
    with pytest.raises(SystemExit, match="sum to 1"):
        soup([a, a], [0.5, 0.6])
