"""The one table of scoring dimensions.

Adding a dimension is one module with a class that follows `DimensionScorer`, plus one row
here (and, if the audition should weigh it, its weight and reason texts in the rubric file).
Everything else follows this table: the service builds every dimension from it, in table order;
`quality.schemas.Dimensions` has one field per row, of the row's result schema; evaluation has a
task per row that names a label type (`quality eval --task`); `/info` lists the rows; and the
judges' page shows each row's score under its Chinese label.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:  # the table itself is plain data: quality.schemas builds `Dimensions` from it
    from quality.model_store import ModelStore


@runtime_checkable
class DimensionScorer(Protocol):
    name: str
    version: str

    def score_batch(self, batch) -> list[BaseModel | None]:
        """One result (or None where the dimension does not apply) per item, in order."""


@dataclass(frozen=True)
class PostBatch:
    """What a dimension that reads whole posts gets: the text batch, the decoded photos, and
    the results of the dimensions listed before it in the table (by name, one per post)."""

    text: Any
    images: list
    scored: dict[str, list]


@dataclass(frozen=True)
class DimensionSpec:
    name: str
    implementation: str  # "module:Class"
    reads: Literal["text", "images", "post"]
    description: str
    label_zh: str  # how the judges' page names it
    # The class in quality.schemas each result of this dimension is (a `DimensionScore` or a subclass).
    result: str = "DimensionScore"
    # Human labels `quality eval --task <name>` compares `<name>.score` with; None: no such task
    # (theme relevance needs a contest theme per row, which labelled files do not carry).
    label_type: Literal["graded"] | None = "graded"
    # False for a dimension added after results were first stored: older results lack it.
    required_in_results: bool = True
    score_range: tuple[float, float] = (0.0, 1.0)
    higher_is_better: bool = True
    # Parts of the score shown apart beside it: (field of the result, how the judges' page names it).
    parts: tuple[tuple[str, str], ...] = ()

    def build(self, store: "ModelStore") -> DimensionScorer:
        module_name, class_name = self.implementation.split(":")
        scorer_class = getattr(importlib.import_module(module_name), class_name)
        return scorer_class(store)


DIMENSIONS: dict[str, DimensionSpec] = {
    spec.name: spec
    for spec in (
        DimensionSpec("clarity", "quality.text.clarity:ClarityScorer", "text",
                      "逻辑清晰 — structure, connectives, readable sentences", "条理"),
        DimensionSpec("sincerity", "quality.text.sincerity:SincerityScorer", "text",
                      "真诚 — first-hand experience, balance, no advertising", "真诚"),
        DimensionSpec("helpfulness", "quality.text.helpfulness:HelpfulnessScorer", "text",
                      "有帮助 — concrete car facts, numbers with units, advice", "有用"),
        DimensionSpec("civility", "quality.text.civility:CivilityScorer", "text",
                      "文明 — not offensive (COLD); spans; context: how a reply treats the person it answers (reply model)", "文明",
                      result="CivilityScore", label_type=None),  # its task: binary P(offensive), eval.tasks
        DimensionSpec("composition", "quality.image.scorer:CompositionScorer", "images",
                      "照片 — the photo score: perceived quality (learned from people's ratings) and composition, "
                      "held down by severe named issues; per photo, with the issues", "照片",
                      result="CompositionScore", parts=(("perceived_quality", "画质"), ("composition_only", "构图"))),
        DimensionSpec("theme_relevance", "quality.text.theme:ThemeRelevanceScorer", "post",
                      "切题 — closeness of text and photos to the contest theme (only with `theme`)", "切题",
                      label_type=None, required_in_results=False),
    )
}
