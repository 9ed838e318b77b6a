"""The politeness head: a linear map from the USE embedding to politeness, squashed to [0, 1]."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PolitenessHead:
    weight: np.ndarray
    bias: float
    scale: float
    version: str

    @classmethod
    def load(cls, path: Path) -> "PolitenessHead":
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            return cls(weight=arrays["weight"].astype(np.float32), bias=meta["bias"], scale=meta["scale"],
                       version=meta["version"])

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"bias": self.bias, "scale": self.scale, "version": self.version}
        with open(path, "wb") as handle:
            np.savez_compressed(handle, weight=self.weight.astype(np.float32), meta=np.array(json.dumps(meta)))

    def raw(self, embeddings: np.ndarray) -> np.ndarray:
        """The predicted normalised politeness score (z-scale of the Stanford annotations)."""
        return embeddings.astype(np.float64) @ self.weight.astype(np.float64) + self.bias

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.scale * self.raw(embeddings)))
