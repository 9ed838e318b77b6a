"""The reply-civility heads: how a reply treats the person it answers, read with its parent.

Four logistic heads on `quality.text.reply_features` (trained by `train/civility_replies.py`,
`models/civility-replies/`):
- `uncivil`: P(the reply insults, belittles, brushes off, mocks, puts down with sarcasm, attacks
  whoever disagrees, swears at people or stereotypes a group) — in context;
- `constructive`: among replies that are not uncivil, P(constructive) vs neutral;
- `disagreement`: P(the reply disagrees with its parent);
- `reasoned`: among disagreements, P(it gives reasons rather than only attacking).
Each head's logit goes through its Platt calibration (fitted on the team's dev replies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.artifacts import read_head_file
from quality.text.reply_features import LEXICAL_NAMES, char_features

HEADS = ("uncivil", "constructive", "disagreement", "reasoned")


@dataclass(frozen=True)
class _Head:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    char_coef: np.ndarray | None
    char_intercept: float
    platt: tuple[float, float]  # probability = sigmoid(a * logit + b)

    def probability(self, dense: np.ndarray, char_x) -> np.ndarray:
        x = (dense - self.mean) / self.scale
        if self.char_coef is not None:
            char_logit = np.asarray(char_x @ self.char_coef, dtype=np.float64).ravel() + self.char_intercept
            x = np.hstack([x, char_logit.reshape(-1, 1)])
        logit = x.astype(np.float64) @ self.coef.astype(np.float64) + self.intercept
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-np.clip(a * logit + b, -50.0, 50.0)))


class ReplyCivilityHeads:
    def __init__(self, path: Path):
        arrays, self.meta = read_head_file(path)
        if tuple(self.meta["lexical_names"]) != LEXICAL_NAMES:
            raise ValueError(f"{path} was trained on other lexical features ({self.meta['lexical_names']}); retrain it "
                             "with `python -m train.civility_replies`")
        self.version = self.meta["version"]
        self.sentence_encoder = self.meta["sentence_encoder"]
        # which encoder's embeddings of reply and parent the context features hold
        self.context_encoder = self.meta.get("context_encoder", "sentence")
        # the identity of the civility encoder whose embeddings the heads read (absent in files before r4)
        self.civility_encoder = self.meta.get("civility_encoder")
        if self.context_encoder not in ("sentence", "civility"):
            raise ValueError(f"{path}: unknown context encoder {self.context_encoder!r}")
        self.idf = arrays["idf"].astype(np.float32)
        calibration = self.meta.get("calibration", {})
        # the cut-off fitted with the heads (the rubric's civility_signal carries its own copy)
        self.uncivil_at = float(self.meta.get("thresholds", {}).get("uncivil_at_or_above", 0.5))
        self.heads = {
            name: _Head(arrays[f"{name}.mean"], arrays[f"{name}.scale"], arrays[f"{name}.coef"],
                        float(arrays[f"{name}.intercept"][0]),
                        arrays[f"{name}.char_coef"].astype(np.float32) if f"{name}.char_coef" in arrays else None,
                        float(arrays[f"{name}.char_intercept"][0]) if f"{name}.char_intercept" in arrays else 0.0,
                        tuple(calibration.get(name, (1.0, 0.0))))
            for name in HEADS
        }

    def probabilities(self, texts: list[str], dense: np.ndarray) -> dict[str, np.ndarray]:
        """Each head's calibrated probability per reply (`dense`: `reply_features.dense_features`)."""
        char_x = char_features(texts, self.idf) if any(h.char_coef is not None for h in self.heads.values()) else None
        return {name: head.probability(dense, char_x) for name, head in self.heads.items()}
