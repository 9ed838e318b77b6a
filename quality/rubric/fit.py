"""Fitting the audition's weights (and band cut-offs) to a community's own grades.

The audition is a weighted mean of the dimensions a post has plus effort, minus flag penalties
(`audition.py`). Each scored post becomes one row of those terms, taken exactly as the service
hands them to `audition()` (NaN where a dimension does not apply), so candidate weights are
tried on a whole sample in one vectorised step, renormalised per row over the terms present.

The weights stay non-negative, so the audition stays monotone in every dimension, and sum to
one, which only fixes their scale (the audition does not depend on it). They maximise the
Pearson correlation of the audition score with the grades: a 1-5 grade and a 0-100 score have
no common unit, and correlation is a smooth stand-in for the Spearman that is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import KFold

from quality.rubric.audition import effort_score
from quality.rubric.config import Bands, Rubric
from quality.schemas import Post, ScoreResult
from quality.normalize import clean_text

EFFORT = "effort"
# A term seen in fewer rows keeps its current share: the data cannot say what its weight should be.
MIN_PRESENT = 10
# Effort rewards length alone. Capped at half, so the audition stays a judgement of the dimensions
# (and the rubric keeps the positive sum of dimension weights that `load_rubric` requires).
MAX_EFFORT = 0.5
# Fitted cut-offs are at least this far apart, as the rubric needs featured > promising > ordinary.
MIN_BAND_GAP = 0.5
FOLDS = 5
SEED = 13


@dataclass(frozen=True)
class AuditionTerms:
    names: tuple[str, ...]  # the rubric's weighted dimensions, in file order, then "effort"
    values: np.ndarray  # (rows, terms) in [0, 1]; NaN where the dimension does not apply
    penalty: np.ndarray  # (rows,) points taken off for raised flags

    def subset(self, index: np.ndarray) -> AuditionTerms:
        return AuditionTerms(self.names, self.values[index], self.penalty[index])

    def present(self) -> np.ndarray:
        """How many rows have each term."""
        return (~np.isnan(self.values)).sum(axis=0)

    def scores(self, weights: np.ndarray) -> np.ndarray:
        """`audition()`'s score for every row: 100 x the weighted mean over the terms present,
        minus the penalty, clipped to [0, 100] (0 when the present terms all weigh nothing)."""
        present = ~np.isnan(self.values)
        total = present @ weights
        weighted = np.where(present, self.values, 0.0) @ weights
        mean = np.divide(weighted, total, out=np.zeros_like(weighted), where=total > 0)
        return np.clip(100.0 * mean - self.penalty, 0.0, 100.0)


def term_row(post: Post, result: ScoreResult, rubric: Rubric) -> tuple[list[float], float]:
    """One scored post's audition terms and penalty, as the service computes them for `audition()`:
    each weighted dimension is the `ScoreResult` dimension of that name."""
    values = []
    for name in rubric.audition.weights:
        dimension = getattr(result.dimensions, name, None)
        values.append(np.nan if dimension is None else dimension.score)
    values.append(effort_score(len(clean_text(post.text)), len(post.images), rubric))
    penalty = sum(points for flag, points in rubric.audition.penalties.items() if flag in result.flags)
    return values, penalty


def audition_terms(rows: list[tuple[list[float], float]], rubric: Rubric) -> AuditionTerms:
    return AuditionTerms(names=(*rubric.audition.weights, EFFORT),
                         values=np.array([values for values, _ in rows], dtype=float).reshape(len(rows), -1),
                         penalty=np.array([penalty for _, penalty in rows], dtype=float))


def rubric_weights(rubric: Rubric) -> np.ndarray:
    """The rubric's weights in `AuditionTerms.names` order, as shares summing to one."""
    weights = np.array([*rubric.audition.weights.values(), rubric.audition.effort.weight], dtype=float)
    return weights / weights.sum()


def band_index(scores: np.ndarray, bands: Bands) -> np.ndarray:
    """`band_for` on many scores: 0 (low) to 3 (featured); the cut-offs are lower bounds."""
    cuts = np.array([bands.ordinary, bands.promising, bands.featured])
    return np.searchsorted(cuts, np.asarray(scores, dtype=float), side="right")


def fit_weights(terms: AuditionTerms, grades: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Non-negative shares summing to one that maximise the correlation of the audition score with
    the grades. Terms present in fewer than MIN_PRESENT rows keep their share of `start`.

    Two starts (the current shares, and equal shares) guard against a local optimum: the score
    is a ratio of weighted sums, so the objective is not convex."""
    start = start / start.sum()
    if np.ptp(grades) == 0:  # a training fold may hold one grade only: nothing to learn from it
        return start
    free = terms.present() >= MIN_PRESENT
    budget = 1.0 - start[~free].sum()
    bounds = [(0.0, MAX_EFFORT if name == EFFORT else 1.0) for name, ok in zip(terms.names, free) if ok]

    def full(x: np.ndarray) -> np.ndarray:
        weights = start.copy()
        weights[free] = np.clip(x, 0.0, None)
        return weights

    def loss(x: np.ndarray) -> float:
        predicted = terms.scores(full(x))
        if predicted.std() == 0:
            return 0.0
        return -float(np.corrcoef(predicted, grades)[0, 1])

    constraint = {"type": "eq", "fun": lambda x: x.sum() - budget}
    starts = (start[free], np.full(int(free.sum()), budget / free.sum()))
    best = min((minimize(loss, x0, method="SLSQP", bounds=bounds, constraints=[constraint]) for x0 in starts),
               key=lambda result: result.fun)
    weights = full(best.x)
    return weights / weights.sum()


def fit_bands(scores: np.ndarray, human_bands: np.ndarray) -> Bands:
    """Cut-offs that put the same share of posts in each band as the people did, each halfway
    between the two scores its share falls between."""
    ordered = np.sort(scores)
    n = len(ordered)
    cuts = []
    for below in np.cumsum(np.bincount(human_bands, minlength=4))[:3]:  # posts under each cut-off
        if below == 0:
            cuts.append(ordered[0])
        elif below == n:
            cuts.append(ordered[-1] + MIN_BAND_GAP)
        else:
            cuts.append((ordered[below - 1] + ordered[below]) / 2)
    for i in (1, 2):
        cuts[i] = max(cuts[i], cuts[i - 1] + MIN_BAND_GAP)
    cuts[2] = min(cuts[2], 100.0)
    for i in (1, 0):
        cuts[i] = min(cuts[i], cuts[i + 1] - MIN_BAND_GAP)
    ordinary, promising, featured = (round(float(cut), 2) for cut in cuts)
    return Bands(featured=featured, promising=promising, ordinary=ordinary)


@dataclass(frozen=True)
class OutOfFold:
    scores: np.ndarray  # each row's audition score, from weights (and bands) fitted without it
    bands: np.ndarray  # its band index, 0 (low) to 3 (featured)
    fold: np.ndarray  # the fold that held it out


def cross_validate(terms: AuditionTerms, grades: np.ndarray, rubric: Rubric,
                   human_bands: np.ndarray | None = None) -> dict[str, OutOfFold]:
    """Held-out scores of the current rubric and of one fitted on the other folds, on the same
    FOLDS folds. With `human_bands`, the fitted cut-offs are refit on each training part too."""
    current = rubric_weights(rubric)
    fold = np.zeros(len(grades), dtype=int)
    scores = terms.scores(current)  # nothing is fitted: the current rubric's held-out score is its score
    fitted_scores, fitted_bands = np.zeros(len(grades)), np.zeros(len(grades), dtype=int)
    for number, (train, test) in enumerate(KFold(FOLDS, shuffle=True, random_state=SEED).split(grades)):
        fold[test] = number
        weights = fit_weights(terms.subset(train), grades[train], current)
        bands = (fit_bands(terms.subset(train).scores(weights), human_bands[train])
                 if human_bands is not None else rubric.audition.bands)
        fitted_scores[test] = terms.subset(test).scores(weights)
        fitted_bands[test] = band_index(fitted_scores[test], bands)
    return {"current": OutOfFold(scores, band_index(scores, rubric.audition.bands), fold),
            "fitted": OutOfFold(fitted_scores, fitted_bands, fold)}
