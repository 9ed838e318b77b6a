"""What the HTML report draws, computed once into the report itself (plain lists, JSON-ready):
ROC and precision-recall points, score histograms per label, the confusion matrix, and the
most confident errors with their text — where a person can see the model being wrong."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_curve, roc_curve

MAX_POINTS = 200
HISTOGRAM_BINS = 20
ERRORS_SHOWN = 20


def _thin(points: list[tuple[float, float]]) -> list[list[float]]:
    step = max(1, len(points) // MAX_POINTS)
    kept = points[::step] + ([points[-1]] if (len(points) - 1) % step else [])
    return [[round(float(x), 4), round(float(y), 4)] for x, y in kept]


def binary_curves(labels: np.ndarray, scores: np.ndarray) -> dict:
    if labels.min() == labels.max():
        return {}
    fpr, tpr, _ = roc_curve(labels, scores)
    precision, recall, _ = precision_recall_curve(labels, scores)
    return {"roc": _thin(list(zip(fpr, tpr))), "pr": _thin(list(zip(recall[::-1], precision[::-1])))}


def histograms(labels: np.ndarray, scores: np.ndarray) -> dict:
    """Counts of scores in equal bins over the scores' range, one series per label value (or label quartile)."""
    low, high = float(np.min(scores)), float(np.max(scores))
    edges = np.linspace(low, high if high > low else low + 1.0, HISTOGRAM_BINS + 1)
    values = np.unique(labels)
    if len(values) > 5:  # a graded label: group into quartiles
        cuts = np.quantile(labels, [0.25, 0.5, 0.75])
        groups = {f"label quartile {q + 1}": np.searchsorted(cuts, labels, side="right") == q for q in range(4)}
    else:
        groups = {f"label {v:g}": labels == v for v in values}
    return {"edges": [round(float(e), 4) for e in edges],
            "series": {name: np.histogram(scores[mask], edges)[0].tolist() for name, mask in groups.items()}}


def binary_confusion(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    matrix = confusion_matrix(labels.astype(int), (scores >= threshold).astype(int), labels=[0, 1])
    return {"labels": ["0", "1"], "matrix": matrix.tolist(), "threshold": threshold}


def most_confident_errors(texts: list[str], labels: np.ndarray, scores: np.ndarray, *, binary: bool,
                          threshold: float = 0.5) -> list[dict]:
    """Binary: wrong side of the threshold, furthest from it first. Graded: largest gap between the
    row's rank by score and by label (as shares of the file), first."""
    if binary:
        wrong = np.nonzero((scores >= threshold) != (labels == 1))[0]
        order = wrong[np.argsort(-np.abs(scores[wrong] - threshold))]
    else:
        from scipy.stats import rankdata

        gap = (rankdata(scores) - rankdata(labels)) / len(labels)
        order = np.argsort(-np.abs(gap))
    return [{"text": texts[i][:300], "label": float(labels[i]), "score": round(float(scores[i]), 4)}
            for i in order[:ERRORS_SHOWN]]


def diagnostics(texts: list[str], labels: np.ndarray, scores: np.ndarray, *, binary: bool,
                threshold: float = 0.5) -> dict:
    out = {"histograms": histograms(labels, scores),
           "errors": most_confident_errors(texts, labels, scores, binary=binary, threshold=threshold)}
    if binary:
        out.update(binary_curves(labels, scores))
        out["confusion"] = binary_confusion(labels, scores, threshold)
    return out
