"""Human grades of whole posts (the audition): a 1-5 or a 0-100 scale, and the bands they fall in.

A 1-5 grade is ordinal: agreement is QWK on its five levels, and 5 / 4 / 3 / 1-2 read as the
bands featured / promising / ordinary / low. A 0-100 grade is on the audition's own scale, so
its band comes from the rubric's cut-offs, and agreement is QWK on those bands (`qwk_bands`):
the decision a community actually sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from eval.data import LabelFileError, LabelledData
from eval.metrics import band_qwk, graded_metrics
from quality.rubric.config import Bands
from quality.rubric.fit import band_index

FIVE_POINT_BANDS = {1: 0, 2: 0, 3: 1, 4: 2, 5: 3}  # grade -> band index, 0 (low) to 3 (featured)


@dataclass(frozen=True)
class GradeScale:
    name: Literal["1-5", "0-100"]
    reference_bands: Bands  # the rubric's cut-offs, which place a 0-100 grade in a band

    @property
    def on_audition_scale(self) -> bool:
        """True when a grade (and a regression on it) can be banded with the rubric's cut-offs."""
        return self.name == "0-100"

    def valid(self, grade: float) -> bool:
        if self.name == "1-5":
            return grade in FIVE_POINT_BANDS
        return 0.0 <= grade <= 100.0

    def human_bands(self, grades: np.ndarray) -> np.ndarray:
        if self.name == "1-5":
            return np.array([FIVE_POINT_BANDS[int(grade)] for grade in grades])
        return band_index(grades, self.reference_bands)

    def agreement(self, grades: np.ndarray, scores: np.ndarray, model_bands: np.ndarray | None = None) -> dict:
        """Spearman, Pearson, Kendall; QWK on the five levels (1-5 only); `qwk_bands` when the
        model's bands are given."""
        out = graded_metrics(grades, scores, ordinal=self.name == "1-5")
        if model_bands is not None:
            out["qwk_bands"] = band_qwk(self.human_bands(grades), model_bands)
        return out


def apply_grade_scale(data: LabelledData, requested: str, bands: Bands) -> GradeScale:
    """Decide the scale ("auto": 1-5 when every grade is an integer <= 5) and drop from `data`,
    counted as `label_out_of_range`, the rows whose grade is not on it."""
    name = requested
    if requested == "auto":
        labels = [row.label for row in data.rows]
        name = "1-5" if max(labels) <= 5 and all(label == round(label) for label in labels) else "0-100"
    scale = GradeScale(name, bands)
    kept = [row for row in data.rows if scale.valid(row.label)]
    if len(kept) < len(data.rows):
        data.skipped["label_out_of_range"] += len(data.rows) - len(kept)
    data.rows = kept
    if not kept:
        raise LabelFileError(f"no grade is on the {name} scale (skipped: {dict(data.skipped)})")
    return scale
