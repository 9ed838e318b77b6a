"""Small helpers shared by the hand-set text scorers."""

from __future__ import annotations

import math


def saturate(count: float, half: float) -> float:
    """0 at 0, 0.5 at `half`, towards 1 after: more of a good thing helps less and less."""
    return count / (count + half) if count > 0 else 0.0


def logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def length_confidence(n_chars: int) -> float:
    """Very short texts say little about clarity or helpfulness; confidence grows with length."""
    return round(0.2 + 0.7 * saturate(n_chars, 60.0), 4)


def listed(words: list[str], limit: int = 4) -> str:
    return ", ".join(words[:limit])


# How much the learned argument-quality head counts against the hand-set features (logit scale).
LEARNED_WEIGHT = 1.0


def logit_of(p: float) -> float:
    p = min(1 - 1e-6, max(1e-6, p))
    return math.log(p / (1 - p))
