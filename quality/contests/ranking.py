"""The suggested ranking of contest entries: audition score as prior, judges' votes and scores as evidence.

`rank(items, preferences, scores)` fits one Bradley–Terry model (P(i beats j) = σ(θ_i − θ_j)) with
`choix.ilsr_pairwise_dense` and returns every entry with a score, a bootstrap interval, `p_top_k`, the
entries it is statistically tied with, and the comparison a judge should make next. Judges decide; this
only suggests. The API maps the dataclasses here onto `quality.contests.schemas.Ranking`.

Design
------
Scale. ``score`` = 100 × P(entry beats a typical entry), where the typical entry is a virtual *anchor*
that the audition model scores 50. With θ_anchor = 0, ``score`` = 100·σ(θ_i); with no judgements it is
the model score itself (after clipping to [1, 99]).

Prior. Each entry has ``PRIOR_STRENGTH`` (30) pseudo-comparisons against the anchor, split in
proportion: it "wins" 30·q and "loses" 30·(1 − q) of them, q = clip(model_score, 1, 99) / 100. choix's
dense estimator takes a matrix of (possibly fractional) win counts, so the split needs no rounding and
the fitted θ_i is exactly logit(q) when nobody has judged the entry. The strength was calibrated to the
issue's "3–5 consistent votes overturn ~10 points" (two entries judged only against each other):

    ========  ==========================  ==========================  ======================
    strength  votes to flip 70 over 60    votes to flip 90 over 30    1 vote, 90 vs 30 becomes
    ========  ==========================  ==========================  ======================
    4         1                           2                           71.7 vs 48.3
    20        3                           12                          85.4 vs 34.6
    30        4 (3: a dead heat, 65–65)   18                          86.9 vs 33.1
    40        5                           24                          87.7 vs 32.3
    ========  ==========================  ==========================  ======================

"A handful" of pseudo-comparisons (≈4) lets a single vote flip a 10-point gap, so the behavioural
target wins: 30. The same prior is the model's only regulariser (choix's ``alpha`` stays 0: a uniform
pseudo-count between all pairs would pull every entry towards the others and break "score = model
score" with no judgements). The anchor also connects every entry, so a disconnected comparison graph
is fine.

Pairwise votes. Each "A over B" is one comparison (weight 1), whatever judge cast it.

Direct scores. Judges' personal scales differ, so only the order *within* each judge is used: a judge's
scores of m distinct entries are a ranking, broken into all m(m−1)/2 pairs ("full rank-breaking",
consistent for Plackett–Luce, Azari Soufiani et al. 2014; in a Plackett–Luce ranking P(i above j) is
exactly the Bradley–Terry σ(θ_i − θ_j)). The pairs are not independent, so each is weighted
w_m = (4/m)·(1 − (H_m − 1)/(m − 1)) (H_m the m-th harmonic number): then the pairs carry the same Fisher
information about any two entries' difference as the Plackett–Luce ranking itself (at equal strengths).
w_2 = 1 (two scores are one vote), w_5 ≈ 0.54, w_m ≈ 4/m for large m: a judge's m scores are worth
2(m − H_m) votes in all (1 for two entries, 5.4 for five, 14.1 for ten), not m(m−1)/2. Equal scores are
half a win each way; a judge's repeated scores of one entry are averaged. A judge who scored a single
entry adds nothing to the fit (it is still counted in ``judge_scores``). A direct score is deliberately
*not* treated as evidence against the anchor: that would let a harsh judge's scale pull entries down.

Fitting. Entries nobody compared keep θ = logit(q) exactly (the anchor terms are their whole
likelihood). Every connected component of the judges' comparison graph is fitted with its own anchor by
``choix.ilsr_pairwise_dense`` (the likelihood factorises over components once θ_anchor is fixed),
warm-started at the prior logits, to a mean change per iteration below ``ILSR_TOL``.

Bootstrap. Units are the judges' comparisons (each vote, each rank-broken pair), resampled with
replacement B times. The audition score is uncertain too: each replicate also moves every entry's prior
centre logit(q) by N(0, 1/(30·q(1 − q))), the spread its 30 pseudo-comparisons imply, so with no
judgements the interval is the prior's own (about 33–67 for a model score of 50), never zero-width.
A full choix refit of 500 entries costs 5–7 LU factorisations of a 501 × 501 matrix (≈ 70 ms), so 100
of them cannot meet the 300 ms budget. Instead every replicate is refitted, warm-started at the full-data
fit θ̂, by ``BOOTSTRAP_STEPS`` (3) chord steps — Newton steps that reuse the full-data information matrix
H: θ ← θ + H⁻¹ ∇ℓ_b(θ), each entry moving at most ``MAX_STEP`` (1 logit) per step — for all B replicates
at once from one Cholesky factorisation (the first step alone is the classical one-step bootstrap).
Entries nobody compared are refitted exactly (their θ* is the moved prior logit). This is the one piece
of numerical code of our own; the estimate itself is choix's. Checked against full choix refits of the
same resamples (500 entries, 2,000 votes, B = 100): mean interval width ratio 0.998, interval ends
0.3 points apart on average (95th percentile 1.1), p_top_k within 0.04 — where one step alone gives
1.5 points, 3.4 and 0.10 (entries with lopsided records, all wins, are where the likelihood is least
quadratic). ``interval`` is the 2.5 and 97.5 percentiles of 100·σ(θ*), widened if needed to contain
``score``; ``p_top_k`` is the share of replicates with the entry among the k highest θ*. With
``bootstrap=0`` the interval is the normal (Laplace) one, θ̂ ± 1.96·sqrt(diag H⁻¹), and ``p_top_k`` is 1
for the point top k and 0 otherwise.

Ties. Two entries are tied when their intervals overlap. ``tied_with`` lists *all* overlapping entries
anywhere in the ranking, not only adjacent ones, up to the ``MAX_TIED`` (10) nearest in rank, in rank
order. Before any judging nearly everything overlaps: the audition score alone is weak evidence.

Next pair. Among the entries that matter for the top k — ranks 1..k+1 and any entry with p_top_k > 0,
at most the first ``MAX_CANDIDATES`` (40) — every pair is scored

    4·p(1 − p) × (u + 1/(B + 2)) × max(p_top_k_i, p_top_k_j) / (1 + c)

p = σ(θ̂_i − θ̂_j) (an uncertain outcome teaches most), u = min(f, 1 − f) where f is the share of
replicates ranking i above j (their order is really in doubt, which implies overlapping intervals),
the p_top_k factor (the order matters for the prizes: ranks 1 vs 2 count fully, ranks 8 vs 9 barely),
and c = comparisons already made of that pair (votes plus judges who scored both). The best pair is
returned higher-ranked first; exact ties go to the higher-ranked pair.

Threads. BLAS runs on one thread while a ranking is computed (threadpoolctl, restored afterwards): the
fit is a chain of small LU factorisations, and OpenBLAS's two threads on a 2-core machine that is also
scoring posts made them about ten times slower (median 1.7 s instead of 0.13 s for 500 entries and
2,000 votes with another process busy on one core).

Determinism. Entries are processed in id order, votes and scores sorted, and the bootstrap uses
``numpy.random.default_rng(seed)``: the same inputs in any order give the same result.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import choix
import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, logit
from threadpoolctl import ThreadpoolController

PRIOR_STRENGTH = 30.0  # pseudo-comparisons of each entry against the anchor (see the module docstring)
SCORE_CLIP = (1.0, 99.0)  # model scores are clipped so that their logits stay finite
ILSR_TOL = 1e-5  # choix's convergence test: mean |Δθ| per iteration; ≈ 2e-4 score points at 500 entries
ILSR_MAX_ITER = 1000
BOOTSTRAP_STEPS = 3  # chord (fixed-Hessian Newton) steps per bootstrap replicate
MAX_STEP = 1.0  # logits: a step's largest move of one entry, a safeguard where the likelihood is far from quadratic
MAX_TIED = 10
MAX_CANDIDATES = 40


@dataclass(frozen=True)
class Item:
    id: str
    model_score: float  # 0-100 audition score


@dataclass(frozen=True)
class Preference:
    winner: str
    loser: str
    judge: str


@dataclass(frozen=True)
class DirectScore:
    entry: str
    score: float  # 0-100, on the judge's own scale
    judge: str


@dataclass(frozen=True)
class RankedItem:
    id: str
    rank: int
    score: float  # 100 × P(beats an entry the audition model scores 50)
    interval: tuple[float, float]  # bootstrap 95 % interval of `score`
    p_top_k: float
    tied_with: tuple[str, ...]  # entries whose intervals overlap this one's, nearest in rank, in rank order
    comparisons: int  # judges' pairwise preferences involving this entry
    judge_scores: int  # judges' direct scores of this entry


@dataclass(frozen=True)
class NextPair:
    a: str
    b: str
    why: str


@dataclass(frozen=True)
class RankResult:
    items: tuple[RankedItem, ...]
    next_pair: NextPair | None
    method: str
    bootstrap: int


def _choix_version() -> str:
    try:
        return version("choix")
    except PackageNotFoundError:  # pragma: no cover - installed from source
        return "?"


METHOD = (f"Bradley-Terry MLE (choix {_choix_version()} ilsr_pairwise_dense); audition score as a prior of "
          f"{PRIOR_STRENGTH:g} pseudo-comparisons against a reference entry scored 50; judges' direct scores "
          f"rank-broken within each judge; bootstrap over judges' comparisons, replicates refitted by "
          f"{BOOTSTRAP_STEPS} warm-started Newton (chord) steps")


# --------------------------------------------------------------------------------------------- data

@dataclass
class _Units:
    """The judges' evidence as weighted directed comparisons (the bootstrap's resampling units)."""

    winner: np.ndarray  # int, index into the id-sorted items
    loser: np.ndarray
    weight: np.ndarray
    pair_counts: dict[tuple[int, int], int]  # (low index, high index) -> comparisons of that pair


def _validate_items(items: Iterable[Item]) -> list[Item]:
    ordered = sorted(items, key=lambda item: item.id)
    for before, after in zip(ordered, ordered[1:]):
        if before.id == after.id:
            raise ValueError(f"duplicate entry id {after.id!r}")
    for item in ordered:
        if not math.isfinite(item.model_score):
            raise ValueError(f"entry {item.id!r} has a non-finite model score")
    return ordered


def _breaking_weight(m: int) -> float:
    """Weight of each of the m(m−1)/2 pairs broken from one judge's ranking of m entries (docstring)."""
    harmonic = sum(1.0 / i for i in range(1, m + 1))
    return 4.0 / m * (1.0 - (harmonic - 1.0) / (m - 1))


def _units(index: dict[str, int], preferences: Iterable[Preference], scores: Iterable[DirectScore]) -> _Units:
    winners: list[int] = []
    losers: list[int] = []
    weights: list[float] = []
    pair_counts: dict[tuple[int, int], int] = defaultdict(int)

    def lookup(entry: str, what: str) -> int:
        try:
            return index[entry]
        except KeyError:
            raise ValueError(f"{what} refers to unknown entry {entry!r}") from None

    for pref in sorted(preferences, key=lambda p: (p.winner, p.loser, p.judge)):
        w, l = lookup(pref.winner, "a preference"), lookup(pref.loser, "a preference")
        if w == l:
            raise ValueError(f"a preference compares entry {pref.winner!r} with itself")
        winners.append(w)
        losers.append(l)
        weights.append(1.0)
        pair_counts[(min(w, l), max(w, l))] += 1

    by_judge: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for record in sorted(scores, key=lambda s: (s.judge, s.entry, s.score)):
        if not math.isfinite(record.score):
            raise ValueError(f"a direct score of entry {record.entry!r} is not finite")
        by_judge[record.judge][lookup(record.entry, "a direct score")].append(record.score)
    for judge in sorted(by_judge):
        scored = sorted((entry, sum(values) / len(values)) for entry, values in by_judge[judge].items())
        m = len(scored)
        if m < 2:
            continue  # one entry alone says nothing about order on this judge's scale
        weight = _breaking_weight(m)
        for a in range(m):
            for b in range(a + 1, m):
                (i, si), (j, sj) = scored[a], scored[b]
                pair_counts[(min(i, j), max(i, j))] += 1
                if si == sj:  # half a win each way
                    winners += [i, j]
                    losers += [j, i]
                    weights += [weight / 2, weight / 2]
                else:
                    hi, lo = (i, j) if si > sj else (j, i)
                    winners.append(hi)
                    losers.append(lo)
                    weights.append(weight)
    return _Units(np.asarray(winners, dtype=np.intp), np.asarray(losers, dtype=np.intp),
                  np.asarray(weights, dtype=float), dict(pair_counts))


# ------------------------------------------------------------------------------------------ fitting

def _fit(q: np.ndarray, units: _Units) -> np.ndarray:
    """θ (anchor = 0) by choix, component by component; entries nobody compared keep logit(q)."""
    n = len(q)
    theta = logit(q)
    if len(units.weight) == 0:
        return theta
    graph = sp.coo_matrix((np.ones(len(units.weight)), (units.winner, units.loser)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    compared = np.zeros(n, dtype=bool)
    compared[units.winner] = compared[units.loser] = True
    unit_label = labels[units.winner]
    for label in np.unique(labels[compared]):
        members = np.flatnonzero(labels == label)
        size = len(members)
        local = np.full(n, -1, dtype=np.intp)
        local[members] = np.arange(size)
        mask = unit_label == label
        counts = np.zeros((size + 1, size + 1))  # counts[i, j]: (fractional) times i beat j
        np.add.at(counts, (local[units.winner[mask]], local[units.loser[mask]]), units.weight[mask])
        counts[np.arange(size), size] = PRIOR_STRENGTH * q[members]
        counts[size, np.arange(size)] = PRIOR_STRENGTH * (1.0 - q[members])
        start = np.append(theta[members], 0.0)
        params = choix.ilsr_pairwise_dense(counts, alpha=0.0, initial_params=start,
                                           max_iter=ILSR_MAX_ITER, tol=ILSR_TOL)
        theta[members] = params[:size] - params[size]
    return theta


def _information(theta: np.ndarray, units: _Units, members: np.ndarray) -> np.ndarray:
    """Observed information (negative Hessian of the log-likelihood) over `members`, anchor fixed."""
    local = np.full(len(theta), -1, dtype=np.intp)
    local[members] = np.arange(len(members))
    p = expit(theta[units.winner] - theta[units.loser])
    h = units.weight * p * (1.0 - p)
    a, b = local[units.winner], local[units.loser]
    prior = PRIOR_STRENGTH * expit(theta[members]) * expit(-theta[members])
    size = len(members)
    info = sp.coo_matrix((np.concatenate([h, h, -h, -h, prior]),
                          (np.concatenate([a, b, a, b, np.arange(size)]),
                           np.concatenate([a, b, b, a, np.arange(size)]))), shape=(size, size))
    return info.toarray()


def _replicates(theta: np.ndarray, q: np.ndarray, units: _Units, bootstrap: int,
                rng: np.random.Generator) -> np.ndarray:
    """Bootstrap replicates of θ, shape (n, B): resampled comparisons, redrawn prior, chord refits."""
    n, m = len(theta), len(units.weight)
    # The prior: each entry's audition logit moves by N(0, 1 / (s·q(1 − q))). For entries nobody compared
    # the replicate's fit is exactly the moved logit.
    shift = rng.standard_normal((n, bootstrap)) / np.sqrt(PRIOR_STRENGTH * q * (1.0 - q))[:, None]
    replicates = theta[:, None] + shift
    if not m:
        return replicates
    draws = rng.integers(0, m, size=(bootstrap, m)) + m * np.arange(bootstrap)[:, None]  # m draws per replicate
    counts = np.bincount(draws.ravel(), minlength=m * bootstrap).reshape(bootstrap, m).T  # (m, B)
    compared = np.union1d(units.winner, units.loser)
    local = np.full(n, -1, dtype=np.intp)
    local[compared] = np.arange(len(compared))
    winner, loser = local[units.winner], local[units.loser]
    weights = units.weight[:, None] * counts
    q_star = expit(logit(q[compared])[:, None] + shift[compared])
    incidence = sp.csr_matrix((np.concatenate([np.ones(m), -np.ones(m)]),
                               (np.concatenate([winner, loser]), np.concatenate([np.arange(m), np.arange(m)]))),
                              shape=(len(compared), m))
    factor = sla.cho_factor(_information(theta, units, compared), check_finite=False)
    estimate = np.repeat(theta[compared][:, None], bootstrap, axis=1)  # warm start: the full-data fit
    for _ in range(BOOTSTRAP_STEPS):  # Newton steps with the full-data information matrix, all B at once
        gradient = (incidence @ (weights * expit(estimate[loser] - estimate[winner]))
                    + PRIOR_STRENGTH * (q_star - expit(estimate)))
        step = sla.cho_solve(factor, gradient, check_finite=False)
        estimate += np.clip(step, -MAX_STEP, MAX_STEP)
    replicates[compared] = estimate
    return replicates


def _laplace_sd(theta: np.ndarray, units: _Units) -> np.ndarray:
    sd = 1.0 / np.sqrt(PRIOR_STRENGTH * expit(theta) * expit(-theta))
    compared = np.union1d(units.winner, units.loser)
    if len(compared):
        sd[compared] = np.sqrt(np.diag(sla.inv(_information(theta, units, compared))))
    return sd


# ------------------------------------------------------------------------------------ presentation

def _tied(order: np.ndarray, low: np.ndarray, high: np.ndarray) -> list[list[int]]:
    """For each position in `order`, the positions of overlapping entries, nearest MAX_TIED, in rank order."""
    lo, hi = low[order], high[order]
    overlap = (lo[:, None] <= hi[None, :]) & (lo[None, :] <= hi[:, None])
    np.fill_diagonal(overlap, False)
    positions = np.arange(len(order))
    distance = np.where(overlap, np.abs(positions[:, None] - positions[None, :]), len(order) + 1)
    result = []
    for row in range(len(order)):
        near = np.flatnonzero(overlap[row])
        if len(near) > MAX_TIED:  # nearest in rank, the higher-ranked first on equal distance
            near = near[np.lexsort((near, distance[row, near]))[:MAX_TIED]]
        result.append(sorted(near.tolist()))
    return result


def _next_pair(order: np.ndarray, theta: np.ndarray, reps: np.ndarray | None, p_top: np.ndarray,
               k: int, pair_counts: dict[tuple[int, int], int], ids: list[str]) -> NextPair | None:
    n = len(order)
    if n < 2:
        return None
    ranks = np.empty(n, dtype=int)
    ranks[order] = np.arange(1, n + 1)
    keep = [i for i in order if ranks[i] <= k + 1 or p_top[i] > 0][:MAX_CANDIDATES]
    cand = np.asarray(keep if len(keep) >= 2 else order[:2])
    c = len(cand)
    p = expit(theta[cand][:, None] - theta[cand][None, :])
    if reps is not None and reps.shape[1]:
        r = reps[cand]
        above = (r[:, None, :] > r[None, :, :]).mean(axis=2)
        doubt = np.minimum(above, above.T) + 1.0 / (reps.shape[1] + 2)
    else:
        doubt = 4.0 * p * (1.0 - p)
    compared = np.array([[pair_counts.get((min(a, b), max(a, b)), 0) for b in cand] for a in cand])
    relevance = np.maximum(p_top[cand][:, None], p_top[cand][None, :]) + 1e-9
    utility = 4.0 * p * (1.0 - p) * doubt * relevance / (1.0 + compared)
    upper = np.triu(np.ones((c, c), dtype=bool), 1)  # cand is in rank order: row above column
    flat = np.where(upper, utility, -np.inf).ravel()
    best = int(np.flatnonzero(flat == flat.max())[0])  # first in rank order on exact ties
    a, b = cand[best // c], cand[best % c]
    ra, rb, made = int(ranks[a]), int(ranks[b]), int(compared[best // c, best % c])
    if ra <= k < rb:
        where = f"on the top-{k} boundary"
    elif rb <= k:
        where = f"inside the top {k}"
    else:
        where = f"just below the top {k}"
    chance = float(p[best // c, best % c])
    why = (f"close at ranks {ra} and {rb}, {where} ({chance:.0%} / {1 - chance:.0%} expected), "
           f"{made} comparison{'' if made == 1 else 's'} so far")
    return NextPair(a=ids[a], b=ids[b], why=why)


# ------------------------------------------------------------------------------------------ threads

_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None
_blas_controller: ThreadpoolController | None = None


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS on one thread while any ranking runs (process-wide; the previous limits come back after).

    Reference-counted, so overlapping rankings in several threads restore the original limits once,
    when the last one finishes.
    """
    global _blas_users, _blas_limiter, _blas_controller
    with _blas_lock:
        if _blas_users == 0:
            if _blas_controller is None:
                _blas_controller = ThreadpoolController()
            _blas_limiter = _blas_controller.limit(limits=1, user_api="blas")
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


# -------------------------------------------------------------------------------------------- API

def rank(items: Iterable[Item], preferences: Iterable[Preference] = (), scores: Iterable[DirectScore] = (), *,
         k: int = 3, bootstrap: int = 100, seed: int = 0) -> RankResult:
    """The suggested ranking of `items` given judges' `preferences` and direct `scores`.

    Raises ValueError for unknown or duplicate entry ids, a self-comparison, non-finite scores,
    k < 1 or bootstrap < 0.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if bootstrap < 0:
        raise ValueError("bootstrap must be 0 or more")
    ordered = _validate_items(items)
    preferences, scores = tuple(preferences), tuple(scores)
    ids = [item.id for item in ordered]
    index = {entry: i for i, entry in enumerate(ids)}
    units = _units(index, preferences, scores)
    preferences_of = np.zeros(len(ids), dtype=int)
    judged = np.zeros(len(ids), dtype=int)
    for pref in preferences:
        preferences_of[index[pref.winner]] += 1
        preferences_of[index[pref.loser]] += 1
    for record in scores:
        judged[index[record.entry]] += 1
    n = len(ids)
    if n == 0:
        return RankResult(items=(), next_pair=None, method=METHOD, bootstrap=bootstrap)

    model = np.array([item.model_score for item in ordered], dtype=float)
    q = np.clip(model, *SCORE_CLIP) / 100.0
    with _one_blas_thread():
        theta = _fit(q, units)
        score = 100.0 * expit(theta)
        # Rank by θ, then model score, then id; θ is rounded to 1e-5 logits (0.00025 score points), the
        # solver's tolerance, so that its noise cannot decide between equal evidence.
        order = np.lexsort((np.arange(n), -model, -np.round(theta, 5)))
        if bootstrap:
            reps = _replicates(theta, q, units, bootstrap, np.random.default_rng(seed))
            low, high = np.percentile(100.0 * expit(reps), [2.5, 97.5], axis=1)
            kk = min(k, n)
            top = np.argpartition(-reps, kk - 1, axis=0)[:kk]
            p_top = np.bincount(top.ravel(), minlength=n) / bootstrap
        else:
            reps = None
            sd = _laplace_sd(theta, units)
            low, high = 100.0 * expit(theta - 1.96 * sd), 100.0 * expit(theta + 1.96 * sd)
            p_top = np.zeros(n)
            p_top[order[:k]] = 1.0
    low, high = np.minimum(low, score), np.maximum(high, score)

    tied = _tied(order, low, high)
    ranked = tuple(
        RankedItem(id=ids[i], rank=position + 1, score=float(score[i]),
                   interval=(float(low[i]), float(high[i])), p_top_k=float(p_top[i]),
                   tied_with=tuple(ids[order[j]] for j in tied[position]),
                   comparisons=int(preferences_of[i]), judge_scores=int(judged[i]))
        for position, i in enumerate(order))
    return RankResult(items=ranked, next_pair=_next_pair(order, theta, reps, p_top, k, units.pair_counts, ids),
                      method=METHOD, bootstrap=bootstrap)


# --------------------------------------------------------------------------------- synthetic data

def _synthetic(n_items: int, n_votes: int, seed: int) -> tuple[list[Item], list[Preference], dict[str, float]]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.2, n_items)
    # The audition model sees the truth through noise (rank correlation ≈ 0.75).
    model = 100.0 * expit(0.8 * truth + rng.normal(0.0, 0.7, n_items))
    ids = [f"e{i:04d}" for i in range(n_items)]
    items = [Item(id=ids[i], model_score=round(float(model[i]), 2)) for i in range(n_items)]
    judges = [f"judge{j}" for j in range(8)]
    sharpness = rng.uniform(0.6, 1.2, len(judges))  # how closely each judge follows the true strengths
    preferences: list[Preference] = []
    if n_items >= 2:
        a = rng.integers(0, n_items, n_votes)
        b = (a + rng.integers(1, n_items, n_votes)) % n_items  # never a itself
        who = rng.integers(0, len(judges), n_votes)
        a_wins = rng.random(n_votes) < expit(sharpness[who] * (truth[a] - truth[b]))
        for x, y, j, win in zip(a, b, who, a_wins):
            w, l = (x, y) if win else (y, x)
            preferences.append(Preference(winner=ids[w], loser=ids[l], judge=judges[j]))
    return items, preferences, {ids[i]: float(truth[i]) for i in range(n_items)}


def synthetic_contest(n_items: int, n_votes: int, seed: int = 0) -> tuple[list[Item], list[Preference]]:
    """A contest for tests and benchmarks: random audition scores, votes from a true Bradley–Terry model.

    True strengths ~ N(0, 1.2²); the model score is 100·σ(0.8·truth + N(0, 0.7²)); each vote compares a
    uniformly random pair and is cast by one of 8 judges, who each follow the truth with their own
    sharpness in [0.6, 1.2] (P(a wins) = σ(sharpness·(t_a − t_b))).
    """
    items, preferences, _ = _synthetic(n_items, n_votes, seed)
    return items, preferences


def synthetic_truth(n_items: int, seed: int = 0) -> dict[str, float]:
    """The true strengths behind `synthetic_contest(n_items, …, seed)` (they do not depend on n_votes)."""
    return _synthetic(n_items, 0, seed)[2]
