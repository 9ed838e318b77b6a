"""The one table of scoring dimensions.

Adding a dimension is one module with a class that follows `DimensionScorer`, plus
one row here. The service builds every dimension from this table, in table order.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

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
    score_range: tuple[float, float] = (0.0, 1.0)
    higher_is_better: bool = True

    def build(self, store: ModelStore) -> DimensionScorer:
        module_name, class_name = self.implementation.split(":")
        scorer_class = getattr(importlib.import_module(module_name), class_name)
        return scorer_class(store)


DIMENSIONS: dict[str, DimensionSpec] = {
    spec.name: spec
    for spec in (
        DimensionSpec("clarity", "quality.text.clarity:ClarityScorer", "text",
                      "逻辑清晰 — structure, connectives, readable sentences"),
        DimensionSpec("sincerity", "quality.text.sincerity:SincerityScorer", "text",
                      "真诚 — first-hand experience, balance, no advertising"),
        DimensionSpec("helpfulness", "quality.text.helpfulness:HelpfulnessScorer", "text",
                      "有帮助 — concrete car facts, numbers with units, advice"),
        DimensionSpec("civility", "quality.text.civility:CivilityScorer", "text",
                      "文明 — not offensive (trained on COLD); spans of uncivil words; reply context"),
        DimensionSpec("composition", "quality.image.scorer:CompositionScorer", "images",
                      "构图与画质 — per-photo composition and technical quality with named issues"),
        DimensionSpec("theme_relevance", "quality.text.theme:ThemeRelevanceScorer", "post",
                      "切题 — closeness of text and photos to the contest theme (only with `theme`)"),
    )
}
