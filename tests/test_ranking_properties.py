"""Property tests (hypothesis) for the contest ranking, `quality.contests.ranking.rank` (issue 10).

`tests/test_contest_ranking.py` pins behaviour on hand-made contests; these state what must hold for
*any* small contest: the audition prior alone, invariance under input order and order-preserving
relabelling, monotonicity of a vote, the shape of every result, determinism, and rejection of bad input.
Contests are small (<= 8 entries, <= 30 votes, <= 12 direct scores) so the file runs in seconds.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality.contests.ranking import SCORE_CLIP, DirectScore, Item, Preference, RankResult, rank
from quality.errors import QualityError

# The solver stops at a mean change of 1e-5 logits per iteration, and ranks by θ rounded to 1e-5;
# a logit error of 1e-4 is at most 0.0025 score points. Tolerances below are a little wider than that.
SOLVER_POINTS = 0.01

FAST = settings(max_examples=60, deadline=None)

ids_st = st.lists(st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=8, unique=True)
model_score_st = st.one_of(
    st.integers(0, 100).map(float),  # equal scores are likely: exercises the tie-breaks
    st.floats(min_value=0.0, max_value=100.0, allow_nan=False),
)
judges = st.sampled_from(["ann", "bo", "cy"])


@st.composite
def contests(draw, min_entries: int = 1, max_prefs: int = 30, max_scores: int = 12, with_scores: bool = True):
    """(items, preferences, scores) of a valid contest: every judgement names existing, distinct entries."""
    names = draw(ids_st.filter(lambda ids: len(ids) >= min_entries))
    items = [Item(id=name, model_score=draw(model_score_st)) for name in names]
    preferences: list[Preference] = []
    scores: list[DirectScore] = []
    if len(names) >= 2:
        pairs = st.tuples(st.sampled_from(names), st.sampled_from(names)).filter(lambda p: p[0] != p[1])
        for winner, loser in draw(st.lists(pairs, max_size=max_prefs)):
            preferences.append(Preference(winner=winner, loser=loser, judge=draw(judges)))
    if with_scores:
        for entry, score, judge in draw(st.lists(
                st.tuples(st.sampled_from(names), st.integers(0, 10).map(lambda s: 10.0 * s), judges),
                max_size=max_scores)):
            scores.append(DirectScore(entry=entry, score=score, judge=judge))
    return items, preferences, scores


settings_st = st.fixed_dictionaries({
    "k": st.integers(1, 5),
    "bootstrap": st.sampled_from([0, 10, 30]),
    "seed": st.integers(0, 3),
})


def by_id(result: RankResult):
    return {item.id: item for item in result.items}


# ------------------------------------------------------------------------------------- the prior

@FAST
@given(contest=contests(with_scores=False, max_prefs=0), options=settings_st)
def test_without_judgements_each_score_is_the_clipped_model_score_and_the_order_follows_it(contest, options):
    items, _, _ = contest
    result = rank(items, **options)
    model = {item.id: item.model_score for item in items}
    for ranked in result.items:
        assert ranked.score == pytest.approx(min(max(model[ranked.id], SCORE_CLIP[0]), SCORE_CLIP[1]), abs=1e-9)
        assert ranked.comparisons == 0 and ranked.judge_scores == 0
    # Higher model score first (the raw score breaks ties between clipped ones), then id.
    assert [item.id for item in result.items] == [item.id for item in sorted(items, key=lambda i: (-i.model_score,
                                                                                                   i.id))]


@FAST
@given(contest=contests(), options=settings_st)
def test_a_judge_who_scored_a_single_entry_changes_no_number(contest, options):
    """Direct scores are only an order within each judge: one score alone is no evidence."""
    items, preferences, _ = contest
    lone = [DirectScore(entry=items[0].id, score=77.0, judge="solo")]
    plain, scored = rank(items, preferences, **options), rank(items, preferences, lone, **options)
    assert [(i.id, i.score, i.interval, i.p_top_k) for i in plain.items] == \
           [(i.id, i.score, i.interval, i.p_top_k) for i in scored.items]


# ------------------------------------------------------------------------------- the result's shape

@settings(max_examples=120, deadline=None)
@given(contest=contests(), options=settings_st)
def test_every_result_is_well_formed(contest, options):
    items, preferences, scores = contest
    result = rank(items, preferences, scores, **options)
    n, k = len(items), options["k"]
    assert result.bootstrap == options["bootstrap"]
    assert sorted(item.id for item in result.items) == sorted(item.id for item in items)
    assert [item.rank for item in result.items] == list(range(1, n + 1))
    for item in result.items:
        low, high = item.interval
        assert all(math.isfinite(v) for v in (item.score, low, high, item.p_top_k))
        assert 0.0 <= low <= item.score <= high <= 100.0
        assert 0.0 <= item.p_top_k <= 1.0
        assert item.comparisons == sum(item.id in (p.winner, p.loser) for p in preferences)
        assert item.judge_scores == sum(s.entry == item.id for s in scores)
    assert sum(item.p_top_k for item in result.items) == pytest.approx(min(k, n), abs=1e-9)
    if options["bootstrap"] == 0:  # no resampling: the point top k, certainly
        assert [item.p_top_k for item in result.items] == [1.0] * min(k, n) + [0.0] * (n - min(k, n))
    # Ranked by score (θ is rounded to 1e-5 logits before ranking: ≤ 0.00025 points of disorder).
    for above, below in zip(result.items, result.items[1:]):
        assert above.score >= below.score - 1e-3
    # Tied means overlapping intervals; with <= 8 entries the MAX_TIED cap never bites, so it is symmetric.
    ranked = by_id(result)
    for item in result.items:
        assert item.id not in item.tied_with
        overlapping = [other.id for other in result.items if other.id != item.id
                       and other.interval[0] <= item.interval[1] and item.interval[0] <= other.interval[1]]
        assert list(item.tied_with) == overlapping  # in rank order
        assert all(item.id in ranked[other].tied_with for other in item.tied_with)


@settings(max_examples=120, deadline=None)
@given(contest=contests(), options=settings_st)
def test_next_pair_names_two_distinct_entries_higher_ranked_first(contest, options):
    items, preferences, scores = contest
    result = rank(items, preferences, scores, **options)
    if len(items) < 2:
        assert result.next_pair is None
        return
    pair = result.next_pair
    assert pair is not None and pair.a != pair.b
    ranked = by_id(result)
    assert pair.a in ranked and pair.b in ranked
    assert ranked[pair.a].rank < ranked[pair.b].rank
    assert f"ranks {ranked[pair.a].rank} and {ranked[pair.b].rank}" in pair.why


# ------------------------------------------------------------------------------ invariance, determinism

@FAST
@given(contest=contests(), options=settings_st, data=st.data())
def test_the_order_of_entries_and_judgements_changes_nothing(contest, options, data):
    items, preferences, scores = contest
    first = rank(items, preferences, scores, **options)
    assert rank(items, preferences, scores, **options) == first  # determinism
    shuffled = [data.draw(st.permutations(values)) for values in (items, preferences, scores)]
    assert rank(*(iter(values) for values in shuffled), **options) == first


def _relabel(contest, entry_name, judge_name):
    items, preferences, scores = contest
    return ([Item(entry_name(i.id), i.model_score) for i in items],
            [Preference(entry_name(p.winner), entry_name(p.loser), judge_name(p.judge)) for p in preferences],
            [DirectScore(entry_name(s.entry), s.score, judge_name(s.judge)) for s in scores])


@FAST
@given(contest=contests(), options=settings_st, prefix=st.text(alphabet="xyz-", max_size=3))
def test_an_order_preserving_relabelling_changes_no_number(contest, options, prefix):
    """Renaming entries and judges without changing their sort order gives the same result, renamed.

    (The bootstrap draws its noise in id order, so only a relabelling that keeps that order is
    guaranteed the same intervals; see the next test for arbitrary relabelling.)"""
    rename = lambda name: f"{prefix}{name}#"  # noqa: E731 - a common prefix keeps lexicographic order
    before = rank(*contest, **options)
    after = rank(*_relabel(contest, rename, lambda judge: judge.upper()), **options)
    assert [(rename(i.id), i.rank, i.score, i.interval, i.p_top_k, tuple(map(rename, i.tied_with)),
             i.comparisons, i.judge_scores) for i in before.items] == \
           [(i.id, i.rank, i.score, i.interval, i.p_top_k, i.tied_with, i.comparisons, i.judge_scores)
            for i in after.items]
    if before.next_pair is not None:
        assert (rename(before.next_pair.a), rename(before.next_pair.b)) == (after.next_pair.a, after.next_pair.b)


@FAST
@given(contest=contests(), data=st.data())
def test_any_relabelling_keeps_every_entrys_score(contest, data):
    """The point estimate does not depend on names (up to the solver's tolerance). Intervals and
    p_top_k are not compared: the seeded bootstrap assigns its draws in id order, so renaming that
    reorders ids legitimately gives other (equally valid) bootstrap draws."""
    items = contest[0]
    names = [item.id for item in items]
    new_names = data.draw(st.permutations(names))
    mapping = dict(zip(names, new_names))
    before = by_id(rank(*contest, bootstrap=0))
    after = by_id(rank(*_relabel(contest, mapping.__getitem__, lambda judge: judge[::-1]), bootstrap=0))
    for name in names:
        assert after[mapping[name]].score == pytest.approx(before[name].score, abs=SOLVER_POINTS)


# ------------------------------------------------------------------------------------ monotonicity

@settings(max_examples=150, deadline=None)
@given(contest=contests(min_entries=2), data=st.data(), judge=judges)
def test_a_vote_for_a_over_b_never_lowers_a_nor_raises_b(contest, data, judge):
    items, preferences, scores = contest
    winner, loser = data.draw(st.lists(st.sampled_from([item.id for item in items]), min_size=2, max_size=2,
                                       unique=True))
    before = by_id(rank(items, preferences, scores, bootstrap=0))
    after = by_id(rank(items, preferences + [Preference(winner, loser, judge)], scores, bootstrap=0))
    assert after[winner].score >= before[winner].score - SOLVER_POINTS
    assert after[loser].score <= before[loser].score + SOLVER_POINTS
    assert after[winner].score - after[loser].score > before[winner].score - before[loser].score - SOLVER_POINTS


# ---------------------------------------------------------------------------------------- bad input

BAD_KINDS = ["unknown winner", "unknown loser", "unknown scored entry", "self-comparison", "non-finite score",
             "duplicate entry"]


@FAST
@given(contest=contests(), options=settings_st, kind=st.sampled_from(BAD_KINDS), data=st.data())
def test_invalid_judgements_are_rejected_with_value_error_only(contest, options, kind, data):
    """`rank` documents ValueError for bad input (callers turn it into `InvalidInput`: the contest store
    validates judgements first, the CLI catches ValueError). It is not a `QualityError`, and nothing else
    (KeyError, IndexError, numpy errors) may escape."""
    items, preferences, scores = contest
    names = [item.id for item in items]
    ghost = data.draw(st.text(alphabet="abcdefghz", min_size=1, max_size=4).filter(lambda s: s not in names))
    some = data.draw(st.sampled_from(names))
    bad_prefs, bad_scores, bad_items = list(preferences), list(scores), list(items)
    if kind == "unknown winner":
        bad_prefs.insert(data.draw(st.integers(0, len(bad_prefs))), Preference(ghost, some, "ann"))
    elif kind == "unknown loser":
        bad_prefs.insert(data.draw(st.integers(0, len(bad_prefs))), Preference(some, ghost, "ann"))
    elif kind == "unknown scored entry":
        bad_scores.insert(data.draw(st.integers(0, len(bad_scores))), DirectScore(ghost, 50.0, "zed"))
    elif kind == "self-comparison":
        bad_prefs.insert(data.draw(st.integers(0, len(bad_prefs))), Preference(some, some, "ann"))
    elif kind == "non-finite score":
        value = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        bad_scores.insert(data.draw(st.integers(0, len(bad_scores))), DirectScore(some, value, "bo"))
    else:
        bad_items.append(Item(some, 50.0))
    with pytest.raises(ValueError) as info:
        rank(bad_items, bad_prefs, bad_scores, **options)
    assert not isinstance(info.value, QualityError)  # documents the contract: see the docstring
    if kind.startswith("unknown"):
        assert repr(ghost) in str(info.value)


@FAST
@given(contest=contests(), k=st.integers(-3, 0), bootstrap=st.integers(-3, 5))
def test_invalid_settings_are_rejected_with_value_error(contest, k, bootstrap):
    with pytest.raises(ValueError):
        rank(*contest, k=k, bootstrap=bootstrap)
