"""Calibration: a raw model probability mapped to one that means what it says (0.8 = right 80 % of the time).

Fitted on development labels by `quality train calibration`, stored as a small JSON file beside
the head it calibrates and declared in the manifest with its own version, so a refit is a new,
checksummed, reported model. Methods:
  - platt: sigmoid(a * logit(p) + b), two numbers, smooth, good when the raw model is only
    over- or under-confident;
  - isotonic: a monotone step function (scikit-learn), for any monotone distortion, given
    enough labels;
  - identity: no change (what a dimension without labels uses).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

METHODS = ("platt", "isotonic", "identity")
EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class Calibration:
    method: str
    params: dict = field(default_factory=dict)
    version: str = "identity"
    meta: dict = field(default_factory=dict)

    def apply(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=np.float64)
        if self.method == "platt":
            return 1.0 / (1.0 + np.exp(-(self.params["a"] * _logit(p) + self.params["b"])))
        if self.method == "isotonic":
            return np.interp(p, self.params["x"], self.params["y"])
        return p

    @classmethod
    def fit(cls, method: str, p_raw: np.ndarray, labels: np.ndarray, version: str = "", meta: dict | None = None
            ) -> "Calibration":
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r} (one of {', '.join(METHODS)})")
        labels = np.asarray(labels).astype(int)
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(p_raw)[:, None], labels)
            params = {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])}
        elif method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(p_raw, labels)
            params = {"x": [float(v) for v in model.X_thresholds_], "y": [float(v) for v in model.y_thresholds_]}
        else:
            params = {}
        return cls(method, params, version or method, meta or {})

    @classmethod
    def load(cls, path: Path) -> "Calibration":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("method") not in METHODS:
            raise ValueError(f"{path}: unknown calibration method {data.get('method')!r}")
        return cls(data["method"], data.get("params", {}), data.get("version", ""), data.get("meta", {}))

    def save(self, path: Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        payload = {"method": self.method, "version": self.version, "params": self.params, "meta": self.meta}
        Path(path).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


IDENTITY = Calibration("identity")


def cross_fitted(method: str, p_raw: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 13) -> np.ndarray:
    """Out-of-fold calibrated probabilities: each row calibrated by a map fitted without it."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros(len(p_raw))
    for fit_rows, test_rows in StratifiedKFold(folds, shuffle=True, random_state=seed).split(p_raw, labels):
        out[test_rows] = Calibration.fit(method, p_raw[fit_rows], labels[fit_rows]).apply(p_raw[test_rows])
    return out


def load_calibration(store, name: str) -> Calibration:
    """The calibration declared as `name` in the manifest (its `calibration` file), else identity."""
    if name not in {entry.name for entry in store.manifest.models}:
        return IDENTITY
    return store.get(name, lambda s: Calibration.load(s.path(name, "calibration")))
