"""The photo score: perceived quality and composition, held down by severe named issues.

    photo = min(Q * perceived_quality + (1 - Q) * composition,  1 - issue_cap_weight * worst severe technical issue)
            x (1 - tilt_weight * tilt severity) x (1 - resolution_weight * low-resolution severity)

- `perceived_quality` (quality.image.perceived_quality): people's ratings of sharpness, noise,
  exposure and colour, learned from CLIVE; it compares different photos of any content.
- `composition` (quality.image.composition_head): framing, learned from "a photo above its
  degraded copy" pairs (cut, off-balance, zoom, tilt, blur, exposure, noise).
- the named issues (quality.image.composition): hand-set checks a member can act on; one of
  technical quality (TECHNICAL_ISSUES: exposure, blur, noise, contrast) at severity >= issue_cap_from
  caps the score, so a badly blurred or dark photo cannot rank high on the strength of the other
  part; the checks' composition readings (clutter, subject placement) are reported, not capping.
  The tilt (`tilted_horizon`, raised to the learned level detector's reading, quality.image.level)
  lowers the score by a factor instead: a crop of a tilted photo is as tilted as the photo, and a
  cap would tie the two.
- the resolution (`low_resolution`, `resolution_severity`): fewer pixels show less of the scene's
  detail, and the team's rater marked small photos down (dev ratings); it too lowers the score by a
  factor. It reads the pixel count only: an enlarged copy of a small photo is not caught by it.
Where a part is not deployed the other stands alone; with neither, the checks' own score.

The weights are a model file, `models/photo-score/photo_score.json`, declared in the manifest with
its version and sha256 like any head: a change to them changes `versions.models` of every result,
so a stored score says which formula made it. Q and the cap were chosen on the team's dev ratings
and validation photos, the tilt weight (and Q again) on the dev ratings and pairs of photos no head
trained on, the resolution's range and weight, which issues cap (and Q a third time) on the same
(`python -m train.photo_score_weights ... --write VERSION` writes the file and its manifest entry):
docs/photo-score.md gives the figures and what the score does not measure.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

PHOTO_SCORE_NAME = "photo-score"  # its manifest entry
TILT_ISSUE = "tilted_horizon"
RESOLUTION_ISSUE = "low_resolution"
# The checks' issues of technical quality: with `capping="technical"` only these cap the score (the checks'
# composition readings, such as clutter or a subject at the edge, then only reach it through the learned parts).
TECHNICAL_ISSUES = ("underexposed", "overexposed", "blurry", "noisy", "low_contrast", "too_small_to_judge")


@dataclass(frozen=True)
class PhotoScoreWeights:
    """How the parts become the photo score (the fields of `models/photo-score/photo_score.json`)."""

    version: str
    quality_weight: float  # Q: perceived quality's share; composition has the rest
    issue_cap_from: float  # a capping issue at this severity or more caps the photo's score ...
    issue_cap_weight: float  # ... at 1 - severity x this
    capping: Literal["all", "technical"]  # which named issues cap: every one, or TECHNICAL_ISSUES
    # The level detector's tilt probability P raises the tilt's severity to clip((P - start) / (full - start));
    # the tilt never caps (a crop of a tilted photo is as tilted as the photo): it takes up to
    # `tilt_weight` off the score. None: the tilt caps like any named issue (the setting before the detector).
    tilt_probability_start: float
    tilt_probability_full: float
    tilt_weight: float | None
    # The resolution's severity runs from 0 at a geometric-mean side of `resolution_full_side` px or more
    # to 1 at `resolution_low_side` or less, linear in the log of the side; it takes up to
    # `resolution_weight` off the score.
    resolution_low_side: float
    resolution_full_side: float
    resolution_weight: float

    def __post_init__(self):
        problems = [name for name in ("quality_weight", "issue_cap_from", "issue_cap_weight", "resolution_weight")
                    if not 0.0 <= getattr(self, name) <= 1.0]
        if self.tilt_weight is not None and not 0.0 <= self.tilt_weight <= 1.0:
            problems.append("tilt_weight")
        if not 0.0 <= self.tilt_probability_start < self.tilt_probability_full <= 1.0:
            problems.append("tilt_probability_start < tilt_probability_full in [0, 1]")
        if not 0 < self.resolution_low_side < self.resolution_full_side:
            problems.append("0 < resolution_low_side < resolution_full_side")
        if self.capping not in ("all", "technical"):
            problems.append("capping (all or technical)")
        if problems:
            raise ValueError(f"photo-score weights out of range: {', '.join(problems)}")

    @classmethod
    def load(cls, path: Path) -> "PhotoScoreWeights":
        values = json.loads(Path(path).read_text(encoding="utf-8"))
        fields = [field.name for field in dataclasses.fields(cls)]
        missing = [name for name in fields if name not in values]
        if missing:
            raise ValueError(f"photo-score weights {path}: missing {', '.join(missing)}")
        return cls(**{name: values[name] for name in fields})

    def replace(self, **changes) -> "PhotoScoreWeights":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def tilt_severity(self, probability: float) -> float:
        """The `tilted_horizon` severity in [0, 1] of the level detector's tilt probability."""
        start, full = self.tilt_probability_start, self.tilt_probability_full
        return float(min(1.0, max(0.0, (probability - start) / (full - start))))

    def resolution_severity(self, width: int, height: int) -> float:
        """The `low_resolution` severity in [0, 1] of a photo's original size: non-increasing in each side."""
        return resolution_severity(width, height, self.resolution_low_side, self.resolution_full_side)


def resolution_severity(width: int, height: int, low: float, full: float) -> float:
    """0 from a geometric-mean side sqrt(width x height) of `full` px, 1 at `low` px, linear in its log."""
    side = math.sqrt(max(1, width) * max(1, height))
    return float(min(1.0, max(0.0, math.log(full / side) / math.log(full / low))))


def issue_cap(severities: dict[str, float], weights: PhotoScoreWeights) -> float:
    """The highest score a photo with these named issues can get (1.0 when none is severe)."""
    worst = max((s for name, s in severities.items()
                 if s >= weights.issue_cap_from and (weights.capping == "all" or name in TECHNICAL_ISSUES)),
                default=0.0)
    return 1.0 - worst * weights.issue_cap_weight


def combine(perceived_quality: float | None, composition: float | None, heuristic: float,
            severities: dict[str, float], weights: PhotoScoreWeights) -> float:
    """The photo's score in [0, 1]; non-decreasing in each part and non-increasing in each severity."""
    q = weights.quality_weight
    parts = [(w, v) for w, v in ((q, perceived_quality), (1.0 - q, composition)) if v is not None]
    if not parts:
        return heuristic
    total = sum(w for w, _ in parts)
    base = sum(w * v for w, v in parts) / total if total > 0 else parts[-1][1]
    factors = {RESOLUTION_ISSUE: weights.resolution_weight}
    if weights.tilt_weight is not None:
        factors[TILT_ISSUE] = weights.tilt_weight
    capped = min(base, issue_cap({name: s for name, s in severities.items() if name not in factors}, weights))
    for name, weight in factors.items():
        capped *= 1.0 - weight * severities.get(name, 0.0)
    return min(1.0, max(0.0, capped))
