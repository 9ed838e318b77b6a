"""Agreement metrics between model scores and human labels, with bootstrap intervals.

Each metric function declares what it needs; `greater_is_better` is True for all here.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.metrics import (accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score,
                             roc_auc_score)

BOOTSTRAP_SEED = 7
ECE_BINS = 15


def expected_calibration_error(labels: np.ndarray, p_positive: np.ndarray, bins: int = ECE_BINS) -> float:
    """Mean |accuracy - confidence| over equal-width probability bins, weighted by bin size."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p_positive, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(labels[mask].mean() - p_positive[mask].mean())
    return float(total)


def reliability_bins(labels: np.ndarray, p_positive: np.ndarray, bins: int = 10) -> list[dict]:
    """Per equal-width probability bin: mean predicted probability, observed rate, count (non-empty bins)."""
    labels, p_positive = np.asarray(labels, dtype=float), np.asarray(p_positive, dtype=float)
    which = np.clip(np.digitize(p_positive, np.linspace(0.0, 1.0, bins + 1)[1:-1]), 0, bins - 1)
    return [{"bin": b, "predicted": round(float(p_positive[which == b].mean()), 4),
             "observed": round(float(labels[which == b].mean()), 4), "n": int((which == b).sum())}
            for b in range(bins) if (which == b).any()]


def binary_metrics(labels: np.ndarray, p_positive: np.ndarray, threshold: float = 0.5) -> dict:
    labels = np.asarray(labels).astype(int)
    p_positive = np.asarray(p_positive, dtype=float)
    predicted = (p_positive >= threshold).astype(int)
    out = {
        "n": int(len(labels)),
        "positives": int(labels.sum()),
        "accuracy": float(accuracy_score(labels, predicted)),
        "f1": float(f1_score(labels, predicted, zero_division=0)),
        "precision": float(precision_score(labels, predicted, zero_division=0)),
        "recall": float(recall_score(labels, predicted, zero_division=0)),
        "ece": expected_calibration_error(labels, p_positive),
        "threshold": threshold,
    }
    out["auc"] = float(roc_auc_score(labels, p_positive)) if 0 < labels.sum() < len(labels) else None
    return out


def graded_metrics(labels: np.ndarray, scores: np.ndarray, ordinal: bool = True) -> dict:
    """Correlations, and QWK when the labels look ordinal; `ordinal=False` says they are not
    (a 0-100 grade given in steps of 10 has 11 integer levels but is a continuous scale)."""
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if len(labels) < 2 or np.ptp(labels) == 0 or np.ptp(scores) == 0:
        # A constant side (one photo size, one grade) has no correlation: None, never NaN in a report.
        return {"n": int(len(labels)), "spearman": None, "pearson": None, "kendall": None}
    out = {
        "n": int(len(labels)),
        "spearman": float(stats.spearmanr(labels, scores).statistic),
        "pearson": float(stats.pearsonr(labels, scores).statistic),
        "kendall": float(stats.kendalltau(labels, scores).statistic),
    }
    levels = np.unique(labels)
    if ordinal and np.all(levels == np.round(levels)) and 2 < len(levels) <= 11:
        # Ordinal labels: map scores onto the label scale by matching the label distribution's quantiles.
        quantiles = np.cumsum([np.mean(labels == level) for level in levels])[:-1]
        cuts = np.quantile(scores, quantiles)
        predicted = levels[np.searchsorted(cuts, scores, side="right")]
        out["qwk"] = float(cohen_kappa_score(labels.astype(int), predicted.astype(int), weights="quadratic"))
    return out


def band_qwk(human_bands: np.ndarray, model_bands: np.ndarray) -> float | None:
    """QWK between two band assignments (0 = low ... 3 = featured); None when people used one band only."""
    human_bands, model_bands = np.asarray(human_bands, int), np.asarray(model_bands, int)
    if len(np.unique(human_bands)) < 2:
        return None
    return float(cohen_kappa_score(human_bands, model_bands, labels=[0, 1, 2, 3], weights="quadratic"))


def pairwise_accuracy(score_winner: np.ndarray, score_loser: np.ndarray, tie_credit: float = 0.5) -> dict:
    """Share of pairs whose winner scores higher; a tie counts `tie_credit` (NaN with no pair).
    The two arrays broadcast (e.g. originals [n, 1] against their copies [n, k])."""
    score_winner, score_loser = np.broadcast_arrays(np.asarray(score_winner, float), np.asarray(score_loser, float))
    correct = (score_winner > score_loser) + tie_credit * (score_winner == score_loser)
    return {"n": int(correct.size), "pairwise_accuracy": float(correct.mean()) if correct.size else float("nan")}


def rated_pairs_accuracy(labels: np.ndarray, scores: np.ndarray, gap_share: float = 0.1) -> dict:
    """Over every pair of rows whose labels differ by at least `gap_share` of the labels' range
    (1-5 grades: any step; CLIVE's 0-100 MOS: about 9 points), the share ordered as the labels are
    (score ties count 1/2): how often the better-rated of two different photos scores higher."""
    labels, scores = np.asarray(labels, float), np.asarray(scores, float)
    if len(labels) < 2 or np.ptp(labels) == 0:
        return {"pairwise": None, "pairs": 0}
    i, j = np.triu_indices(len(labels), k=1)
    far = np.abs(labels[i] - labels[j]) >= gap_share * np.ptp(labels)
    i, j = i[far], j[far]
    first_better = labels[i] > labels[j]
    winner, loser = np.where(first_better, scores[i], scores[j]), np.where(first_better, scores[j], scores[i])
    return {"pairwise": pairwise_accuracy(winner, loser)["pairwise_accuracy"], "pairs": int(far.sum())}


def bootstrap_interval(metric, *arrays: np.ndarray, resamples: int = 200, level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap interval of `metric(*arrays)` over resampled rows."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n = len(arrays[0])
    values = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        try:
            value = metric(*(a[idx] for a in arrays))
        except ValueError:  # a resample with one class only
            continue
        if value is not None and np.isfinite(value):
            values.append(value)
    if not values:
        return None
    tail = (1 - level) / 2 * 100
    return [round(float(np.percentile(values, tail)), 4), round(float(np.percentile(values, 100 - tail)), 4)]
