"""The team's graded posts (data/post_quality/): valid rows, the stated split, the agreement measure."""

from __future__ import annotations

from train.post_quality_data import POSTS_FILE, check, quadratic_kappa, read_jsonl, split_of


def test_the_committed_posts_are_valid_and_split_by_the_stated_rule():
    rows = read_jsonl(POSTS_FILE)
    assert len(rows) >= 200
    assert check(rows) == []
    dev = sum(row["split"] == "dev" for row in rows)
    assert 0.35 < dev / len(rows) < 0.65
    for grade in ("clarity", "sincerity", "helpfulness"):  # every grade is used, low and high
        assert {row[f"first_{grade}"] for row in rows} == {1, 2, 3, 4, 5}


def test_split_is_a_fixed_function_of_the_id():
    assert split_of("qa-001") == split_of("qa-001")
    shares = [split_of(f"x-{i}") for i in range(2000)]
    assert 0.45 < shares.count("dev") / len(shares) < 0.55


def test_quadratic_kappa_rewards_near_misses_and_punishes_far_ones():
    a = [1, 2, 3, 4, 5] * 4
    assert quadratic_kappa(a, a) == 1.0
    near = [min(5, x + 1) for x in a]
    far = [6 - x for x in a]
    assert 0.5 < quadratic_kappa(a, near) < 1.0
    assert quadratic_kappa(a, far) < 0
