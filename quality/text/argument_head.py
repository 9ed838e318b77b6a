"""Argument-quality heads: linear utilities over a USE embedding and a few text features.

Trained on UKPConvArg2 (English argument pairs with crowd reasons) by
`python -m train.argument_heads`; weights live in
`models/argument/argument_heads.npz`. English-only labels reach Chinese through the
multilingual sentence encoder: see `models/argument/MODEL_CARD.md` for how well that
transfers and what was measured.

Each head is a utility u(text) = w . z(x) + b with x = [embedding (512), text features]
and z the stored standardisation; it was trained as a pairwise ranker (logistic
regression on feature differences), so only differences of u were learned. For a
score in [0, 1] u is mapped through sigmoid((u - median) / spread), with the median
and spread of u over all training arguments.

`argument_text_features` is the one place the interpretable features are computed,
at training and at serving time. Every feature, and so every score, depends on that
text alone (no batch statistics).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EMBEDDING_DIM = 512

# Length is counted in "word units" so that English (the training language) and Chinese
# (the serving language) sit on one scale: a Latin-script word or number is one unit, a
# CJK character is CJK_CHAR_UNITS of a unit (an English word is ~1.5 Chinese characters
# in translation; a rough, documented assumption).
CJK_CHAR_UNITS = 1.0 / 1.5

FEATURE_NAMES = (
    "log_units",  # log(1 + length in word units)
    "log_sentences",  # log(1 + sentences)
    "log_units_per_sentence",  # log(1 + mean sentence length in word units)
    "log_lines",  # log(1 + non-empty lines): paragraphs / list structure
    "log_numbers",  # log(1 + numbers in the text): figures, prices, distances
    "exclaim_share",  # share of sentence ends that are "!" (rant marker)
)

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+(?:['\u2019][A-Za-z]+)*|\d+(?:[.,]\d+)*")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
# Sentence ends: . ! ? ; and their full-width / CJK forms, an ellipsis, or a line break.
_SENTENCE_END = re.compile(r"(?:[.!?;。！？；…]+|\n)+")
_EXCLAIM_END = re.compile(r"[!！]")
_IN_NUMBER = re.compile(r"(?<=\d)[.,](?=\d)")


def text_units(text: str) -> float:
    """Length in word units: Latin words and numbers count 1, CJK characters 1/1.5."""
    return len(_LATIN_WORD.findall(text)) + CJK_CHAR_UNITS * len(_CJK.findall(text))


def _single_text_features(text: str) -> list[float]:
    text = text or ""
    units = text_units(text)
    # A decimal point or thousands separator inside a number does not end a sentence.
    splittable = _IN_NUMBER.sub("", text)
    pieces = [p for p in _SENTENCE_END.split(splittable) if text_units(p) > 0]
    n_sentences = max(len(pieces), 1) if units > 0 else 0
    ends = [m.group(0) for m in _SENTENCE_END.finditer(splittable) if m.group(0).strip()]
    exclaim = sum(1 for e in ends if _EXCLAIM_END.search(e)) / len(ends) if ends else 0.0
    lines = sum(1 for line in text.split("\n") if line.strip())
    numbers = len(_NUMBER.findall(text))
    return [
        math.log1p(units),
        math.log1p(n_sentences),
        math.log1p(units / n_sentences) if n_sentences else 0.0,
        math.log1p(lines),
        math.log1p(numbers),
        float(exclaim),
    ]


def argument_text_features(texts: list[str]) -> np.ndarray:
    """(n, len(FEATURE_NAMES)) float32; row i depends only on texts[i]."""
    if not texts:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.asarray([_single_text_features(t) for t in texts], dtype=np.float32)


@dataclass(frozen=True)
class ArgumentHead:
    name: str
    weights: np.ndarray  # (512 + n_features,) on standardised inputs
    bias: float
    mean: np.ndarray  # standardisation of [embedding, features]
    scale: np.ndarray
    median: float  # of u over all training arguments
    spread: float  # robust sd of u (IQR / 1.349) over all training arguments

    def utility(self, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != EMBEDDING_DIM:
            raise ValueError(f"embeddings must be (n, {EMBEDDING_DIM}), got {embeddings.shape}")
        if embeddings.shape[0] != len(texts):
            raise ValueError(f"{embeddings.shape[0]} embeddings for {len(texts)} texts")
        x = np.hstack([embeddings, argument_text_features(list(texts))]).astype(np.float64)
        z = (x - self.mean) / self.scale
        return z @ self.weights.astype(np.float64) + self.bias

    def score(self, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        u = self.utility(embeddings, texts)
        return 1.0 / (1.0 + np.exp(-(u - self.median) / self.spread))


@dataclass(frozen=True)
class ArgumentHeads:
    """All heads from one npz, plus which head to use for each service dimension."""

    heads: dict[str, ArgumentHead]
    recommended: dict[str, str]  # dimension -> head name (the general head where a specialised one did not beat it)
    meta: dict

    @classmethod
    def load(cls, path: Path | str) -> "ArgumentHeads":
        with np.load(Path(path), allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            if tuple(meta["feature_names"]) != FEATURE_NAMES:
                raise ValueError(
                    f"{path} was trained with features {meta['feature_names']}, this code computes {FEATURE_NAMES}"
                )
            if float(meta.get("cjk_char_units", CJK_CHAR_UNITS)) != CJK_CHAR_UNITS:
                raise ValueError(f"{path} was trained with another CJK length unit")
            heads = {}
            for name in meta["heads"]:
                heads[name] = ArgumentHead(
                    name=name,
                    weights=arrays[f"{name}__weights"].astype(np.float32),
                    bias=float(arrays[f"{name}__bias"]),
                    mean=arrays[f"{name}__mean"].astype(np.float64),
                    scale=arrays[f"{name}__scale"].astype(np.float64),
                    median=float(arrays[f"{name}__median"]),
                    spread=float(arrays[f"{name}__spread"]),
                )
        return cls(heads=heads, recommended=dict(meta.get("recommended", {})), meta=meta)

    def save(self, path: Path | str) -> None:
        path = Path(path)
        arrays: dict[str, np.ndarray] = {}
        for name, head in self.heads.items():
            arrays[f"{name}__weights"] = head.weights.astype(np.float32)
            arrays[f"{name}__bias"] = np.float64(head.bias)
            arrays[f"{name}__mean"] = head.mean.astype(np.float32)
            arrays[f"{name}__scale"] = head.scale.astype(np.float32)
            arrays[f"{name}__median"] = np.float64(head.median)
            arrays[f"{name}__spread"] = np.float64(head.spread)
        meta = dict(self.meta)
        meta["heads"] = list(self.heads)
        meta["recommended"] = self.recommended
        meta["feature_names"] = list(FEATURE_NAMES)
        meta["cjk_char_units"] = CJK_CHAR_UNITS
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:  # np.savez_compressed would append ".npz"
            np.savez_compressed(handle, meta=np.array(json.dumps(meta, ensure_ascii=False)), **arrays)

    @property
    def names(self) -> list[str]:
        return list(self.heads)

    def head_for(self, dimension: str) -> str:
        """The head to use for a service dimension (`clarity`, `helpfulness`, ...)."""
        return self.recommended.get(dimension, dimension if dimension in self.heads else "argument_quality")

    def _head(self, name: str) -> ArgumentHead:
        try:
            return self.heads[name]
        except KeyError:
            raise KeyError(f"no argument head {name!r}; have {sorted(self.heads)}") from None

    def utility(self, name: str, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        return self._head(name).utility(embeddings, texts)

    def score(self, name: str, embeddings: np.ndarray, texts: list[str]) -> np.ndarray:
        return self._head(name).score(embeddings, texts)


ARGUMENT_MODEL = "argument-heads"


def load_argument_heads(store) -> "ArgumentHeads":
    """The heads declared in the manifest, loaded once per process, on the encoder they were trained on."""
    from quality.text.batch import load_encoder, require_trained_on

    require_trained_on(store, ARGUMENT_MODEL, load_encoder(store))
    return store.get(ARGUMENT_MODEL, lambda s: ArgumentHeads.load(s.path(ARGUMENT_MODEL)))
