"""The suggested contest ranking: audition prior, judges' votes and scores, bootstrap intervals, ties, next pair."""

from __future__ import annotations

import random

import pytest
from scipy.stats import spearmanr
from threadpoolctl import threadpool_info

from quality.contests.ranking import (
    MAX_TIED,
    DirectScore,
    Item,
    Preference,
    RankResult,
    rank,
    synthetic_contest,
    synthetic_truth,
)


def votes(winner: str, loser: str, n: int, judges: int | None = None) -> list[Preference]:
    """n votes of winner over loser, from n different judges unless `judges` says how many."""
    return [Preference(winner=winner, loser=loser, judge=f"judge{i % (judges or n)}") for i in range(n)]


def by_id(result: RankResult):
    return {item.id: item for item in result.items}


def order(result: RankResult) -> list[str]:
    return [item.id for item in result.items]


PRIOR_ONLY = [Item("p", 45.0), Item("q", 90.0), Item("r", 12.0), Item("s", 75.0), Item("t", 60.0), Item("u", 30.0)]


# ------------------------------------------------------------------------------------- the prior

def test_without_judgements_the_ranking_is_the_model_score_ranking():
    result = rank(PRIOR_ONLY, k=2)
    assert order(result) == ["q", "s", "t", "p", "u", "r"]
    assert [item.rank for item in result.items] == [1, 2, 3, 4, 5, 6]
    model = {item.id: item.model_score for item in PRIOR_ONLY}
    for item in result.items:
        assert item.score == pytest.approx(model[item.id], abs=0.01)
        low, high = item.interval
        assert low < item.score < high
        assert high - low > 5.0  # the audition score alone is uncertain; the interval says so
        assert item.comparisons == 0 and item.judge_scores == 0


def test_without_judgements_a_large_contest_follows_the_model_scores():
    shuffle = random.Random(3)
    items = [Item(f"x{i:03d}", score) for i, score in enumerate(shuffle.sample(range(1, 99), 90))]
    result = rank(items, bootstrap=20)
    assert order(result) == [item.id for item in sorted(items, key=lambda item: -item.model_score)]


def test_prior_intervals_are_narrower_in_points_towards_the_ends_of_the_scale():
    items = {item.id: item for item in rank([Item("mid", 50.0), Item("top", 97.0)]).items}
    assert items["mid"].interval[1] - items["mid"].interval[0] > items["top"].interval[1] - items["top"].interval[0]


def test_model_scores_are_clipped_so_the_extremes_stay_finite_and_ordered():
    result = rank([Item("zero", 0.0), Item("hundred", 100.0), Item("mid", 50.0)])
    assert order(result) == ["hundred", "mid", "zero"]
    items = by_id(result)
    assert items["hundred"].score == pytest.approx(99.0, abs=0.01)
    assert items["zero"].score == pytest.approx(1.0, abs=0.01)


def test_equal_model_scores_are_ordered_by_id_and_tied():
    result = rank([Item("b", 70.0), Item("a", 70.0)])
    assert order(result) == ["a", "b"]
    assert result.items[0].tied_with == ("b",) and result.items[1].tied_with == ("a",)


# ---------------------------------------------------------------------------------- the evidence

def test_consistent_votes_overturn_a_close_prior():
    items = [Item("A", 70.0), Item("B", 60.0)]
    assert order(rank(items)) == ["A", "B"]
    result = rank(items, votes("B", "A", 5))
    assert order(result) == ["B", "A"]
    assert by_id(result)["A"].comparisons == 5 and by_id(result)["B"].comparisons == 5


def test_a_ten_point_prior_gap_needs_a_handful_of_votes_not_one_or_two():
    items = [Item("A", 70.0), Item("B", 60.0)]
    assert order(rank(items, votes("B", "A", 2))) == ["A", "B"]
    moved = by_id(rank(items, votes("B", "A", 2)))
    assert moved["B"].score > 60.0 and moved["A"].score < 70.0  # two votes still move both


def test_a_single_vote_does_not_overturn_a_large_gap():
    result = rank([Item("C", 30.0), Item("D", 90.0)], votes("C", "D", 1))
    assert order(result) == ["D", "C"]
    items = by_id(result)
    assert items["C"].score > 30.0 and items["D"].score < 90.0


def test_direct_scores_from_one_judge_move_the_ranking():
    items = [Item(name, score) for name, score in zip("abcde", (66.0, 65.0, 64.0, 63.0, 62.0))]
    assert order(rank(items)) == list("abcde")
    judged = [DirectScore(entry=name, score=score, judge="li") for name, score in
              zip("abcde", (40.0, 50.0, 60.0, 70.0, 90.0))]
    result = rank(items, scores=judged)
    assert order(result)[0] == "e"
    assert by_id(result)["e"].score > 62.0 and by_id(result)["a"].score < 66.0
    assert all(item.judge_scores == 1 for item in result.items)


def test_direct_scores_use_each_judges_order_not_their_scale():
    items = [Item(name, score) for name, score in zip("abcd", (70.0, 65.0, 60.0, 55.0))]
    generous = [DirectScore(name, score, "generous") for name, score in zip("abcd", (80.0, 85.0, 90.0, 95.0))]
    harsh = [DirectScore(name, score, "harsh") for name, score in zip("abcd", (5.0, 10.0, 20.0, 40.0))]
    assert rank(items, scores=generous) == rank(items, scores=harsh)
    moved = by_id(rank(items, scores=generous))
    assert moved["d"].score > 55.0 and moved["a"].score < 70.0


def test_a_judge_who_scored_one_entry_changes_nothing_but_the_count():
    items = [Item("a", 70.0), Item("b", 60.0)]
    plain = rank(items)
    scored = rank(items, scores=[DirectScore("b", 100.0, "solo")])
    assert [(i.id, i.score, i.interval) for i in scored.items] == [(i.id, i.score, i.interval) for i in plain.items]
    assert by_id(scored)["b"].judge_scores == 1


def test_entries_outside_the_judged_component_keep_their_model_score():
    items = [Item("a", 70.0), Item("b", 60.0), Item("c", 55.0), Item("d", 50.0), Item("lone", 65.0)]
    result = by_id(rank(items, votes("b", "a", 3) + votes("d", "c", 3)))
    assert result["lone"].score == pytest.approx(65.0, abs=1e-6)
    assert result["b"].score > 60.0 and result["d"].score > 50.0


def test_recovers_the_true_order_better_than_the_prior_alone():
    items, preferences = synthetic_contest(40, 2000, seed=1)
    truth = synthetic_truth(40, seed=1)
    result = rank(items, preferences)
    fitted = spearmanr([item.score for item in result.items], [truth[item.id] for item in result.items])[0]
    prior = spearmanr([item.model_score for item in items], [truth[item.id] for item in items])[0]
    assert fitted > 0.8
    assert fitted > prior + 0.05


def test_enough_consistent_votes_separate_a_tied_pair():
    items = [Item("a", 60.0), Item("b", 55.0), Item("c", 50.0)]
    few = by_id(rank(items, votes("a", "b", 2)))
    assert "b" in few["a"].tied_with and "a" in few["b"].tied_with
    many = by_id(rank(items, votes("a", "b", 20, judges=5)))
    assert "b" not in many["a"].tied_with and "a" not in many["b"].tied_with
    assert many["a"].interval[0] > many["b"].interval[1]
    assert "c" in many["a"].tied_with  # c was never compared: its own prior interval still overlaps


def test_a_dead_heat_is_broken_by_the_model_score():
    # 3 votes exactly balance a 10-point prior gap: 30·(0.70 − 0.65) = 3·σ(0) = 1.5, both end at 65
    result = rank([Item("A", 70.0), Item("B", 60.0)], votes("B", "A", 3))
    assert [item.score for item in result.items] == pytest.approx([65.0, 65.0], abs=1e-3)
    assert order(result) == ["A", "B"]


# ------------------------------------------------------------------------------------ uncertainty

@pytest.mark.parametrize("k", [1, 3, 5])
def test_p_top_k_is_a_share_of_k_places(k):
    items, preferences = synthetic_contest(30, 200, seed=4)
    result = rank(items, preferences, k=k, bootstrap=60)
    shares = [item.p_top_k for item in result.items]
    assert all(0.0 <= share <= 1.0 for share in shares)
    assert sum(shares) == pytest.approx(k)
    assert result.items[0].p_top_k >= result.items[-1].p_top_k
    assert result.bootstrap == 60


def test_with_fewer_entries_than_k_everything_is_in_the_top():
    result = rank([Item("a", 40.0), Item("b", 60.0)], k=3)
    assert [item.p_top_k for item in result.items] == [1.0, 1.0]


def test_without_bootstrap_the_intervals_are_normal_approximations():
    result = rank([Item("a", 70.0), Item("b", 60.0), Item("c", 20.0)], votes("b", "a", 2), k=1, bootstrap=0)
    assert result.bootstrap == 0
    for item in result.items:
        assert item.interval[0] < item.score < item.interval[1]
    assert [item.p_top_k for item in result.items] == [1.0, 0.0, 0.0]


def test_identical_evidence_is_tied_and_a_distant_entry_is_not():
    items = [Item("X", 60.0), Item("Y", 60.0), Item("W", 50.0), Item("F", 95.0), Item("L", 5.0)]
    preferences = (votes("X", "W", 3) + votes("Y", "W", 3) + votes("F", "X", 3) + votes("F", "Y", 3)
                   + votes("X", "L", 1) + votes("Y", "L", 1))
    result = by_id(rank(items, preferences))
    assert result["X"].score == pytest.approx(result["Y"].score, abs=1e-3)
    assert "Y" in result["X"].tied_with and "X" in result["Y"].tied_with
    for name in "XY":
        assert "F" not in result[name].tied_with and "L" not in result[name].tied_with
    assert result["F"].tied_with == () and result["L"].tied_with == ()
    assert result["F"].rank == 1 and result["L"].rank == 5


def test_tied_with_lists_the_nearest_overlapping_entries_in_rank_order_and_is_capped():
    items = [Item(f"e{i:02d}", 60.0 + 0.1 * i) for i in range(25)]  # no judgements: everything overlaps
    result = rank(items)
    positions = {item.id: item.rank for item in result.items}
    middle = result.items[12]
    assert len(middle.tied_with) == MAX_TIED
    ranks = [positions[name] for name in middle.tied_with]
    assert ranks == sorted(ranks) and middle.rank not in ranks
    assert max(abs(r - middle.rank) for r in ranks) == MAX_TIED // 2
    for item in result.items:  # symmetry where the cap does not bite
        for other in item.tied_with:
            if len(by_id(result)[other].tied_with) < MAX_TIED:
                assert item.id in by_id(result)[other].tied_with


# ------------------------------------------------------------------------------------- next pair

def test_next_pair_is_two_entries_close_at_the_top():
    items = [Item(f"i{n}", score) for n, score in enumerate((80.0, 76.0, 72.0, 70.0, 66.0, 60.0, 50.0, 40.0))]
    result = rank(items, k=3)
    pair = result.next_pair
    assert pair is not None and pair.a != pair.b
    assert {pair.a, pair.b} <= {item.id for item in items}
    ranks = by_id(result)
    assert ranks[pair.a].rank < ranks[pair.b].rank <= 5
    assert "rank" in pair.why and "0 comparisons" in pair.why


@pytest.mark.parametrize("split", [True, False])
def test_next_pair_moves_on_after_many_votes_on_it(split):
    items = [Item(f"i{n}", score) for n, score in enumerate((80.0, 76.0, 72.0, 70.0, 66.0, 60.0, 50.0, 40.0))]
    first = rank(items).next_pair
    evidence = votes(first.a, first.b, 10)
    if split:  # the judges disagree: still uncertain, but asked often enough
        evidence += votes(first.b, first.a, 10)
    after = rank(items, evidence).next_pair
    assert {after.a, after.b} != {first.a, first.b}


def test_next_pair_counts_comparisons_so_far():
    items = [Item("a", 60.0), Item("b", 59.0)]
    pair = rank(items, votes("a", "b", 1) + votes("b", "a", 1)).next_pair
    assert {pair.a, pair.b} == {"a", "b"}
    assert "2 comparisons so far" in pair.why


# --------------------------------------------------------------------------- determinism, input edges

def test_the_same_inputs_in_any_order_give_the_same_result():
    items, preferences = synthetic_contest(50, 300, seed=7)
    judged = [DirectScore(entry=items[i].id, score=float(10 * (i % 7)), judge=f"j{i % 3}") for i in range(12)]
    first = rank(items, preferences, judged, k=4, bootstrap=50, seed=3)
    assert rank(items, preferences, judged, k=4, bootstrap=50, seed=3) == first
    shuffle = random.Random(0)
    items2, preferences2, judged2 = list(items), list(preferences), list(judged)
    for values in (items2, preferences2, judged2):
        shuffle.shuffle(values)
    assert rank(iter(items2), iter(preferences2), iter(judged2), k=4, bootstrap=50, seed=3) == first


def test_the_seed_changes_only_the_bootstrap():
    items, preferences = synthetic_contest(20, 80, seed=2)
    one, two = rank(items, preferences, seed=1), rank(items, preferences, seed=2)
    assert [(i.id, i.score) for i in one.items] == [(i.id, i.score) for i in two.items]
    assert [i.interval for i in one.items] != [i.interval for i in two.items]


@pytest.mark.parametrize("preferences, scores", [
    ([Preference("a", "ghost", "j")], []),
    ([Preference("ghost", "a", "j")], []),
    ([], [DirectScore("ghost", 50.0, "j")]),
    ([Preference("a", "a", "j")], []),
    ([], [DirectScore("a", float("nan"), "j")]),
])
def test_bad_judgements_are_rejected(preferences, scores):
    with pytest.raises(ValueError):
        rank([Item("a", 50.0), Item("b", 60.0)], preferences, scores)


@pytest.mark.parametrize("kwargs", [{"k": 0}, {"bootstrap": -1}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError):
        rank([Item("a", 50.0)], **kwargs)


def test_duplicate_entries_are_rejected():
    with pytest.raises(ValueError):
        rank([Item("a", 50.0), Item("a", 60.0)])


def test_no_entries_give_an_empty_ranking():
    result = rank([])
    assert result.items == () and result.next_pair is None
    assert "choix" in result.method


def test_a_single_entry_is_first():
    result = rank([Item("only", 42.0)], k=3)
    (item,) = result.items
    assert item.rank == 1 and item.p_top_k == 1.0 and item.tied_with == ()
    assert item.score == pytest.approx(42.0, abs=0.01)
    assert result.next_pair is None


def test_blas_thread_limits_are_restored_after_ranking():
    before = [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]
    items, preferences = synthetic_contest(20, 60, seed=0)
    rank(items, preferences)
    assert [(lib["filepath"], lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"] == before


def test_synthetic_contest_has_the_requested_size_and_valid_votes():
    items, preferences = synthetic_contest(30, 120, seed=5)
    ids = {item.id for item in items}
    assert len(items) == 30 and len(ids) == 30 and len(preferences) == 120
    assert all(p.winner in ids and p.loser in ids and p.winner != p.loser for p in preferences)
    assert all(0.0 <= item.model_score <= 100.0 for item in items)
    assert set(synthetic_truth(30, seed=5)) == ids
