"""Flags raised from dimension scores, by the cut-offs of the rubric file's `flags` section."""

from __future__ import annotations

from quality.rubric.config import ScoreFlag


def score_flags(rules: dict[str, ScoreFlag], scores: dict[str, float | None]) -> list[str]:
    """The flags (in the rules' order) whose dimension has a score below the rule's cut-off; a
    dimension that does not apply (None, or absent) raises nothing."""
    return [name for name, rule in rules.items()
            if scores.get(rule.dimension) is not None and scores[rule.dimension] < rule.below]
