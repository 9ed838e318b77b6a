"""The photo score: perceived quality and composition, held down by severe named issues.

    photo = min(Q * perceived_quality + (1 - Q) * composition,  1 - ISSUE_CAP_WEIGHT * worst severe technical issue)
            x (1 - TILT_WEIGHT * tilt severity) x (1 - RESOLUTION_WEIGHT * low-resolution severity)

- `perceived_quality` (quality.image.perceived_quality): people's ratings of sharpness, noise,
  exposure and colour, learned from CLIVE; it compares different photos of any content.
- `composition` (quality.image.composition_head): framing, learned from "a photo above its
  degraded copy" pairs (cut, off-balance, zoom, tilt, blur, exposure, noise).
- the named issues (quality.image.composition): hand-set checks a member can act on; one of
  technical quality (TECHNICAL_ISSUES: exposure, blur, noise, contrast) at severity >= ISSUE_CAP_FROM
  caps the score, so a badly blurred or dark photo cannot rank high on the strength of the other
  part; the checks' composition readings (clutter, subject placement) are reported, not capping.
  The tilt (`tilted_horizon`, raised to the learned level detector's reading, quality.image.level)
  lowers the score by a factor instead: a crop of a tilted photo is as tilted as the photo, and a
  cap would tie the two.
- the resolution (`low_resolution`, `resolution_severity`): fewer pixels show less of the scene's
  detail, and the team's rater marked small photos down (dev ratings); it too lowers the score by a
  factor. It reads the pixel count only: an enlarged copy of a small photo is not caught by it.
Where a part is not deployed the other stands alone; with neither, the checks' own score.
Q and the cap were chosen on the team's dev ratings and validation photos, TILT_WEIGHT (and Q again)
on the dev ratings and pairs of photos no head trained on, the resolution's range and weight, which
issues cap (and Q a third time) on the same: docs/photo-score.md gives the figures and what the
score does not measure.
"""

from __future__ import annotations

import math

QUALITY_WEIGHT = 0.7  # Q: perceived quality's share; composition has the rest (chosen on dev: docs/photo-score.md)
ISSUE_CAP_FROM = 0.6  # a named issue at this severity or more caps the photo's score ...
ISSUE_CAP_WEIGHT = 0.8  # ... at 1 - severity * this
TILT_ISSUE = "tilted_horizon"
# The tilt never caps: it takes up to this share off the score (x (1 - TILT_WEIGHT x severity)), since
# a crop of a tilted photo is as tilted as the photo (chosen on dev: docs/photo-score.md "Level").
TILT_WEIGHT = 0.2
RESOLUTION_ISSUE = "low_resolution"
# The resolution's severity runs from 0 at a geometric-mean side (sqrt(width x height)) of RESOLUTION_FULL_SIDE
# px or more to 1 at RESOLUTION_LOW_SIDE or less, linear in the log of the side; it takes up to
# RESOLUTION_WEIGHT off the score (chosen on dev: docs/photo-score.md "Resolution").
RESOLUTION_LOW_SIDE = 128
RESOLUTION_FULL_SIDE = 1080
RESOLUTION_WEIGHT = 0.8
# The checks' issues of technical quality: with `capping="technical"` only these cap the score (the checks'
# composition readings, such as clutter or a subject at the edge, then only reach it through the learned parts).
TECHNICAL_ISSUES = ("underexposed", "overexposed", "blurry", "noisy", "low_contrast", "too_small_to_judge")
CAPPING = "technical"  # which named issues cap: "all" or "technical" (chosen on dev: docs/photo-score.md "Resolution")


def resolution_severity(width: int, height: int, low: float = RESOLUTION_LOW_SIDE,
                        full: float = RESOLUTION_FULL_SIDE) -> float:
    """The `low_resolution` severity in [0, 1] of a photo's original size: non-increasing in each side."""
    side = math.sqrt(max(1, width) * max(1, height))
    return float(min(1.0, max(0.0, math.log(full / side) / math.log(full / low))))


def issue_cap(severities: dict[str, float], capping: str = CAPPING) -> float:
    """The highest score a photo with these named issues can get (1.0 when none is severe)."""
    worst = max((s for name, s in severities.items()
                 if s >= ISSUE_CAP_FROM and (capping == "all" or name in TECHNICAL_ISSUES)), default=0.0)
    return 1.0 - worst * ISSUE_CAP_WEIGHT


def combine(perceived_quality: float | None, composition: float | None, heuristic: float,
            severities: dict[str, float], quality_weight: float = QUALITY_WEIGHT,
            tilt_weight: float | None = TILT_WEIGHT, resolution_weight: float = RESOLUTION_WEIGHT,
            capping: str = CAPPING) -> float:
    """The photo's score in [0, 1]; non-decreasing in each part and non-increasing in each severity.

    With `tilt_weight` None the tilt is read as any other named issue: with `capping="all"`, the score
    before the level detector."""
    parts = [(w, v) for w, v in ((quality_weight, perceived_quality), (1.0 - quality_weight, composition))
             if v is not None]
    if not parts:
        return heuristic
    total = sum(w for w, _ in parts)
    base = sum(w * v for w, v in parts) / total if total > 0 else parts[-1][1]
    factors = {RESOLUTION_ISSUE: resolution_weight}
    if tilt_weight is not None:
        factors[TILT_ISSUE] = tilt_weight
    capped = min(base, issue_cap({name: s for name, s in severities.items() if name not in factors}, capping))
    for name, weight in factors.items():
        capped *= 1.0 - weight * severities.get(name, 0.0)
    return min(1.0, max(0.0, capped))
