"""The politeness head: a linear map from the USE embedding to politeness, squashed to [0, 1]."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.artifacts import read_head_file, write_head_file


@dataclass(frozen=True)
class PolitenessHead:
    weight: np.ndarray
    bias: float
    scale: float
    version: str

    @classmethod
    def load(cls, path: Path) -> "PolitenessHead":
        arrays, meta = read_head_file(path)
        return cls(weight=arrays["weight"].astype(np.float32), bias=meta["bias"], scale=meta["scale"],
                   version=meta["version"])

    def save(self, path: Path) -> None:
        write_head_file(path, {"bias": self.bias, "scale": self.scale, "version": self.version},
                        weight=self.weight.astype(np.float32))

    def raw(self, embeddings: np.ndarray) -> np.ndarray:
        """The predicted normalised politeness score (z-scale of the Stanford annotations)."""
        return embeddings.astype(np.float64) @ self.weight.astype(np.float64) + self.bias

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.scale * self.raw(embeddings)))
