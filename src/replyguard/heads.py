"""Small trained heads (logistic or one-hidden-layer MLP) stored as safetensors, run in numpy.

Training uses scikit-learn; only the arrays are kept (no pickle), so a model folder is
weights + JSON and inference needs neither sklearn nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


@dataclass
class Head:
    """x -> standardise -> [relu hidden layers] -> logit -> Platt calibration -> probability."""

    layers: list[tuple[np.ndarray, np.ndarray]]
    mean: np.ndarray
    std: np.ndarray
    calib: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0], dtype=np.float32))

    def logit(self, x: np.ndarray) -> np.ndarray:
        h = (np.asarray(x, dtype=np.float32) - self.mean) / self.std
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h.reshape(-1)

    def proba(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros(0, dtype=np.float32)
        a, b = self.calib
        return sigmoid(a * self.logit(x) + b).astype(np.float32)

    def to_tensors(self, name: str) -> dict[str, np.ndarray]:
        out = {f"{name}.mean": self.mean, f"{name}.std": self.std, f"{name}.calib": self.calib}
        for i, (w, b) in enumerate(self.layers):
            out[f"{name}.W{i}"], out[f"{name}.b{i}"] = w, b
        return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}

    @classmethod
    def from_tensors(cls, t: dict[str, np.ndarray], name: str) -> Head:
        layers = []
        i = 0
        while f"{name}.W{i}" in t:
            layers.append((t[f"{name}.W{i}"], t[f"{name}.b{i}"]))
            i += 1
        if not layers:
            raise KeyError(f"no head named {name!r} in weights")
        return cls(layers, t[f"{name}.mean"], t[f"{name}.std"], t[f"{name}.calib"])

    @classmethod
    def from_sklearn(cls, est, mean: np.ndarray, std: np.ndarray) -> Head:
        """Copy weights out of a fitted LogisticRegression or MLPClassifier (binary)."""
        if hasattr(est, "coefs_"):
            layers = [(w.astype(np.float32), b.astype(np.float32))
                      for w, b in zip(est.coefs_, est.intercepts_)]
        else:
            layers = [(est.coef_.T.astype(np.float32), est.intercept_.astype(np.float32))]
        return cls(layers, mean.astype(np.float32), std.astype(np.float32))


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    std = x.std(0)
    return mean.astype(np.float32), np.where(std < 1e-6, 1.0, std).astype(np.float32)


def platt(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fit p = sigmoid(a*logit + b) on held-out data (Platt scaling)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(y.tolist())) < 2:
        return np.array([1.0, 0.0], dtype=np.float32)
    lr = LogisticRegression(C=100.0).fit(logits.reshape(-1, 1), y)
    return np.array([lr.coef_[0, 0], lr.intercept_[0]], dtype=np.float32)
