"""What each evaluation task compares: which label, which number of the `ScoreResult`, what baselines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

from quality.schemas import Parent, Post, ScoreResult


def _dimension(name: str) -> Callable[[ScoreResult], float | None]:
    def read(result: ScoreResult) -> float | None:
        value = getattr(result.dimensions, name)
        return None if value is None else value.score
    return read


def _offensive_probability(result: ScoreResult) -> float | None:
    civility = result.dimensions.civility
    return None if civility is None else 1.0 - civility.score


def _politeness(result: ScoreResult) -> float | None:
    civility = result.dimensions.civility
    return None if civility is None else civility.context.get("politeness")


@dataclass(frozen=True)
class Task:
    name: str
    label_type: Literal["binary", "graded"]
    model_score: Callable[[ScoreResult], float | None]
    description: str
    default_text_col: str = "text"
    default_label_col: str = "label"
    lexicon_baseline: bool = False


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("civility", "binary", _offensive_probability,
             "label 1 = offensive; model score = 1 - civility.score = P(offensive)", lexicon_baseline=True),
        Task("politeness", "graded", _politeness,
             "graded politeness (e.g. Stanford 'Normalized Score'); model score = civility.context.politeness",
             default_text_col="Request", default_label_col="Normalized Score"),
        Task("clarity", "graded", _dimension("clarity"), "graded clarity; model score = clarity.score"),
        Task("sincerity", "graded", _dimension("sincerity"), "graded sincerity; model score = sincerity.score"),
        Task("helpfulness", "graded", _dimension("helpfulness"), "graded helpfulness; model score = helpfulness.score"),
        Task("audition", "graded", lambda r: r.audition.score, "human grade (0-100 or 1-5); model = audition.score"),
    )
}


def post_for(text: str, parent_text: str | None) -> Post:
    if parent_text:
        return Post(kind="reply", text=text, parent=Parent(text=parent_text))
    return Post(kind="post", text=text)
