"""Embeddings of texts met recently, least recently used out first.

The replies of one thread arrive one after another, each with the same parent: the parent's
embedding is computed once and reused while it stays among the `capacity` most recent texts.
Missing texts are encoded in one call. Safe to share between threads (the encoder call runs
outside the lock; two threads may both encode a text they both miss, and keep either result).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np


class EmbeddingCache:
    def __init__(self, encode: Callable[[list[str]], np.ndarray], capacity: int = 2048):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._encode = encode
        self.capacity = capacity
        self._rows: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._rows)

    def embed(self, texts: list[str]) -> list[np.ndarray]:
        """One row per text, in order (each distinct missing text encoded once, in one call)."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._rows and text not in found:
                    self._rows.move_to_end(text)
                    found[text] = self._rows[text]
            missing = sorted(set(texts) - set(found))
            self.hits += len(found)
            self.misses += len(missing)
        if missing:
            encoded = dict(zip(missing, np.asarray(self._encode(missing), dtype=np.float32)))
            found.update(encoded)
            with self._lock:
                for text, row in encoded.items():
                    self._rows[text] = row
                    self._rows.move_to_end(text)
                while len(self._rows) > self.capacity:
                    self._rows.popitem(last=False)
        return [found[text] for text in texts]
