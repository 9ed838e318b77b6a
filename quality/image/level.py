"""Is the photo level? A learned tilt detector on the orientation of its edges and lines.

A camera held level puts most strong edges and long lines at (or, with perspective, near)
0 and 90 degrees; a photo rotated by a few degrees moves that peak off the axes, whatever it
shows — a city's verticals, a horizon, a table edge, a car's sills. The features are read from
the grey photo, not from the network, so they see the same thing in every content class:

- at two sizes (long side 512 and 160): a histogram of how far strong edges (the top 10 % by
  gradient magnitude) lie from the nearest axis (45 one-degree bins, weighted by magnitude), and
  the dominant deviation from the axes with its strength (the mean of exp(4i·angle) over the
  top 10 % and top 2 % of edges: the angle of its resultant / 4, and its length);
- the same histogram and dominant deviation of the line segments (OpenCV's LSD at 512 px,
  weighted by squared length), and the longest segment's length.

A gradient-boosted classifier (`models/level/level_head.npz`, trained by `train/level.py`)
maps them to the probability that the photo is tilted by more than a few degrees. It was
trained self-supervised: the training split's photos as they are and turned by under 1.5
degrees are "level", turned by 4-16 degrees "tilted", each cropped to its largest upright
frame like `quality.image.degrade.tilt`, so the resampling itself tells nothing. Prediction
is numpy and OpenCV only. The photo score's weights turn the probability into the
`tilted_horizon` issue's severity (quality.image.photo_score.PhotoScoreWeights.tilt_severity).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from quality.artifacts import read_head_file

SIZES = (512, 160)  # long sides the edge histograms are read at
LINE_SIZE = 512  # long side the line segments are found at
BINS = 45  # one-degree bins of |deviation from the nearest axis|, 0-45
EDGE_SHARE_PERCENTILES = (90, 98)  # edges above these gradient percentiles give the dominant deviation
EDGE_HISTOGRAM_PERCENTILE = 90  # edges above this percentile make the histogram
PERCENTILES = sorted({EDGE_HISTOGRAM_PERCENTILE, *EDGE_SHARE_PERCENTILES})
GRADIENT_SIGMA = 1.0  # pre-blur before Sobel, so pixel noise does not set the orientation
LOG_FLOOR = 1e-3  # features are log(x + this)
FEATURE_DIM = 2 * (BINS + 3 * len(EDGE_SHARE_PERCENTILES)) + BINS + 4


def _resized(grey: np.ndarray, long_side: int) -> np.ndarray:
    scale = long_side / max(grey.shape)
    if scale >= 1:
        return grey
    size = (max(8, round(grey.shape[1] * scale)), max(8, round(grey.shape[0] * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _deviation(degrees: np.ndarray) -> np.ndarray:
    """Signed deviation of a direction from the nearest axis, in [-45, 45)."""
    return (degrees + 45.0) % 90.0 - 45.0


def _histogram(deviation: np.ndarray, weights: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.abs(deviation), bins=BINS, range=(0, 45), weights=weights)
    return counts / max(float(counts.sum()), 1e-9)


def _dominant(degrees: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """|Dominant deviation from the axes| (degrees) and its strength in [0, 1] (4-fold circular mean)."""
    resultant = (weights * np.exp(4j * np.radians(degrees))).sum() / max(float(weights.sum()), 1e-9)
    return abs(float(np.degrees(np.angle(resultant))) / 4.0), float(abs(resultant))


def _edge_features(grey: np.ndarray) -> list[np.ndarray]:
    smooth = cv2.GaussianBlur(grey, (0, 0), GRADIENT_SIGMA)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    magnitude = np.hypot(gx, gy)
    levels = dict(zip(PERCENTILES, np.percentile(magnitude, PERCENTILES)))  # one partial sort for all
    strong = magnitude > min(levels.values())  # every reading below keeps a subset of these edges
    gx, gy, magnitude = gx[strong], gy[strong], magnitude[strong]
    direction = np.degrees(np.arctan2(gy, gx)) + 90.0  # the edge runs across its gradient
    keep = magnitude > levels[EDGE_HISTOGRAM_PERCENTILE]
    out = [_histogram(_deviation(direction[keep]), magnitude[keep])]
    for percentile in EDGE_SHARE_PERCENTILES:
        keep = magnitude > levels[percentile]
        angle, strength = _dominant(direction[keep], magnitude[keep])
        out.append(np.array([angle, strength, angle * strength]))
    return out


def _line_features(grey: np.ndarray) -> list[np.ndarray]:
    # A detector per call (cheap to make): one object shared between threads is not documented as safe.
    found = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD).detect(
        np.clip(grey, 0, 255).astype(np.uint8))[0]
    if found is None:
        return [np.zeros(BINS), np.zeros(4)]
    segments = found[:, 0]
    dx, dy = segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1]
    length = np.hypot(dx, dy)
    direction = np.degrees(np.arctan2(dy, dx))
    weights = length**2
    angle, strength = _dominant(direction, weights)
    return [_histogram(_deviation(direction), weights),
            np.array([angle, strength, angle * strength, float(length.max()) / LINE_SIZE])]


def level_features(rgb: np.ndarray) -> np.ndarray:
    """The FEATURE_DIM orientation features of an RGB photo (uint8 [H, W, 3]), log-scaled."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    parts: list[np.ndarray] = []
    for side in SIZES:
        parts += _edge_features(_resized(grey, side))
    parts += _line_features(_resized(grey, LINE_SIZE))
    return np.log(np.concatenate(parts) + LOG_FLOOR).astype(np.float32)


class LevelHead:
    """Gradient-boosted trees, flattened: node arrays of every tree one after another.

    A node is a leaf (`leaf`, its `value`) or a split: `feature` <= `threshold` goes to `left`,
    else to `right` (indices into the flat arrays); `roots` holds each tree's first node. The
    probability is sigmoid(baseline + the sum of the leaves reached).
    """

    def __init__(self, arrays: dict, meta: dict):
        if int(meta.get("feature_dim", -1)) != FEATURE_DIM:
            raise ValueError(f"level head reads {meta.get('feature_dim')} features, level_features gives {FEATURE_DIM}")
        self.feature = arrays["feature"].astype(np.int64)
        self.threshold = arrays["threshold"].astype(np.float64)
        self.left = arrays["left"].astype(np.int64)
        self.right = arrays["right"].astype(np.int64)
        self.leaf = arrays["leaf"].astype(bool)
        self.value = arrays["value"].astype(np.float64)
        self.roots = arrays["roots"].astype(np.int64)
        self.baseline = float(arrays["baseline"])
        self.depth = int(meta["max_depth"])
        self.meta = meta

    @classmethod
    def load(cls, path: Path) -> "LevelHead":
        arrays, meta = read_head_file(path)
        return cls(arrays, meta)

    def raw(self, features: np.ndarray) -> np.ndarray:
        """The trees' summed output (log-odds) per row of `features` [N, FEATURE_DIM]."""
        x = np.nan_to_num(np.atleast_2d(np.asarray(features, np.float64)))
        rows = np.arange(x.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.size)).copy()
        for _ in range(self.depth + 1):
            leaf = self.leaf[node]
            if leaf.all():
                break
            go_left = x[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(leaf, node, np.where(go_left, self.left[node], self.right[node]))
        return self.baseline + self.value[node].sum(axis=1)

    def probability(self, features: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.raw(features)))
