"""The learned composition part: EfficientNet-Lite0 build, degradation families, the head in the
service, crop suggestion, and `quality eval --task composition --pairs` on photos the tests make.

Tests that order photos use real photos: the drawn scenes the tests make are flat pictures that
nothing learned was trained to find poor (since composition-head 2026.12.07-geometric the head reads
framing only, and a drawn scene can be well framed: learned score ~0.88)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.cli import main
from quality.errors import ModelIntegrityError
from quality.image.cnn import CAR_CLASSES, letterbox_geometry, network_input
from quality.image.cnn_build import CLASSIFIER_FILE, ONNX_FILE, ensure_effnet_onnx
from quality.image.degrade import FAMILIES, degrade, inscribed_scale
from quality.image.photo_score import combine
from quality.image.scorer import FULL_FRAME, crop_windows
from quality.schemas import ImageComposition, ImageInput, Post
from quality.settings import get_settings
from train.composition import photo_split
from tests.conftest import b64, encode_image, synthetic_photo
from tests.test_image_composition import scene

HELD_OUT_PHOTOS = get_settings().data_dir / "photos"


# --- the backbone build ------------------------------------------------------------------------------


def test_backbone_build_is_verified_and_damage_is_named(tmp_path):
    built = ensure_effnet_onnx(tmp_path)
    assert (built / ONNX_FILE).is_file() and (built / CLASSIFIER_FILE).is_file()
    assert ensure_effnet_onnx(tmp_path) == built  # reused, not rebuilt
    with open(built / CLASSIFIER_FILE, "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelIntegrityError, match=CLASSIFIER_FILE):
        ensure_effnet_onnx(tmp_path)


def test_letterbox_keeps_the_whole_frame_and_its_aspect():
    box = letterbox_geometry(1920, 1080)
    assert (box.width, box.height) == (224, 126) and box.y0 == (224 - 126) // 2
    tensor, _ = network_input(np.full((1080, 1920, 3), 255, np.uint8))
    assert tensor.shape == (3, 224, 224)
    assert np.allclose(tensor[:, box.y0 + 5, 100], (255 - 127) / 128)  # photo
    assert np.allclose(tensor[:, 2, 100], 0.0)  # grey bar


# --- degradation families ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(scene(640, 480))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_deterministic_and_changes_the_photo(photo, family):
    subject = (0.53, 0.5, 0.8, 0.7)
    first, box = degrade(photo, family, subject, np.random.default_rng(3))
    again, _ = degrade(photo, family, subject, np.random.default_rng(3))
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert 0.0 <= box[0] < box[2] <= 1.0 and 0.0 <= box[1] < box[3] <= 1.0
    original = np.asarray(photo.resize(first.size)).astype(float)
    # Blur on a mostly smooth scene moves pixels least (about 2.4 of 255 on average here).
    assert np.abs(np.asarray(first).astype(float) - original).mean() > 1.5


def test_crops_keep_the_aspect_ratio_and_cut_through_the_subject(photo):
    subject = (0.53, 0.5, 0.8, 0.7)
    for seed in range(10):
        image, (x0, y0, x1, y1) = degrade(photo, "cut_subject", subject, np.random.default_rng(seed))
        assert abs(image.size[0] / image.size[1] - 640 / 480) < 0.02
        crosses_x = x0 < subject[0] < x1 < subject[2] or subject[0] < x0 < subject[2] < x1
        crosses_y = y0 < subject[1] < y1 < subject[3] or subject[1] < y0 < subject[3] < y1
        assert crosses_x or crosses_y, (seed, (x0, y0, x1, y1))


def test_tilt_leaves_no_empty_corners(photo):
    image, _ = degrade(photo, "tilt", None, np.random.default_rng(0))
    corners = np.asarray(image)[[0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.min() > 0  # rotation fill is black; the inscribed crop keeps none of it
    assert inscribed_scale(640, 480, 0.0) == pytest.approx(1.0)
    assert inscribed_scale(640, 480, 10.0) < 0.85


def test_unknown_family_is_refused(photo):
    with pytest.raises(ValueError, match="unknown degradation family"):
        degrade(photo, "sepia", None, np.random.default_rng(0))


def test_held_out_split_is_fixed_and_about_one_in_five():
    names = [f"cars/{i:05d}.jpg" for i in range(2000)]
    held_out = [n for n in names if photo_split(n) == "held_out"]
    assert 0.17 < len(held_out) / len(names) < 0.23
    assert held_out == [n for n in names if photo_split(n) == "held_out"]


# --- scoring -----------------------------------------------------------------------------------------


def _composition(service, image: Image.Image) -> ImageComposition:
    post = Post(images=[ImageInput(data=b64(encode_image(image, quality=92)))])
    return service.score(post).dimensions.composition.images[0]


def test_service_reports_learned_score_car_evidence_and_subject(service, photo):
    result = _composition(service, photo)
    assert 0.0 <= result.learned_score <= 1.0 and 0.0 <= result.heuristic_score <= 1.0
    assert 0.0 <= result.car_probability <= 1.0 and result.shows_car == (result.car_probability >= 0.5)
    x0, y0, x1, y1 = result.subject_box
    assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
    assert result.score == pytest.approx(combine(result.perceived_quality, result.learned_score,
                                                 result.heuristic_score, result.issue_severity,
                                                 service.scorers["composition"].weights), abs=1e-3)


def _held_out_names(every: int) -> list[str]:
    from train.composition import list_photos

    if not (HELD_OUT_PHOTOS / "cars").is_dir():
        pytest.skip(f"photo folder not available: {HELD_OUT_PHOTOS}")
    return [n for n in list_photos(HELD_OUT_PHOTOS) if photo_split(n) == "held_out"][::every]


def test_black_frame_scores_low(service):
    black = Image.new("RGB", (640, 480))
    result = _composition(service, black)
    assert "underexposed" in result.issues and result.score < 0.3


def test_crop_windows_stay_in_the_frame_and_keep_the_aspect():
    for subject in [None, (0.0, 0.0, 0.2, 0.2), (0.7, 0.6, 1.0, 1.0)]:
        windows = list(crop_windows(subject))
        assert windows
        for x0, y0, x1, y1 in windows:
            assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0
            assert x1 - x0 == pytest.approx(y1 - y0, abs=1e-3)


def test_suggested_crop_is_a_valid_box(service):
    off = Image.fromarray(scene(640, 480, car=(0.1, 0.6, 0.2, 0.2)))
    crop = _composition(service, off).suggested_crop
    assert crop == FULL_FRAME or (0.0 <= crop[0] < crop[2] <= 1.0 and 0.0 <= crop[1] < crop[3] <= 1.0)


def test_the_crop_search_on_both_cores_gives_the_windows_outputs_in_order(service):
    """The windows are scored half on the network's thread and half on the caller's: the same outputs,
    in the windows' order, as one after the other on one thread."""
    scorer = service.scorers["composition"]
    rgb = np.asarray(Image.fromarray(scene(640, 480, car=(0.1, 0.6, 0.2, 0.2))))
    windows = [rgb[:300, :400], rgb[100:, 200:], rgb[50:350, 100:500], rgb[:, :320], rgb[200:, :]]
    for count in (1, 2, len(windows)):
        alone = scorer._network_outputs(windows[:count])
        both = scorer._network_outputs_on_both_cores(windows[:count])
        assert len(both) == count
        for a, b in zip(alone, both):
            assert np.allclose(a.features, b.features, atol=1e-6) and a.car_probability == pytest.approx(b.car_probability)


def test_the_crop_search_s_answer_is_the_photo_s_suggested_crop(service, monkeypatch):
    """The crop search runs while the perceived-quality network works, before the photo is combined:
    what it found is the photo's `suggested_crop`, and it runs only below CROP_SEARCH_BELOW."""
    import quality.image.scorer as scorer_module

    found = (0.1, 0.2, 0.7, 0.8)
    calls = []
    monkeypatch.setattr(scorer_module.CompositionScorer, "_best_crop", lambda self, *args: calls.append(args) or found)
    data = b64(encode_image(Image.fromarray(scene(640, 480, car=(0.1, 0.6, 0.2, 0.2))), quality=92))
    post = Post(images=[ImageInput(data=data)])
    monkeypatch.setattr(scorer_module, "CROP_SEARCH_BELOW", 1.01)  # every photo searched
    assert tuple(service.score(post).dimensions.composition.images[0].suggested_crop) == found and len(calls) == 1
    monkeypatch.setattr(scorer_module, "CROP_SEARCH_BELOW", -0.01)  # none
    assert tuple(service.score(post).dimensions.composition.images[0].suggested_crop) != found and len(calls) == 1


def test_car_classes_are_imagenet_car_indices():
    assert {817, 511, 436, 656} <= set(CAR_CLASSES) and all(0 <= c < 1000 for c in CAR_CLASSES)


# --- evaluation on pairs -----------------------------------------------------------------------------


def test_eval_composition_pairs_reports_per_family(tmp_path, capsys):
    rows = []
    for seed in range(3):
        original = Image.fromarray(scene(640, 480, seed=seed))
        original.save(tmp_path / f"p{seed}.jpg", quality=92)
        for family in ("blur", "exposure"):
            worse, _ = degrade(original, family, None, np.random.default_rng(seed))
            worse.save(tmp_path / f"p{seed}.{family}.jpg", quality=92)
            rows.append({"better": f"p{seed}.jpg", "worse": f"p{seed}.{family}.jpg", "family": family,
                         "content": ["city", "night"][seed % 2]})
    rows.append({"better": "p0.jpg", "worse": "missing.jpg", "family": "blur", "content": "city"})
    with open(tmp_path / "pairs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["better", "worse", "family", "content"])
        writer.writeheader()
        writer.writerows(rows)
    code = main(["eval", "--task", "composition", "--pairs", "--data", str(tmp_path / "pairs.csv"),
                 "--group-col", "family", "--content-col", "content", "--quiet"])
    assert code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert report["n"] == 6 and report["skipped"] == {"not_scored": 1}
    assert 0.0 <= report["model"]["pairwise_accuracy"] <= 1.0  # how good: the real-photo test below
    assert report["baselines"]["heuristic_v0"]["pairwise_accuracy"] == 1.0  # blur, exposure: the checks see them
    assert "heuristic_v0" in report["baselines"]
    assert sorted(g["group"] for g in report["groups"]) == ["blur", "exposure"]
    assert "by group" in captured.err
    by_content = report["better_by_content"]  # the originals' median score per content class
    assert by_content["n"] == {"city": 2, "night": 1}
    assert by_content["spread"] == pytest.approx(abs(by_content["median"]["city"] - by_content["median"]["night"]),
                                                 abs=1e-4)


@pytest.mark.slow
def test_held_out_real_photos_rank_above_their_degraded_copies(service):
    """A slice of the held-out split, one copy per family (the full figure is in the model card)."""
    from train.composition import load_photo, photo_rng

    right: dict[str, int] = dict.fromkeys(FAMILIES, 0)
    names = _held_out_names(every=30)
    for name in names:
        image = load_photo(HELD_OUT_PHOTOS / name)
        original = _composition(service, image).learned_score
        for family in FAMILIES:
            worse, _ = degrade(image, family, None, photo_rng(name, family, 0))
            right[family] += original > _composition(service, worse).learned_score
    assert len(names) >= 12
    assert sum(right.values()) / (len(names) * len(FAMILIES)) >= 0.85, right
