"""Perceived technical quality of a photo: a head trained on people's ratings (CLIVE MOS).

The head (`models/photo-quality/head.npz`, trained by `train/photo_quality.py`) reads the pooled
EfficientNet-Lite0 stages of `quality.image.quality_features` and predicts the photo's mean
opinion score on CLIVE's 0-100 scale (higher = better: sharp, clean, well exposed). Two forms,
named in the file's metadata: `mlp` (6240 -> 64 -> 1, GELU; the shipped one) and `ridge`;
`stacked` (written by `quality train photo-quality`) is a ridge on the features plus a weight on
an `mlp` head's prediction, fitted to an operator's own judges.
`score` maps the prediction to [0, 1] by the MOS range of the training ratings.
Prediction is numpy only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quality.artifacts import read_head_file
from quality.image.quality_features import FEATURE_DIM


def gelu(h: np.ndarray) -> np.ndarray:
    return 0.5 * h * (1 + np.tanh(0.7978845608 * (h + 0.044715 * h**3)))


def mlp_predict(a: dict, features: np.ndarray) -> np.ndarray:
    h = gelu(((np.asarray(features, np.float32) - a["mean"]) / a["scale"]) @ a["w1"] + a["b1"])
    return (h @ a["w2"] + a["b2"]) * a["y_scale"] + a["y_mean"]


def ridge_predict(a: dict, features: np.ndarray) -> np.ndarray:
    return ((np.asarray(features, np.float64) - a["mean"]) / a["scale"]) @ a["coef"] + a["intercept"]


def stacked_predict(a: dict, features: np.ndarray) -> np.ndarray:
    base = mlp_predict({key[len("base_"):]: value for key, value in a.items() if key.startswith("base_")}, features)
    return a["stack_weight"] * base + ridge_predict(a, features)


PREDICT = {"mlp": mlp_predict, "ridge": ridge_predict, "stacked": stacked_predict}


class PerceivedQualityHead:
    def __init__(self, arrays: dict, meta: dict):
        if meta.get("head") not in PREDICT:
            raise ValueError(f"unknown perceived-quality head {meta.get('head')!r}")
        if int(arrays["mean"].shape[0]) != FEATURE_DIM:
            raise ValueError(f"head reads {arrays['mean'].shape[0]} features, the network gives {FEATURE_DIM}")
        self.arrays, self.meta = arrays, meta
        self.low, self.high = meta.get("mos_range", (0.0, 100.0))

    @classmethod
    def load(cls, path: Path) -> "PerceivedQualityHead":
        arrays, meta = read_head_file(path)
        return cls(arrays, meta)

    def mos(self, features: np.ndarray) -> np.ndarray:
        """Predicted rating (CLIVE's 0-100 MOS, or a refitted head's judges' scale; not clipped) per row."""
        return np.asarray(PREDICT[self.meta["head"]](self.arrays, np.atleast_2d(features)), float)

    def score(self, features: np.ndarray) -> np.ndarray:
        """The prediction in [0, 1]: 0 at the lowest training rating, 1 at the highest."""
        return np.clip((self.mos(features) - self.low) / (self.high - self.low), 0.0, 1.0)
