"""What each evaluation task compares: which label, which number of the `ScoreResult`, what baselines."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from eval.data import LabelledRow
from quality.errors import QualityError
from quality.registry import DIMENSIONS, DimensionSpec
from quality.schemas import ImageInput, Parent, Post, ScoreResult


def _dimension(name: str, field: str = "score") -> Callable[[ScoreResult], float | None]:
    """Reads `<name>.<field>` of a result (None where the dimension does not apply)."""
    def read(result: ScoreResult) -> float | None:
        value = getattr(result.dimensions, name)
        return None if value is None else getattr(value, field)
    return read


def _photo_size(result: ScoreResult) -> float | None:
    """The first photo's geometric-mean side in pixels (its original size): the baseline "bigger is better"."""
    composition = result.dimensions.composition
    if composition is None or not composition.images:
        return None
    return float(composition.images[0].width * composition.images[0].height) ** 0.5


def _offensive_probability(result: ScoreResult) -> float | None:
    civility = result.dimensions.civility
    return None if civility is None else 1.0 - civility.score


def _uncalibrated_offensive_probability(result: ScoreResult) -> float | None:
    civility = result.dimensions.civility
    return None if civility is None else civility.context.get("offensive_probability_uncalibrated")


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
    reads: Literal["text", "image"] = "text"  # image: the item column holds image file paths
    human_grades: bool = False  # labels grade whole posts on 1-5 or 0-100 (eval/grades.py)
    # The same probability before calibration, when the dimension has one: ECE before and after.
    uncalibrated_score: Callable[[ScoreResult], float | None] | None = None
    # Named parts of the model score, each reported with the same metrics beside it.
    parts: tuple[tuple[str, Callable[[ScoreResult], float | None]], ...] = ()


def _dimension_task(spec: DimensionSpec) -> Task:
    """The task of a dimension table row that names a label type: labels against `<name>.score`."""
    if spec.reads == "images":
        return Task(spec.name, spec.label_type, _dimension(spec.name),
                    f"graded photos, or --pairs of photos (better, worse); model = {spec.name}.score",
                    default_text_col="image", reads="image")
    return Task(spec.name, spec.label_type, _dimension(spec.name),
                f"graded {spec.name}; model score = {spec.name}.score")


# One task per dimension with a label type (quality.registry), in table order, plus the tasks that
# read more than one dimension's score.
TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task("civility", "binary", _offensive_probability,
             "label 1 = offensive; model score = 1 - civility.score = P(offensive)", lexicon_baseline=True,
             uncalibrated_score=_uncalibrated_offensive_probability),
        Task("politeness", "graded", _politeness,
             "graded politeness (e.g. Stanford 'Normalized Score'); model score = civility.context.politeness",
             default_text_col="Request", default_label_col="Normalized Score"),
        *(_dimension_task(spec) for spec in DIMENSIONS.values() if spec.label_type is not None),
        Task("photo_quality", "graded", _dimension("composition"),
             "people's ratings of photos (image path, rating; e.g. a judges' past scores or MOS); model = the "
             "photo score composition.score, its parts perceived_quality and composition_only beside it, and "
             "photo_size (the photo's geometric-mean side: how far size alone goes); "
             "pairwise = pairs rated at least 10% of the rating range apart",
             default_text_col="image", default_label_col="rating", reads="image",
             parts=(*((field, _dimension("composition", field)) for field, _ in DIMENSIONS["composition"].parts),
                    ("photo_size", _photo_size))),
        Task("audition", "graded", lambda r: r.audition.score,
             "human grade of the post (1-5 or 0-100); model = audition.score; qwk_bands = QWK on the bands "
             "(1-5: 5 featured, 4 promising, 3 ordinary, 1-2 low; 0-100: the rubric's cut-offs)", human_grades=True),
    )
}


def post_for(text: str, parent_text: str | None) -> Post:
    if parent_text:
        return Post(kind="reply", text=text, parent=Parent(text=parent_text))
    return Post(kind="post", text=text)


def _photo(path: str, folder: Path | None) -> ImageInput:
    """A photo file (relative to `folder`, or absolute) as the API receives it; OSError if unreadable."""
    file = Path(path) if folder is None else folder / path
    return ImageInput(data=base64.b64encode(file.read_bytes()).decode("ascii"))


def post_for_item(task: Task, item: str, folder: Path | None = None) -> Post:
    """The post that scores one item: a text, or (image tasks) the photo at a path relative to `folder`."""
    if task.reads == "image":
        return Post(images=[_photo(item, folder)])
    return post_for(item, None)


def post_for_row(task: Task, row: LabelledRow, folder: Path | None = None) -> Post:
    """The post that scores one labelled row: with a title and photos, the whole post as a community
    would send it (photo paths relative to `folder`); for image tasks, the photo the row names."""
    if task.reads == "image":
        return post_for_item(task, row.text, folder)
    parent = Parent(text=row.parent_text) if row.parent_text else None
    return Post(kind="reply" if parent else "post", title=row.title, text=row.text or None,
                images=[_photo(path, folder) for path in row.images], parent=parent)


def score_each(service, posts: list[Post]) -> list[ScoreResult | None]:
    """Each post's result, None for a post that cannot be scored (`QualityService.score_each`)."""
    return [None if isinstance(outcome, QualityError) else outcome for outcome in service.score_each(posts)]
