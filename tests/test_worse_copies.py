"""The team's judgements of the monotonicity check's copies: the file's shape, and the blind order."""

from __future__ import annotations

import pytest

from train.worse_copies import JUDGED, SIZES, VERDICTS, Pair, read_judged


def test_the_judged_file_has_a_known_verdict_for_every_row_and_no_pair_twice():
    lines = JUDGED.read_text(encoding="utf-8").splitlines()
    judged = read_judged()
    assert len(judged) == len(lines) - 1  # no pair twice
    assert set(judged.values()) <= set(VERDICTS)
    assert {int(key.split("|")[0]) for key in judged} == set(SIZES)


def test_an_unknown_verdict_is_refused_naming_it(tmp_path):
    path = tmp_path / "judged.csv"
    path.write_text("size,photo,family,verdict,judge_1,judge_2\n320,clive/1.jpg,blur,worse,A_better,A_better\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="'worse'"):
        read_judged(path)


def test_the_side_a_copy_is_shown_on_is_fixed_and_not_always_the_same():
    pairs = [Pair(size, f"clive/{n}.jpg", "blur") for size in SIZES for n in range(40)]
    sides = [pair.copy_on_left for pair in pairs]
    assert sides == [pair.copy_on_left for pair in pairs]
    assert 10 < sum(sides) < 70
