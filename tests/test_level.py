"""The level (tilt) detector: its features, its flattened trees, its severity, and the scorer using it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from quality.image.composition import ISSUE_MIN_SEVERITY, PENALTY_WEIGHTS, with_severity
from quality.image.degrade import rotated
from quality.image.level import FEATURE_DIM, LOG_FLOOR, LevelHead, level_features
from quality.image.photo_score import TILT_ISSUE, combine
from quality.schemas import ImageComposition, ImageInput, Post
from tests.conftest import b64, encode_image

from tests.test_photo_score import SERVED  # noqa: E402  (the served photo-score weights)

# Where the dominant deviation from the axes sits in the feature vector: after the 512-px histogram,
# the (angle, strength, angle x strength) of its top-10 % edges.
DOMINANT_ANGLE_512 = 45


def facade(width: int = 640, height: int = 480, seed: int = 0) -> Image.Image:
    """A building front: rows of windows, floor lines and a kerb, all level and plumb."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (width, height), (200, 195, 185))
    draw = ImageDraw.Draw(image)
    for y in range(40, height - 80, 60):
        draw.line([(0, y), (width, y)], fill=(120, 115, 110), width=3)
        for x in range(30, width - 40, 70):
            shade = int(rng.integers(40, 90))
            draw.rectangle([x, y + 12, x + 36, y + 44], fill=(shade, shade + 10, shade + 30), outline=(90, 90, 90))
    draw.rectangle([0, height - 70, width, height], fill=(90, 90, 95))
    pixels = np.asarray(image).astype(np.float32) + rng.normal(0, 3, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def dominant_angle(image: Image.Image) -> float:
    return float(np.exp(level_features(np.asarray(image))[DOMINANT_ANGLE_512]) - LOG_FLOOR)


def test_features_have_the_declared_size_and_are_finite():
    features = level_features(np.asarray(facade()))
    assert features.shape == (FEATURE_DIM,)
    assert np.isfinite(features).all()


@pytest.mark.parametrize("degrees", [6.0, -9.0, 12.0])
def test_the_dominant_deviation_follows_the_turn(degrees):
    assert dominant_angle(facade()) < 1.0
    assert dominant_angle(rotated(facade(), degrees)[0]) == pytest.approx(abs(degrees), abs=1.5)


def test_a_flat_frame_gives_finite_features():
    features = level_features(np.full((200, 300, 3), 128, np.uint8))
    assert np.isfinite(features).all()


def test_flattened_trees_predict_as_scikit_learn():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from train.level import flatten

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, FEATURE_DIM)).astype(np.float32)
    y = (x[:, 3] + 0.5 * x[:, 100] - x[:, 7] * x[:, 8] > 0).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=7, early_stopping=False,
                                           random_state=0).fit(x, y)
    arrays, depth = flatten(model)
    head = LevelHead({k: v for k, v in arrays.items()}, {"feature_dim": FEATURE_DIM, "max_depth": depth})
    probe = rng.normal(size=(50, FEATURE_DIM)).astype(np.float32)
    assert np.allclose(head.probability(probe), model.predict_proba(probe)[:, 1], atol=1e-5)


def test_a_head_for_other_features_is_refused():
    with pytest.raises(ValueError, match="features"):
        LevelHead({}, {"feature_dim": FEATURE_DIM + 1, "max_depth": 1})


def composition(**severities: float) -> ImageComposition:
    issues = sorted(severities, key=lambda n: -severities[n] * PENALTY_WEIGHTS[n])
    return ImageComposition(index=0, score=0.8, issues=issues, issue_severity=severities, width=10, height=10,
                            phash="0" * 16)


def test_with_severity_adds_the_issue_in_order_and_takes_its_points():
    before = composition(blurry=0.3)
    after = with_severity(before, "tilted_horizon", 0.9)
    assert after.issues == ["tilted_horizon", "blurry"]  # 0.9 x 0.25 > 0.3 x 0.45
    assert after.issue_severity == {"tilted_horizon": 0.9, "blurry": 0.3}
    assert after.score == pytest.approx(0.8 - PENALTY_WEIGHTS["tilted_horizon"] * 0.9)


def test_with_severity_keeps_a_worse_reading_and_ignores_a_mild_one():
    before = composition(tilted_horizon=0.7)
    assert with_severity(before, "tilted_horizon", 0.5) == before
    assert with_severity(composition(), "tilted_horizon", ISSUE_MIN_SEVERITY / 2) == composition()
    raised = with_severity(before, "tilted_horizon", 0.8)
    assert raised.issue_severity["tilted_horizon"] == 0.8
    assert raised.score == pytest.approx(0.8 - PENALTY_WEIGHTS["tilted_horizon"] * 0.1)


def test_a_photo_too_small_to_judge_is_left_alone():
    small = ImageComposition(index=0, score=0.3, issues=["too_small_to_judge"],
                             issue_severity={"too_small_to_judge": 1.0}, width=10, height=10, phash="0" * 16)
    assert with_severity(small, "tilted_horizon", 1.0) == small


@pytest.fixture(scope="module")
def served_head(service) -> LevelHead:
    level = service.scorers["composition"].level
    if level is None:
        pytest.skip("the manifest declares no level-head")
    return level


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_served_head_finds_a_turned_facade_more_tilted(served_head, seed):
    level = served_head.probability(level_features(np.asarray(facade(seed=seed))))[0]
    turned = served_head.probability(level_features(np.asarray(rotated(facade(seed=seed), 9.0)[0])))[0]
    assert turned > level
    assert turned > SERVED.tilt_probability_start > level


def test_the_service_names_the_tilt_the_detector_sees(service, served_head):
    def photo(image: Image.Image):
        post = Post(images=[ImageInput(data=b64(encode_image(image, quality=92)))])
        return service.score(post).dimensions.composition.images[0]

    level, turned = photo(facade()), photo(rotated(facade(), 9.0)[0])
    assert "tilted_horizon" in turned.issues
    assert turned.issue_severity["tilted_horizon"] > level.issue_severity.get("tilted_horizon", 0.0)
    # the tilt takes its share off what the photo would score level (a drawing's learned parts may
    # rank the turned copy higher: the share is at most the weights' tilt_weight)
    untilted = combine(turned.perceived_quality, turned.learned_score, turned.heuristic_score,
                       {k: v for k, v in turned.issue_severity.items() if k != TILT_ISSUE}, SERVED)
    assert turned.score == pytest.approx(
        untilted * (1 - SERVED.tilt_weight * turned.issue_severity[TILT_ISSUE]), abs=1e-3)
    assert turned.score < untilted
