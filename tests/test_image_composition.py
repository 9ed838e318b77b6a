"""v0 composition heuristics on synthetic scenes made here (sky, tree line, ground, a red car),
and a few robust checks on real photos when the shared photo folder is present."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from quality.image import (
    CompositionAssessment,
    DecodedImage,
    analyse_composition,
    assess_composition,
    composition_confidence,
    decode_image,
)
from quality.image.composition import CONFIDENCE_CAP, PENALTY_WEIGHTS
from quality.schemas import ImageComposition

PHOTOS = Path("/work/shared/data/photos/general")
# Sharp real photos (a city street, a mountain, a butterfly, a building) used for robust checks.
REAL_PHOTOS = [
    "sr_CSun_Hays80_street_sun_bkgpqbvgorkjqzgp.jpg",
    "sr_CSun_Hays80_mountain_sun_bdgkjthkoxhovklv.jpg",
    "sr_CSet14_monarch.jpg",
    "sr_CUrban100_img_099.jpg",
]
KNOWN_ISSUES = set(PENALTY_WEIGHTS) | {"too_small_to_judge"}


# --- scenes ----------------------------------------------------------------------------------


def scene(
    width: int = 640,
    height: int = 480,
    *,
    horizon: float = 0.62,
    car: tuple[float, float, float, float] = (2 / 3, 0.6, 0.26, 0.2),
    seed: int = 0,
) -> np.ndarray:
    """Sky gradient, a ragged tree line on a level horizon, textured ground, a red car
    (centre x, centre y, width, height as shares of the frame)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    hy = int(round(horizon * height))
    t = np.linspace(0, 1, hy)[:, None]
    img[:hy] = (np.array([95, 150, 215]) * (1 - t) + np.array([185, 210, 240]) * t)[:, None, :]
    g = np.linspace(0, 1, height - hy)[:, None]
    img[hy:] = (np.array([110, 135, 70]) * (1 - g) + np.array([70, 95, 45]) * g)[:, None, :]
    texture = rng.uniform(-12, 12, (8, 12)).astype(np.float32)
    img[hy:] += cv2.resize(texture, (width, height - hy), interpolation=cv2.INTER_CUBIC)[..., None]
    for _ in range(60):  # small stones
        x, y, s = rng.integers(0, width - 6), rng.integers(hy + 4, height - 4), rng.integers(2, 5)
        img[y : y + s, x : x + 2 * s] = (60, 65, 55)
    for x in range(0, width, 9):  # tree line
        img[hy - rng.integers(2, 9) : hy, x : x + 7] = (50, 80, 45)
    cx, cy, cw, ch = car
    x0, x1 = int((cx - cw / 2) * width), int((cx + cw / 2) * width)
    y0, y1 = int((cy - ch / 2) * height), int((cy + ch / 2) * height)
    bw, bh = x1 - x0, y1 - y0

    def rect(a, b, c, d, colour):
        img[max(c, 0) : d, max(a, 0) : b] = colour

    rect(x0, x1, y0 + bh // 3, y1 - bh // 6, (200, 35, 35))  # body
    rect(x0 + bw // 5, x1 - bw // 5, y0, y0 + bh // 3, (170, 30, 30))  # cabin
    rect(x0 + bw // 4, x0 + bw // 2 - 2, y0 + 3, y0 + bh // 3 - 2, (40, 50, 65))  # windows
    rect(x0 + bw // 2 + 2, x1 - bw // 4, y0 + 3, y0 + bh // 3 - 2, (40, 50, 65))
    for k in range(3):  # grille
        rect(x0 + 4, x0 + bw // 6, y0 + bh // 2 + 4 * k, y0 + bh // 2 + 4 * k + 2, (230, 230, 230))
    out = np.clip(img, 0, 255).astype(np.uint8)
    radius = max(bh // 6, 2)
    for wx in (x0 + bw // 5, x1 - bw // 5):
        cv2.circle(out, (wx, y1 - radius), radius, (20, 20, 20), -1)
        cv2.circle(out, (wx, y1 - radius), max(radius // 2, 1), (150, 150, 150), -1)
    return out


def rotated(img: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate about the centre and zoom just enough that no corner is empty."""
    h, w = img.shape[:2]
    rad = np.deg2rad(abs(degrees))
    zoom = np.cos(rad) + max(w / h, h / w) * np.sin(rad)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, zoom)
    return cv2.warpAffine(img, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def as_decoded(rgb: np.ndarray, fmt: str = "JPEG") -> DecodedImage:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return decode_image(buffer.getvalue(), max_bytes=20 * 1024 * 1024, max_pixels=40_000_000)


def analyse(rgb: np.ndarray, fmt: str = "JPEG") -> ImageComposition:
    return analyse_composition(as_decoded(rgb, fmt), 0)


def assert_valid(result: ImageComposition) -> None:
    assert 0.0 <= result.score <= 1.0
    assert set(result.issues) <= KNOWN_ISSUES
    assert list(result.issue_severity) == result.issues
    assert all(0.0 <= v <= 1.0 for v in result.issue_severity.values())
    x0, y0, x1, y1 = result.suggested_crop
    assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    assert len(result.phash) == 16 and int(result.phash, 16) >= 0


@pytest.fixture(scope="module")
def clean() -> ImageComposition:
    return analyse(scene())


# --- clean photo ---------------------------------------------------------------------------------


def test_clean_scene_scores_high_without_issues(clean):
    assert_valid(clean)
    assert clean.score > 0.7
    assert clean.issues == []
    assert (clean.width, clean.height) == (640, 480)


def test_result_carries_index_and_original_size():
    result = analyse_composition(as_decoded(scene(1280, 720)), 4)
    assert result.index == 4
    assert (result.width, result.height) == (1280, 720)


# --- horizon -------------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [3.0, 6.0, -9.0])
def test_tilted_horizon_is_flagged_and_scores_lower(clean, degrees):
    result = analyse(rotated(scene(), degrees))
    assert_valid(result)
    assert "tilted_horizon" in result.issues
    assert result.score < clean.score


def test_tilt_severity_grows_with_angle():
    small = analyse(rotated(scene(), 3.0)).issue_severity["tilted_horizon"]
    large = analyse(rotated(scene(), 7.0)).issue_severity["tilted_horizon"]
    assert large > small


@pytest.mark.parametrize("horizon", [0.4, 0.62, 0.75])
def test_level_horizon_is_not_flagged(horizon):
    result = analyse(scene(horizon=horizon, car=(0.5, horizon - 0.02, 0.26, 0.2)))
    assert "tilted_horizon" not in result.issue_severity


def test_tiny_rotation_is_not_flagged():
    assert "tilted_horizon" not in analyse(rotated(scene(), 0.5)).issues


# --- exposure, blur, noise -------------------------------------------------------------------------


def test_blurred_frame_is_flagged_and_scores_below_sharp(clean):
    result = analyse(cv2.GaussianBlur(scene(), (0, 0), 3))
    assert "blurry" in result.issues
    assert result.score < clean.score - 0.2


def test_black_frame_is_underexposed_and_scores_low():
    result = analyse(np.zeros((480, 640, 3), np.uint8))
    assert_valid(result)
    assert result.issues[0] == "underexposed"
    assert result.issue_severity["underexposed"] == 1.0
    assert result.score < 0.2


def test_dark_frame_is_underexposed():
    result = analyse((scene() * 0.15).astype(np.uint8))
    assert "underexposed" in result.issues
    assert result.score < 0.4


def test_washed_out_frame_is_overexposed():
    result = analyse((scene() * 0.2 + 205).astype(np.uint8))
    assert "overexposed" in result.issues


def test_noisy_frame_is_flagged(clean):
    noisy = scene(512, 384).astype(np.float32) + np.random.default_rng(3).normal(0, 25, (384, 512, 3))
    result = analyse(np.clip(noisy, 0, 255).astype(np.uint8), fmt="PNG")
    assert "noisy" in result.issues
    assert result.score < clean.score


# --- subject ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("car_x", [0.95, 0.03])
def test_subject_cut_at_the_edge_is_flagged(clean, car_x):
    result = analyse(scene(car=(car_x, 0.6, 0.26, 0.2)))
    assert "subject_cut_off" in result.issues
    assert result.score < clean.score


@pytest.mark.parametrize("car_x", [1 / 3, 0.5, 2 / 3])
def test_well_placed_subject_is_not_cut_or_off_balance(car_x):
    result = analyse(scene(car=(car_x, 0.6, 0.26, 0.2)))
    assert "subject_cut_off" not in result.issues
    assert "off_balance" not in result.issues


def test_suggested_crop_keeps_the_subject():
    assessment = assess_composition(as_decoded(scene(car=(0.03, 0.6, 0.26, 0.2))), 0)
    x0, y0, x1, y1 = assessment.composition.suggested_crop
    cx, cy = assessment.measurements["subject_cx"], assessment.measurements["subject_cy"]
    assert x0 <= cx <= x1 and y0 <= cy <= y1


# --- determinism, confidence, odd sizes --------------------------------------------------------------


def test_same_bytes_give_same_numbers():
    decoded_a, decoded_b = as_decoded(rotated(scene(seed=5), 4)), as_decoded(rotated(scene(seed=5), 4))
    first, second = assess_composition(decoded_a, 1), assess_composition(decoded_b, 1)
    assert first.composition.model_dump() == second.composition.model_dump()
    assert first.confidence == second.confidence
    assert first.measurements == second.measurements


def test_confidence_is_bounded_and_consistent():
    decoded = as_decoded(scene())
    assessment = assess_composition(decoded, 0)
    assert isinstance(assessment, CompositionAssessment)
    assert 0.0 < assessment.confidence <= CONFIDENCE_CAP
    assert composition_confidence(decoded) == assessment.confidence
    black = as_decoded(np.zeros((480, 640, 3), np.uint8))
    assert composition_confidence(black) < assessment.confidence


@pytest.mark.parametrize("size", [(1, 1), (10, 10), (63, 200), (20000, 10), (3000, 70)])
def test_tiny_or_extreme_images_do_not_crash(size):
    width, height = size
    image = np.full((height, width, 3), 128, np.uint8)
    image[:, : max(1, width // 2)] = 30
    result = analyse(image, fmt="PNG")
    assert_valid(result)
    assert result.issues == ["too_small_to_judge"]
    assert (result.width, result.height) == size
    assert composition_confidence(as_decoded(image, fmt="PNG")) < 0.2


@pytest.mark.parametrize("size", [(64, 64), (2000, 300), (300, 2000), (150, 900)])
def test_small_but_judgeable_sizes_work(size):
    width, height = size
    result = analyse(cv2.resize(scene(), (width, height), interpolation=cv2.INTER_AREA))
    assert_valid(result)
    assert "too_small_to_judge" not in result.issues


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(1, 400),
    height=st.integers(1, 400),
    kind=st.sampled_from(["noise", "flat", "stripes", "gradient"]),
    seed=st.integers(0, 2**16),
)
def test_any_picture_gives_a_valid_result(width, height, kind, seed):
    rng = np.random.default_rng(seed)
    if kind == "noise":
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind == "flat":
        image = np.full((height, width, 3), rng.integers(0, 256, 3), np.uint8)
    elif kind == "stripes":
        image = np.zeros((height, width, 3), np.uint8)
        image[:, ::4] = 255
    else:
        ramp = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None]
        image = np.broadcast_to(ramp, (height, width, 3)).copy()
    decoded = DecodedImage(rgb=image, width=width, height=height, format="PNG", n_frames=1)
    assessment = assess_composition(decoded, 0)
    assert_valid(assessment.composition)
    assert 0.0 <= assessment.confidence <= CONFIDENCE_CAP


# --- real photos ---------------------------------------------------------------------------------


def _real_photo(name: str) -> bytes:
    if not PHOTOS.is_dir():
        pytest.skip(f"real photos not available: {PHOTOS} is missing")
    path = PHOTOS / name
    if not path.is_file():
        pytest.skip(f"real photo not available: {path} is missing")
    return path.read_bytes()


@pytest.mark.parametrize("name", REAL_PHOTOS)
def test_real_sharp_photo_is_not_blurry_and_its_blurred_copy_scores_lower(name):
    data = _real_photo(name)
    original = analyse_composition(decode_image(data, max_bytes=20 * 1024 * 1024, max_pixels=40_000_000), 0)
    assert_valid(original)
    assert "blurry" not in original.issues
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    blurred = analyse(cv2.GaussianBlur(pixels, (0, 0), 2.5))
    assert_valid(blurred)
    assert "blurry" in blurred.issues
    assert blurred.score < original.score
