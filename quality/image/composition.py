"""Composition and technical quality of one photo: the hand-set checks behind the named issues.

These interpretable checks name what is wrong with a photo; the learned head
(`quality.image.composition_head`) scores it beside them (`quality.image.scorer`). Each signal
is one small function that measures something a person can check on the photo and turns
it into a named issue with a severity in [0, 1] (0 = fine):

=================  ====================================================================
issue              measured as
=================  ====================================================================
too_small_to_judge short side under `MIN_JUDGEABLE_SIDE` px (nothing else is judged)
underexposed       mean luminance low / many crushed-black pixels
overexposed        mean luminance high / many clipped-white pixels
low_contrast       narrow luminance range (2nd-98th percentile)
blurry             blur effect (Crete-Roffet et al. 2007: how little a re-blur changes
                   neighbour differences) on the subject region at the decoded size,
                   discounted when the Laplacian shows crisp detail somewhere (bokeh)
noisy              noise sigma (Immerkaer 1996 operator) over the flattest tenth
tilted_horizon     dominant long near-horizontal line (Canny + probabilistic Hough,
                   length-weighted) tilted 1.5-15 degrees, unless plumb verticals or
                   lines slanting the other way say perspective; verticals alone are
                   used, with less weight, when there is no horizon (the scorer raises
                   it to the learned level detector's reading: quality.image.level)
subject_cut_off    the main salient region runs into a frame edge along much of its extent
subject_too_small  main salient region covers a tiny part of the frame
subject_too_tight  main salient region fills the frame with no breathing room
off_balance        subject centroid far from every thirds point, the centre, and the
                   crossings of the thirds lines with the centre lines
cluttered          edges dense in most of the frame and no dominant salient region
low_resolution     few pixels (the original's size); added by the scorer, not by these checks
=================  ====================================================================

The main subject is the strongest component of spectral-residual saliency (OpenCV contrib,
run on each CIELAB channel). Subject issues are scaled by how clearly that component stands
out ("clarity"); on real photos spectral residual seldom finds one dominant object, so
these issues are mostly silent there (see `SUBJECT_VAGUE_SHARE`).

`score` starts at `SCORE_BASE` and subtracts `PENALTY_WEIGHTS[issue] * severity` for every
signal (even ones too mild to be listed in `issues`), clipped to [0, 1]. `issues` lists
those with severity >= `ISSUE_MIN_SEVERITY`, worst first (by points taken off).
`suggested_crop` is the full frame unless a crop clearly frames a clear subject better.

`confidence` (how far to trust this v0 reading, capped at `CONFIDENCE_CAP`) is returned
by `assess_composition` together with the composition, and by the convenience
`composition_confidence(image)`, which runs the same analysis.

Most work happens on a copy at most `WORK_LONG_SIDE` px long (blur at the decoded size).
Everything is deterministic: no random state, OpenCV's default threading only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import imagehash
import numpy as np
from PIL import Image

from quality.image.decode import DecodedImage
from quality.schemas import ImageComposition

# --- sizes -----------------------------------------------------------------------------
# Analysis resolution: enough for lines, blur and saliency; keeps the whole pass ~10 ms.
WORK_LONG_SIDE = 512
# Below this short side (original or working copy) the signals mean nothing.
MIN_JUDGEABLE_SIDE = 64
# Score and confidence given to a photo too small to judge (it is also a poor post photo).
TOO_SMALL_SCORE = 0.3
TOO_SMALL_CONFIDENCE = 0.1

# --- scoring ---------------------------------------------------------------------------
# A photo with no measurable problem scores this (heuristics never justify a perfect 1).
SCORE_BASE = 0.95
# Points taken off at severity 1; exposure and blur ruin a photo, balance only weakens it.
PENALTY_WEIGHTS = {
    "underexposed": 0.6,
    "overexposed": 0.5,
    "blurry": 0.45,
    "low_contrast": 0.3,
    "subject_cut_off": 0.3,
    "tilted_horizon": 0.25,
    "noisy": 0.25,
    "cluttered": 0.2,
    "subject_too_small": 0.2,
    "subject_too_tight": 0.15,
    "off_balance": 0.15,
    # Set by the scorer from the original size (quality.image.photo_score.resolution_severity), not here.
    "low_resolution": 0.15,
}
# Severity from which an issue is named in `issues` (below it only nudges the score).
ISSUE_MIN_SEVERITY = 0.2
# Confidence ceiling: unvalidated hand-written rules should not claim more.
CONFIDENCE_CAP = 0.6
# Short side (working px) from which size no longer lowers the confidence.
CONFIDENT_SIDE = 256
# Share of the confidence lost without a clear subject (composition is then half-guessed).
NO_SUBJECT_CONFIDENCE_COST = 0.4
# Confidence factor for a frame with no detail (only exposure could be read).
FLAT_CONFIDENCE = 0.7

# --- exposure and contrast (luminance in [0, 1]) ---------------------------------------
# Mean luminance at which a photo starts to look dark, and where it is black.
DARK_MEAN_START, DARK_MEAN_FULL = 0.28, 0.06
# Mean luminance at which a photo starts to look washed out, and where it is white.
BRIGHT_MEAN_START, BRIGHT_MEAN_FULL = 0.78, 0.96
# Pixels at or below / above these levels are treated as clipped.
CRUSHED_LEVEL, CLIPPED_LEVEL = 0.03, 0.97
# Share of clipped pixels that starts to matter, and that is a lost photo.
CLIPPED_SHARE_START, CLIPPED_SHARE_FULL = 0.2, 0.6
# 2nd-98th percentile luminance spread below which contrast is low / gone.
CONTRAST_SPREAD_START, CONTRAST_SPREAD_FULL = 0.35, 0.05
# Spread under which the frame has no detail at all (blur and lines are not measured).
FLAT_SPREAD = 0.04

# --- blur ------------------------------------------------------------------------------
# Crete blur effect (0 sharp .. 1 blurred) at the decoded size (<= 768 px). On 261 real photos
# the sharp originals' 95th percentile is 0.43; a 1.5 px Gaussian blur gives a median of 0.48.
BLUR_EFFECT_START, BLUR_EFFECT_FULL = 0.40, 0.60
# Taps of the re-blur filter in the Crete measure (as in the paper).
BLUR_EFFECT_TAPS = 9
# Laplacian standard deviation (grey levels, decoded size) that shows plenty of fine detail
# (blurred photos stay under ~13): halves the blur severity.
SHARP_LAPLACIAN_STD = 18.0
# What is left of the blur severity when the Laplacian shows plenty of fine detail.
SHARP_DETAIL_DISCOUNT = 0.5
# The subject box is padded by this share of the frame before measuring its sharpness.
SUBJECT_PAD = 0.05
# Subject boxes smaller than this share of the frame are too small to judge blur on alone.
MIN_BLUR_REGION_SHARE = 0.04
# Regions narrower than this (px) give no stable blur reading.
MIN_BLUR_REGION_PX = 16
# |Laplacian| (grey levels, decoded size) of a crisp edge. Over 261 real photos the
# crispest of 4x4 tiles has >= 1% such pixels in 95% of originals and in under 5% of
# copies blurred by a 1.5 px Gaussian.
CRISP_LAPLACIAN = 70.0
# Share of a tile's pixels that must be crisp for the photo to count as in focus somewhere.
CRISP_TILE_SHARE = 0.01
# Grid of tiles searched for a crisp place (bokeh around a small sharp subject).
BLUR_TILE_GRID = 4
# What is left of the blur severity when some tile is crisp (in focus somewhere: bokeh).
SHARP_TILE_DISCOUNT = 0.3

# --- noise -----------------------------------------------------------------------------
# Noise sigma (grey levels at working size) where noise becomes visible / ugly; fine texture
# (fur, foliage) reads as up to ~5 on clean real photos, so the ramp starts above that.
NOISE_SIGMA_START, NOISE_SIGMA_FULL = 5.0, 12.0
# Share of pixels (lowest structure) used as "flat" for the noise estimate.
FLAT_AREA_SHARE = 0.1
# Gaussian sigma used to find structure, so noise itself does not decide what is flat.
STRUCTURE_BLUR_SIGMA = 2.0

# --- horizon ---------------------------------------------------------------------------
# Lines within this many degrees of horizontal (vertical) are candidates; beyond is a diagonal.
NEAR_HORIZONTAL_DEG = 20.0
# Tilt range that reads as a mistake: below is level, above is a deliberate angle.
TILT_MIN_DEG, TILT_MAX_DEG = 1.5, 15.0
# Tilt at which the severity is full.
TILT_FULL_DEG = 8.0
# Severity at the smallest flagged tilt (a 1.5 degree tilt is visible).
TILT_MIN_SEVERITY = 0.25
# Length of the dominant line cluster, as a share of the width, for a trusted horizon.
HORIZON_MIN_STRENGTH, HORIZON_FULL_STRENGTH = 0.3, 0.7
# Lines within this many degrees of the peak belong to the same horizon.
HORIZON_CLUSTER_DEG = 1.0
# Edges whose lines cross the frame's middle within this share of the height are one line.
COLLINEAR_TOLERANCE = 0.015
# Share of near-horizontal length the peak must hold (else lines disagree: perspective).
HORIZON_MIN_SHARE = 0.4
# A horizon runs across: its one straight line covers this share of the width ... (0.5 let
# the long body lines of three-quarter car views through: 4% of Stanford Cars photos were
# "tilted"; 0.65 gives 1%, and 2% of the general photos, mostly real tilts or perspective)
HORIZON_MIN_SPAN = 0.65
# ... and one of them is at least this long (share of the width), not a stack of short edges.
HORIZON_MIN_SEGMENT = 0.25
# Canny thresholds from the median grey level (the usual auto-Canny rule), with floors for
# dark frames where the median is near 0.
CANNY_LOW_OF_MEDIAN, CANNY_HIGH_OF_MEDIAN = 0.66, 1.33
CANNY_MIN_LOW, CANNY_MIN_HIGH = 10.0, 30.0
# Shortest Hough segment, as a share of the width.
HOUGH_MIN_LENGTH = 0.12
# Largest gap bridged inside one Hough segment, as a share of the width.
HOUGH_MAX_GAP = 0.02
# Verticals this close to plumb mean the camera was level: tilted "horizons" are perspective.
PLUMB_VERTICAL_DEG = 1.0
# Total length of near-vertical edges (share of the height) needed to trust that they are plumb
# (or, without a horizon, to read the tilt from them).
VERTICAL_MIN_STRENGTH = 0.6
# Edges at the mirrored angle, relative to the cluster, above which the lines converge to a
# vanishing point (perspective) rather than being rotated together.
MIRRORED_MAX = 0.3
# Weight of a tilt read from verticals alone (keystoning also leans verticals).
VERTICALS_ONLY_WEIGHT = 0.7

# --- subject ---------------------------------------------------------------------------
# Saliency and the subject mask are computed at this long side (spectral residual works at
# 64 x 64 inside OpenCV; a larger map only makes the smoothing and labelling slower).
SALIENCY_LONG_SIDE = 128
# Saliency above this multiple of its mean is "salient" (Hou & Zhang 2007 use 3).
SALIENCY_MEAN_FACTOR = 3.0
# Blur of the raw saliency map, as a share of the long side, to join a subject's parts.
SALIENCY_BLUR_SHARE = 0.02
# The main component must hold this share of the above-threshold mass to count at all.
SUBJECT_MIN_MASS_SHARE = 0.3
# Share of the whole map's saliency in the main component from which it starts to be / is
# clearly the subject; subject issues are scaled by this "clarity". A drawn object on a plain
# scene holds 0.35-0.5; on 261 real photos and on Stanford Cars photos the 95th percentile
# is ~0.08-0.1 (spectral residual marks small odd spots, not big objects), so subject issues
# are mostly silent on real photos until a learned subject model replaces this.
SUBJECT_VAGUE_SHARE, SUBJECT_CLEAR_SHARE = 0.08, 0.3
# Components smaller than this share of the frame are specks, not subjects.
SUBJECT_MIN_AREA = 0.002
# Border band (share of the side) in which subject pixels count as touching the edge.
BORDER_BAND = 0.02
# Contact with an edge as a share of the subject's own extent along it: a cut starts / is sure.
CUT_RELATIVE_START, CUT_RELATIVE_FULL = 0.3, 0.7
# Contact as a share of the side's length: shorter contacts are line ends, not cut objects.
CUT_ABSOLUTE_START, CUT_ABSOLUTE_FULL = 0.02, 0.08
# Left of a cut when the region also touches the opposite side (spans the frame: scenery).
SCENE_WIDE_DISCOUNT = 0.5
# Opposite sides, for the scene-wide check.
_OPPOSITE_SIDE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
# Subject box area share below which it is too small (full severity at the second value).
SMALL_AREA_START, SMALL_AREA_FULL = 0.01, 0.002
# Subject box area share above which it is too tight (full severity at the second value).
TIGHT_AREA_START, TIGHT_AREA_FULL = 0.7, 0.95
# Distance (share of the frame) to the nearest anchor that is still fine / clearly off.
BALANCE_DIST_START, BALANCE_DIST_FULL = 0.08, 0.22
# Anchors of a balanced subject: thirds points, the centre and the thirds/centre crossings.
ANCHORS = tuple((x, y) for x in (1 / 3, 1 / 2, 2 / 3) for y in (1 / 3, 1 / 2, 2 / 3))

# --- clutter ---------------------------------------------------------------------------
# Grid for edge density: clutter must be everywhere, not in one busy corner.
CLUTTER_GRID = 4
# Fixed Canny thresholds: clutter is about edges a viewer sees, not relative to the photo.
CLUTTER_CANNY = (50, 150)
# Quantile of the cells' edge densities that is read: the quieter cells must be busy too.
CLUTTER_QUIET_QUANTILE = 0.25
# Edge density (share of edge pixels) per cell where clutter starts / is full.
CLUTTER_DENSITY_START, CLUTTER_DENSITY_FULL = 0.12, 0.22

# --- crop suggestion -------------------------------------------------------------------
# Aspect ratios (w/h) tried; the photo's own aspect is added.
CROP_ASPECTS = (4 / 3, 3 / 2, 1.0, 16 / 9, 3 / 4, 2 / 3)
# Window sizes relative to the largest window of that aspect.
CROP_SCALES = (1.0, 0.85, 0.7)
# Where the subject centroid may be put: the four thirds points and the centre.
CROP_TARGETS = ((1 / 3, 1 / 3), (2 / 3, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 2 / 3), (0.5, 0.5))
# Smallest window side on the subject mask's grid (a crop must leave a usable photo).
CROP_MIN_SIDE_PX = 16
# No crop is suggested unless the subject is at least this clear (a wrong subject, a wrong crop).
CROP_MIN_CLARITY = 0.5
# "No crop": the whole frame.
FULL_FRAME = (0.0, 0.0, 1.0, 1.0)
# A crop must keep this share of the subject's salient mass.
CROP_MIN_SUBJECT_KEPT = 0.98
# A crop must beat the full frame by this much to be suggested.
CROP_MIN_GAIN = 0.1
# Cost per share of the frame cut away (losing content is not free).
CROP_AREA_COST = 0.35
# Costs of a badly placed, cramped or lost-in-the-frame subject inside a candidate window.
CROP_BALANCE_COST, CROP_TIGHT_COST, CROP_SMALL_COST = 1.0, 0.7, 0.5


@dataclass(frozen=True)
class LineCluster:
    """Near-parallel straight edges: angle (degrees) and how much of the frame backs it."""

    angle: float
    strength: float  # length of the main straight line's edges / frame extent
    share: float  # edges along the angle / all near-horizontal (near-vertical) edges
    span: float  # share of the frame's extent the main line covers side to side
    longest: float  # longest single segment of the main line / frame extent
    mirrored: float  # length of edges slanting the other way / edges along the angle


@dataclass(frozen=True)
class Subject:
    """The main salient region, in working-image pixels and normalised frame units."""

    box: tuple[float, float, float, float]  # normalised x0, y0, x1, y1
    centroid: tuple[float, float]  # normalised, saliency-weighted
    area: float  # box area / frame area
    mass_share: float  # share of the whole saliency map's mass inside this region
    clarity: float  # 0..1, how clearly this one region stands out as the subject
    edge_contact: dict[str, tuple[float, float]]  # side -> (share of side, share of own extent)
    mask: np.ndarray = field(repr=False)  # float32 saliency inside the region (saliency size)


@dataclass(frozen=True)
class CompositionAssessment:
    """Everything the analysis found: the API model, a confidence, and raw measurements."""

    composition: ImageComposition
    confidence: float
    measurements: dict[str, float]


def analyse_composition(image: DecodedImage, index: int) -> ImageComposition:
    """Score the composition / technical quality of one decoded photo (v0 heuristics)."""
    return assess_composition(image, index).composition


def composition_confidence(image: DecodedImage) -> float:
    """Confidence in [0, `CONFIDENCE_CAP`] of the v0 reading of this photo.

    Lower for small frames, frames without a clear subject and frames with no detail. Needs
    only the frame size, the luminance range and the subject (a few ms, not the full pass);
    `assess_composition` returns the same number together with the composition.
    """
    prepared = _prepare(image)
    if prepared.too_small:
        return TOO_SMALL_CONFIDENCE
    return _confidence(prepared.grey, prepared.subject, prepared.flat)


def assess_composition(image: DecodedImage, index: int) -> CompositionAssessment:
    """The composition together with its confidence and the raw measurements behind it."""
    prepared = _prepare(image)
    grey, subject, flat = prepared.grey, prepared.subject, prepared.flat
    phash = _phash(grey)
    if prepared.too_small:
        return _too_small(image, index, phash, grey)

    lum = grey.astype(np.float32) / 255.0
    severities: dict[str, float] = {}
    measurements: dict[str, float] = {"luminance_spread": prepared.spread}

    severities["underexposed"] = _underexposure(lum, measurements)
    severities["overexposed"] = _overexposure(lum, measurements)
    severities["low_contrast"] = _low_contrast(prepared.spread)
    if not flat:
        severities["blurry"] = _blurriness(_detail_grey(image.rgb), subject, measurements)
        severities["noisy"] = _noisiness(grey, measurements)
        severities["tilted_horizon"] = _horizon_tilt(grey, measurements)
        severities["cluttered"] = _clutter(grey, subject, measurements)
    if subject is not None:
        severities.update(_subject_issues(subject, measurements))

    score = _score(severities)
    confidence = _confidence(grey, subject, flat)
    crop = _suggest_crop(subject)
    return CompositionAssessment(
        composition=_build(image, index, score, severities, crop, phash),
        confidence=confidence,
        measurements={k: round(float(v), 4) for k, v in measurements.items()},
    )


# --- preparation ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Prepared:
    grey: np.ndarray  # working copy in grey, long side <= WORK_LONG_SIDE
    too_small: bool
    spread: float = 0.0
    flat: bool = True
    subject: Subject | None = None


def _prepare(image: DecodedImage) -> _Prepared:
    """Working copy, grey, luminance range and main subject: what every reading starts from."""
    rgb = _working_copy(image.rgb)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if min(image.width, image.height, *grey.shape) < MIN_JUDGEABLE_SIDE:
        return _Prepared(grey, too_small=True)
    spread = _luminance_spread(grey)
    flat = spread < FLAT_SPREAD
    subject = None if flat else _find_subject(rgb)
    return _Prepared(grey, too_small=False, spread=spread, flat=flat, subject=subject)


def _working_copy(rgb: np.ndarray, long_side_limit: int = WORK_LONG_SIDE) -> np.ndarray:
    """`rgb` shrunk (area averaging) so its long side is at most `long_side_limit`."""
    height, width = rgb.shape[:2]
    long_side = max(height, width)
    if long_side <= long_side_limit:
        return np.ascontiguousarray(rgb)
    scale = long_side_limit / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _detail_grey(rgb: np.ndarray) -> np.ndarray:
    """Grey at the decoded size (<= 768 px): mild blur that 512 px hides still shows here."""
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _phash(grey: np.ndarray) -> str:
    return str(imagehash.phash(Image.fromarray(grey)))


def photo_phash(image: DecodedImage) -> str:
    """The pHash reported as `ImageComposition.phash`, without the rest of the analysis
    (for hashing photos outside scoring, e.g. `quality photos import`)."""
    return _phash(cv2.cvtColor(_working_copy(image.rgb), cv2.COLOR_RGB2GRAY))


def _too_small(image: DecodedImage, index: int, phash: str, grey: np.ndarray) -> CompositionAssessment:
    severities = {"too_small_to_judge": 1.0}
    composition = ImageComposition(
        index=index,
        score=TOO_SMALL_SCORE,
        issues=["too_small_to_judge"],
        issue_severity=severities,
        suggested_crop=FULL_FRAME,
        width=image.width,
        height=image.height,
        phash=phash,
    )
    measurements = {"short_side": float(min(grey.shape))}
    return CompositionAssessment(composition, TOO_SMALL_CONFIDENCE, measurements)


def _ramp(value: float, start: float, full: float) -> float:
    """0 at `start`, 1 at `full`, linear between, clipped (works for either direction)."""
    if full == start:
        return float(value >= full)
    return float(min(1.0, max(0.0, (value - start) / (full - start))))


# --- exposure and contrast -----------------------------------------------------------


def _luminance_spread(grey: np.ndarray) -> float:
    """2nd-98th percentile range of the grey levels, in [0, 1] (from the histogram: fast)."""
    cumulative = np.cumsum(np.bincount(grey.ravel(), minlength=256)) / grey.size
    low = int(np.searchsorted(cumulative, 0.02))
    high = int(np.searchsorted(cumulative, 0.98))
    return (high - low) / 255.0


def _underexposure(lum: np.ndarray, out: dict) -> float:
    mean = float(lum.mean())
    crushed = float((lum <= CRUSHED_LEVEL).mean())
    out["mean_luminance"], out["crushed_share"] = mean, crushed
    return max(
        _ramp(mean, DARK_MEAN_START, DARK_MEAN_FULL),
        _ramp(crushed, CLIPPED_SHARE_START, CLIPPED_SHARE_FULL),
    )


def _overexposure(lum: np.ndarray, out: dict) -> float:
    mean = float(lum.mean())
    clipped = float((lum >= CLIPPED_LEVEL).mean())
    out["clipped_share"] = clipped
    return max(
        _ramp(mean, BRIGHT_MEAN_START, BRIGHT_MEAN_FULL),
        _ramp(clipped, CLIPPED_SHARE_START, CLIPPED_SHARE_FULL),
    )


def _low_contrast(spread: float) -> float:
    return _ramp(spread, CONTRAST_SPREAD_START, CONTRAST_SPREAD_FULL)


# --- sharpness and noise -------------------------------------------------------------


def _blurriness(grey: np.ndarray, subject: Subject | None, out: dict) -> float:
    """Blur effect of the subject region (whole frame without a subject), discounted when
    fine detail shows that the photo is in focus somewhere.

    The discount keeps deliberate background blur (portraits, macro) from reading as a
    blurred photo when the subject box is misplaced; a blurred photo has no crisp place.
    """
    maps = _blur_maps(grey)
    box = _subject_box_px(grey.shape, subject)
    effect = _blur_effect_in(maps, box)
    lap_std = _laplacian_std_in(maps, box)
    crisp = _crisp_tile_share(maps["laplacian"])
    out["blur_effect"], out["laplacian_std"], out["crisp_share"] = effect, lap_std, crisp
    severity = _ramp(effect, BLUR_EFFECT_START, BLUR_EFFECT_FULL)
    if lap_std >= SHARP_LAPLACIAN_STD:
        severity *= SHARP_DETAIL_DISCOUNT
    if crisp >= CRISP_TILE_SHARE:
        severity *= SHARP_TILE_DISCOUNT
    return severity


def _crisp_tile_share(laplacian: np.ndarray) -> float:
    """Largest share, over a grid of tiles, of pixels with a crisp-edge Laplacian response."""
    crisp = (np.abs(laplacian) >= CRISP_LAPLACIAN).astype(np.float32)
    grid = (min(BLUR_TILE_GRID, crisp.shape[1]), min(BLUR_TILE_GRID, crisp.shape[0]))
    return float(cv2.resize(crisp, grid, interpolation=cv2.INTER_AREA).max())


def _laplacian_std_in(maps: dict[str, np.ndarray], box: tuple[int, int, int, int]) -> float:
    y0, y1, x0, x1 = box
    return float(maps["laplacian"][y0:y1, x0:x1].std())


def _blur_maps(grey: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pixel parts of the Crete-Roffet et al. (2007) blur effect, plus the Laplacian.

    For each direction: |difference| of neighbours (``d_*``) and how much of it a 9-tap
    re-blur removes (``lost_*``). Blur effect of a region = 1 - sum(lost) / sum(d):
    0 when re-blurring changes everything (sharp), 1 when it changes nothing (blurred).
    """
    f = grey.astype(np.float32)
    maps = {"laplacian": cv2.Laplacian(f, cv2.CV_32F, ksize=1)}
    # "v": differences down the columns, re-blurred vertically; "h": along the rows.
    for name, ksize in (("v", (1, BLUR_EFFECT_TAPS)), ("h", (BLUR_EFFECT_TAPS, 1))):
        blurred = cv2.blur(f, ksize)
        if name == "v":
            d_f, d_b = cv2.absdiff(f[1:], f[:-1]), cv2.absdiff(blurred[1:], blurred[:-1])
        else:
            d_f, d_b = cv2.absdiff(f[:, 1:], f[:, :-1]), cv2.absdiff(blurred[:, 1:], blurred[:, :-1])
        maps["d_" + name] = d_f
        maps["lost_" + name] = cv2.max(cv2.subtract(d_f, d_b), 0.0)
    return maps


def _blur_effect_in(maps: dict[str, np.ndarray], box: tuple[int, int, int, int]) -> float:
    y0, y1, x0, x1 = box
    effects = []
    for name in ("v", "h"):
        total = float(maps["d_" + name][y0:y1, x0:x1].sum())
        if total > 0:
            effects.append(1.0 - float(maps["lost_" + name][y0:y1, x0:x1].sum()) / total)
    return max(effects) if effects else 1.0


def _subject_box_px(shape: tuple[int, int], subject: Subject | None) -> tuple[int, int, int, int]:
    """The padded subject box (where focus matters) as (y0, y1, x0, x1), or the whole frame."""
    height, width = shape
    if subject is None or subject.area < MIN_BLUR_REGION_SHARE:
        return (0, height, 0, width)
    x0, y0, x1, y1 = subject.box
    box = (
        int(max(0.0, y0 - SUBJECT_PAD) * height),
        math.ceil(min(1.0, y1 + SUBJECT_PAD) * height),
        int(max(0.0, x0 - SUBJECT_PAD) * width),
        math.ceil(min(1.0, x1 + SUBJECT_PAD) * width),
    )
    if min(box[1] - box[0], box[3] - box[2]) < MIN_BLUR_REGION_PX:
        return (0, height, 0, width)
    return box


def _noisiness(grey: np.ndarray, out: dict) -> float:
    sigma = _noise_sigma(grey)
    out["noise_sigma"] = sigma
    return _ramp(sigma, NOISE_SIGMA_START, NOISE_SIGMA_FULL)


def _noise_sigma(grey: np.ndarray) -> float:
    """Immerkaer (1996) noise sigma, averaged over the flattest part of the frame."""
    f = grey.astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(f, cv2.CV_32F, kernel, borderType=cv2.BORDER_REFLECT))[1:-1, 1:-1]
    smooth = cv2.GaussianBlur(f, (0, 0), STRUCTURE_BLUR_SIGMA)
    gradient_x = np.abs(cv2.Sobel(smooth, cv2.CV_32F, 1, 0))
    structure = (gradient_x + np.abs(cv2.Sobel(smooth, cv2.CV_32F, 0, 1)))[1:-1, 1:-1]
    if response.size == 0:
        return 0.0
    cut = np.quantile(structure[::2, ::2], FLAT_AREA_SHARE)  # every 4th pixel is plenty
    flat = response[structure <= cut]
    return float(math.sqrt(math.pi / 2) * flat.mean() / 6.0) if flat.size else 0.0


# --- horizon -------------------------------------------------------------------------


def _horizon_tilt(grey: np.ndarray, out: dict) -> float:
    """Camera roll read from the dominant long near-horizontal line or, failing that, from
    the verticals; level verticals veto a tilted horizon (the tilt is perspective then)."""
    height, width = grey.shape
    segments = _line_segments(grey)
    horizon = _dominant_line(segments, width, height, vertical=False)
    plumb = _dominant_line(segments, height, width, vertical=True)
    out["horizon_angle"], out["horizon_strength"] = horizon.angle, horizon.strength
    out["vertical_angle"], out["vertical_strength"] = plumb.angle, plumb.strength
    if _is_reliable(horizon):
        if plumb.strength >= VERTICAL_MIN_STRENGTH and abs(plumb.angle) <= PLUMB_VERTICAL_DEG:
            return 0.0  # the camera is level; the slanting lines are perspective
        return _tilt_severity(horizon.angle) * _ramp(horizon.strength, 0.0, HORIZON_FULL_STRENGTH)
    if _is_reliable(plumb) and plumb.strength >= VERTICAL_MIN_STRENGTH:
        return _tilt_severity(plumb.angle) * VERTICALS_ONLY_WEIGHT
    return 0.0


def _tilt_severity(angle: float) -> float:
    tilt = abs(angle)
    if not TILT_MIN_DEG <= tilt <= TILT_MAX_DEG:
        return 0.0
    return TILT_MIN_SEVERITY + (1 - TILT_MIN_SEVERITY) * _ramp(tilt, TILT_MIN_DEG, TILT_FULL_DEG)


def _is_reliable(cluster: LineCluster) -> bool:
    """Long, spanning, agreed on by most near-parallel edges, and not one half of a
    converging (perspective) pair of line families."""
    return (
        cluster.strength >= HORIZON_MIN_STRENGTH
        and cluster.share >= HORIZON_MIN_SHARE
        and cluster.span >= HORIZON_MIN_SPAN
        and cluster.longest >= HORIZON_MIN_SEGMENT
        and cluster.mirrored < MIRRORED_MAX
    )


def _line_segments(grey: np.ndarray) -> np.ndarray:
    """Straight segments (x0, y0, x1, y1) found by Canny + probabilistic Hough."""
    smooth = cv2.GaussianBlur(grey, (5, 5), 0)
    median = float(np.median(smooth))
    low = max(CANNY_MIN_LOW, CANNY_LOW_OF_MEDIAN * median)
    edges = cv2.Canny(smooth, low, max(CANNY_MIN_HIGH, CANNY_HIGH_OF_MEDIAN * median))
    width = grey.shape[1]
    lines = cv2.HoughLinesP(
        edges,
        rho=1,
        theta=np.pi / 180,
        threshold=max(20, int(0.08 * width)),
        minLineLength=max(16, int(HOUGH_MIN_LENGTH * width)),
        maxLineGap=max(2, int(HOUGH_MAX_GAP * width)),
    )
    return np.zeros((0, 4), np.float32) if lines is None else lines.reshape(-1, 4).astype(np.float32)


def _dominant_line(segments: np.ndarray, extent: int, across: int, *, vertical: bool) -> LineCluster:
    """The dominant near-horizontal (or near-vertical) direction and its longest straight line.

    Edges within `HORIZON_CLUSTER_DEG` of the best-supported angle agree on a direction;
    among those, the ones on one straight line (crossing the frame's middle within
    `COLLINEAR_TOLERANCE` of each other) make the line whose length and span are reported:
    a horizon is one line across the frame, not a stack of parallel edges (car bodies,
    window rows). Angles are in degrees; positive = content rotated counter-clockwise.
    `extent` is the frame's size along the lines, `across` the size across them.
    """
    none = LineCluster(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    if len(segments) == 0:
        return none
    u0, v0, u1, v1 = segments.T  # u along the lines, v across them
    if vertical:  # turn the frame a quarter clockwise so verticals become horizontals
        u0, v0, u1, v1 = v0, -u0, v1, -u1
    du, dv = u1 - u0, v1 - v0
    lengths = np.hypot(du, dv)
    angles = (np.degrees(np.arctan2(-dv, du)) + 90.0) % 180.0 - 90.0
    near = (np.abs(angles) <= NEAR_HORIZONTAL_DEG) & (du != 0)
    if not near.any():
        return none
    angles, lengths, u0, v0, u1, du, dv = (a[near] for a in (angles, lengths, u0, v0, u1, du, dv))
    support = np.array([lengths[np.abs(angles - a) <= HORIZON_CLUSTER_DEG].sum() for a in angles])
    members = np.abs(angles - angles[int(np.argmax(support))]) <= HORIZON_CLUSTER_DEG
    crossing = v0 + (extent / 2.0 - u0) * dv / du  # where each edge's line crosses the middle
    line = _longest_collinear(members, crossing, lengths, COLLINEAR_TOLERANCE * across)
    length = float(lengths[line].sum())
    angle = float(np.average(angles[line], weights=lengths[line]))
    mirrored = 0.0
    if abs(angle) > HORIZON_CLUSTER_DEG:  # edges slanting the other way: lines converge
        opposite = (np.sign(angles) == -np.sign(angle)) & (np.abs(angles) > HORIZON_CLUSTER_DEG)
        mirrored = float(lengths[opposite].sum()) / float(lengths[members].sum())
    return LineCluster(
        angle=angle,
        strength=length / max(extent, 1),
        share=float(lengths[members].sum()) / float(lengths.sum()),
        span=_covered_share(np.minimum(u0, u1)[line], np.maximum(u0, u1)[line], extent),
        longest=float(lengths[line].max()) / max(extent, 1),
        mirrored=mirrored,
    )


def _longest_collinear(
    members: np.ndarray, crossing: np.ndarray, lengths: np.ndarray, tolerance: float
) -> np.ndarray:
    """Mask of the members lying on one line (crossings within `tolerance`) with most length."""
    best, best_length = members, -1.0
    for index in np.flatnonzero(members):
        group = members & (np.abs(crossing - crossing[index]) <= tolerance)
        group_length = float(lengths[group].sum())
        if group_length > best_length:
            best, best_length = group, group_length
    return best


def _covered_share(starts: np.ndarray, ends: np.ndarray, extent: int) -> float:
    """Share of [0, extent) covered by the union of the intervals."""
    covered = np.zeros(max(extent, 1), bool)
    for a, b in zip(starts, ends):
        covered[max(0, int(a)) : max(0, int(math.ceil(b))) + 1] = True
    return float(covered.mean())


# --- subject -------------------------------------------------------------------------


def _find_subject(rgb: np.ndarray) -> Subject | None:
    """The salient component holding the most saliency, if it holds enough of it.

    Works at `SALIENCY_LONG_SIDE` px: spectral residual itself runs at 64 x 64, so more
    pixels only cost time. The mask is at that size too; everything else is normalised.
    """
    saliency = _saliency_map(_working_copy(rgb, SALIENCY_LONG_SIDE))
    mean = float(saliency.mean())
    if mean <= 0:
        return None
    salient = (saliency > SALIENCY_MEAN_FACTOR * mean).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(salient, connectivity=8)
    if count <= 1:
        return None
    masses = np.bincount(labels.ravel(), weights=saliency.ravel(), minlength=count)[1:]
    main = int(np.argmax(masses)) + 1
    height, width = salient.shape
    x, y, w, h, area_px = (int(v) for v in stats[main])
    mass_share = float(masses[main - 1] / masses.sum())
    if area_px < SUBJECT_MIN_AREA * height * width or mass_share < SUBJECT_MIN_MASS_SHARE:
        return None
    total_share = float(masses[main - 1] / saliency.sum())
    region = labels == main
    weights = np.where(region, saliency, 0.0).astype(np.float32)
    return Subject(
        box=(x / width, y / height, (x + w) / width, (y + h) / height),
        centroid=_weighted_centroid(weights),
        area=float(w * h) / (width * height),
        mass_share=total_share,
        clarity=_ramp(total_share, SUBJECT_VAGUE_SHARE, SUBJECT_CLEAR_SHARE),
        edge_contact=_edge_contact(region),
        mask=weights,
    )


def _saliency_map(rgb: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency of each CIELAB channel, summed, smoothed, scaled to [0, 1].

    On luminance alone spectral residual mostly marks edges; the colour channels make an
    object of a distinct colour (a red car on grass) stand out as a whole.
    """
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    detector = cv2.saliency.StaticSaliencySpectralResidual_create()
    total = np.zeros(rgb.shape[:2], np.float32)
    for channel in range(3):
        ok, saliency = detector.computeSaliency(np.ascontiguousarray(lab[..., channel]))
        top = float(saliency.max()) if ok else 0.0
        if top > 0:
            total += saliency.astype(np.float32) / top
    sigma = max(1.0, SALIENCY_BLUR_SHARE * max(rgb.shape[:2]))
    total = cv2.GaussianBlur(total, (0, 0), sigma)
    top = float(total.max())
    return total / top if top > 0 else total


def _weighted_centroid(weights: np.ndarray) -> tuple[float, float]:
    height, width = weights.shape
    total = float(weights.sum())
    cx = float((weights.sum(axis=0) * (np.arange(width) + 0.5)).sum()) / total / width
    cy = float((weights.sum(axis=1) * (np.arange(height) + 0.5)).sum()) / total / height
    return cx, cy


def _edge_contact(region: np.ndarray) -> dict[str, tuple[float, float]]:
    """Per side: (contact as a share of the side, contact as a share of the region's extent).

    Contact is where the region lies within the border band. The second number tells a cut
    object (touches along most of its own height) from a thin line ending at the edge.
    """
    height, width = region.shape
    band_x = max(1, int(round(BORDER_BAND * width)))
    band_y = max(1, int(round(BORDER_BAND * height)))
    rows, cols = region.any(axis=1), region.any(axis=0)
    extent_y, extent_x = max(1, int(rows.sum())), max(1, int(cols.sum()))
    touches = {
        "left": region[:, :band_x].any(axis=1),
        "right": region[:, -band_x:].any(axis=1),
        "top": region[:band_y, :].any(axis=0),
        "bottom": region[-band_y:, :].any(axis=0),
    }
    contact = {}
    for side, along in touches.items():
        extent = extent_y if side in ("left", "right") else extent_x
        contact[side] = (float(along.mean()), float(along.sum()) / extent)
    return contact


def _subject_issues(subject: Subject, out: dict) -> dict[str, float]:
    """Subject issues, each scaled by how clearly one subject stands out (else we may be wrong)."""
    out["subject_area"] = subject.area
    out["subject_mass_share"] = subject.mass_share
    out["subject_cx"], out["subject_cy"] = subject.centroid
    raw = {
        "subject_cut_off": _cut_off(subject, out),
        "subject_too_small": _ramp(subject.area, SMALL_AREA_START, SMALL_AREA_FULL),
        "subject_too_tight": _ramp(subject.area, TIGHT_AREA_START, TIGHT_AREA_FULL),
        "off_balance": _off_balance(subject.centroid, subject.area),
    }
    return {name: severity * subject.clarity for name, severity in raw.items()}


def _cut_off(subject: Subject, out: dict) -> float:
    """Worst side: the subject runs into the edge along much of its own extent."""
    contact = subject.edge_contact
    worst = 0.0
    for side, (absolute, relative) in contact.items():
        severity = _ramp(relative, CUT_RELATIVE_START, CUT_RELATIVE_FULL) * _ramp(
            absolute, CUT_ABSOLUTE_START, CUT_ABSOLUTE_FULL
        )
        if contact[_OPPOSITE_SIDE[side]][0] >= CUT_ABSOLUTE_START:
            severity *= SCENE_WIDE_DISCOUNT  # spans the frame: a road, a shore, not a cut object
        worst = max(worst, severity)
    out["edge_contact"] = max(relative for _, relative in contact.values())
    return worst


def _anchor_distance(point: tuple[float, float]) -> float:
    return min(math.hypot(point[0] - ax, point[1] - ay) for ax, ay in ANCHORS)


def _off_balance(centroid: tuple[float, float], area: float) -> float:
    """Far from every anchor; a subject that fills the frame cannot be badly placed."""
    return _ramp(_anchor_distance(centroid), BALANCE_DIST_START, BALANCE_DIST_FULL) * (1.0 - min(1.0, area))


# --- clutter -------------------------------------------------------------------------


def _clutter(grey: np.ndarray, subject: Subject | None, out: dict) -> float:
    """Edge density in the quieter cells of a grid, unless one subject clearly dominates."""
    edges = (cv2.Canny(cv2.GaussianBlur(grey, (3, 3), 0), *CLUTTER_CANNY) > 0).astype(np.float32)
    grid = (min(CLUTTER_GRID, edges.shape[1]), min(CLUTTER_GRID, edges.shape[0]))
    cells = cv2.resize(edges, grid, interpolation=cv2.INTER_AREA)
    busy = float(np.quantile(cells, CLUTTER_QUIET_QUANTILE))
    out["edge_density_quiet"] = busy
    dominance = subject.clarity if subject is not None else 0.0
    return _ramp(busy, CLUTTER_DENSITY_START, CLUTTER_DENSITY_FULL) * (1.0 - dominance)


# --- score, confidence, output -------------------------------------------------------


def _score(severities: dict[str, float]) -> float:
    penalty = sum(PENALTY_WEIGHTS[name] * sev for name, sev in severities.items())
    return float(min(1.0, max(0.0, SCORE_BASE - penalty)))


def _confidence(grey: np.ndarray, subject: Subject | None, flat: bool) -> float:
    """Lower for small frames, frames with no clear subject, and frames with no detail."""
    size = _ramp(min(grey.shape), MIN_JUDGEABLE_SIDE, CONFIDENT_SIDE)
    clarity = 1.0 - NO_SUBJECT_CONFIDENCE_COST * (1.0 - (subject.clarity if subject is not None else 0.0))
    detail = FLAT_CONFIDENCE if flat else 1.0
    return round(CONFIDENCE_CAP * (0.5 + 0.5 * size) * clarity * detail, 4)


def _build(
    image: DecodedImage,
    index: int,
    score: float,
    severities: dict[str, float],
    crop: tuple[float, float, float, float],
    phash: str,
) -> ImageComposition:
    rounded = {name: round(float(sev), 4) for name, sev in severities.items() if sev >= ISSUE_MIN_SEVERITY}
    issues = sorted(rounded, key=lambda name: (-rounded[name] * PENALTY_WEIGHTS[name], name))
    return ImageComposition(
        index=index,
        score=round(score, 4),
        issues=issues,
        issue_severity={name: rounded[name] for name in issues},
        suggested_crop=crop,
        width=image.width,
        height=image.height,
        phash=phash,
    )


def with_severity(composition: ImageComposition, name: str, severity: float) -> ImageComposition:
    """`composition` with issue `name` at least `severity` (a learned reading of the same fault,
    e.g. quality.image.level's tilt): listed and ordered as `_build` does, and the checks' score
    lowered by the added severity's points. Unchanged when the checks already found it as severe."""
    before = composition.issue_severity.get(name, 0.0)
    if severity <= before or severity < ISSUE_MIN_SEVERITY or composition.issues == ["too_small_to_judge"]:
        return composition
    rounded = {**composition.issue_severity, name: round(float(severity), 4)}
    issues = sorted(rounded, key=lambda issue: (-rounded[issue] * PENALTY_WEIGHTS[issue], issue))
    score = max(0.0, composition.score - PENALTY_WEIGHTS[name] * (severity - before))
    return composition.model_copy(update={"score": round(score, 4), "issues": issues,
                                          "issue_severity": {issue: rounded[issue] for issue in issues}})


# --- crop suggestion -----------------------------------------------------------------


def _suggest_crop(subject: Subject | None) -> tuple[float, float, float, float]:
    """Best of a few aspect/scale/placement windows, or the full frame if none is clearly better.

    Windows are placed on the subject mask's pixel grid and returned normalised.
    """
    if subject is None or subject.clarity < CROP_MIN_CLARITY:
        return FULL_FRAME
    shape = subject.mask.shape
    height, width = shape
    integral = cv2.integral(subject.mask.astype(np.float64))
    total = float(integral[-1, -1])
    if total <= 0:
        return FULL_FRAME
    full = (0, 0, width, height)
    best, best_value = full, _crop_value(full, subject, integral, total, shape)
    baseline = best_value
    for window in _candidate_windows(subject, shape):
        value = _crop_value(window, subject, integral, total, shape)
        if value > best_value:
            best, best_value = window, value
    if best is full or best_value - baseline < CROP_MIN_GAIN:
        return FULL_FRAME
    x0, y0, x1, y1 = best
    return (round(x0 / width, 4), round(y0 / height, 4), round(x1 / width, 4), round(y1 / height, 4))


def _candidate_windows(subject: Subject, shape: tuple[int, int]):
    height, width = shape
    cx, cy = subject.centroid[0] * width, subject.centroid[1] * height
    for aspect in (width / height, *CROP_ASPECTS):
        max_w = min(width, height * aspect)
        for scale in CROP_SCALES:
            w = int(max_w * scale)
            h = int(w / aspect)
            if min(w, h) < CROP_MIN_SIDE_PX or h > height:
                continue
            for tx, ty in CROP_TARGETS:
                x0 = int(round(min(max(cx - tx * w, 0), width - w)))
                y0 = int(round(min(max(cy - ty * h, 0), height - h)))
                yield (x0, y0, x0 + w, y0 + h)


def _box_inside(box, window, shape) -> bool:
    """The subject box (normalised) lies inside the window (pixels), give or take a pixel."""
    height, width = shape
    x0, y0, x1, y1 = window
    return (
        box[0] * width >= x0 - 1
        and box[1] * height >= y0 - 1
        and box[2] * width <= x1 + 1
        and box[3] * height <= y1 + 1
    )


def _crop_value(window, subject: Subject, integral: np.ndarray, total: float, shape) -> float:
    """How well a window frames the subject: kept, balanced, not cramped, not wasteful."""
    x0, y0, x1, y1 = window
    kept = float(integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / total
    if kept < CROP_MIN_SUBJECT_KEPT or not _box_inside(subject.box, window, shape):
        return -1.0
    height, width = shape
    ww, wh = x1 - x0, y1 - y0
    cx = (subject.centroid[0] * width - x0) / ww
    cy = (subject.centroid[1] * height - y0) / wh
    sx0, sy0, sx1, sy1 = subject.box
    box_w = (min(sx1 * width, x1) - max(sx0 * width, x0)) / ww
    box_h = (min(sy1 * height, y1) - max(sy0 * height, y0)) / wh
    area = max(0.0, box_w) * max(0.0, box_h)
    balance = _ramp(_anchor_distance((cx, cy)), BALANCE_DIST_START, BALANCE_DIST_FULL)
    tight = _ramp(area, TIGHT_AREA_START, TIGHT_AREA_FULL)
    small = _ramp(area, SMALL_AREA_START, SMALL_AREA_FULL)
    lost = 1.0 - (ww * wh) / float(width * height)
    return (
        1.0
        - CROP_BALANCE_COST * balance
        - CROP_TIGHT_COST * tight
        - CROP_SMALL_COST * small
        - CROP_AREA_COST * lost
    )
