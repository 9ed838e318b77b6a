"""The photo score: how perceived quality, composition and named issues combine (quality.image.photo_score),
the per-photo and per-post fields the service reports, `quality eval --task photo_quality` and
`quality train photo-quality`, on photos the tests make."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image, ImageFilter

from api.cli import main
from eval.metrics import rated_pairs_accuracy
from quality.image.photo_score import (RESOLUTION_ISSUE, TECHNICAL_ISSUES, TILT_ISSUE, PhotoScoreWeights, combine,
                                      issue_cap)
from quality.schemas import ImageInput, Post
from quality.settings import get_settings
from tests.conftest import b64, encode_image
from tests.test_image_composition import scene

# The served weights (models/photo-score/photo_score.json), as the service loads them.
SERVED = PhotoScoreWeights.load(get_settings().models_dir / "photo-score" / "photo_score.json")
Q = SERVED.quality_weight
unit = st.floats(0.0, 1.0)
severities = st.dictionaries(st.sampled_from(["blurry", "underexposed", "cluttered", "tilted_horizon", "noisy",
                                             "low_resolution"]), unit, max_size=3)


@settings(max_examples=200, deadline=None)
@given(unit, unit, unit, unit, unit, severities, severities)
def test_the_score_never_rises_when_a_part_falls_or_an_issue_worsens(q, dq, c, dc, heuristic, issues, extra):
    """Monotone by construction: lower perceived quality, lower composition or a worse named issue
    can only lower the photo's score (the property the degraded-copy test relies on)."""
    worse_issues = {k: max(v, issues.get(k, 0.0)) for k, v in extra.items()} | {
        k: v for k, v in issues.items() if k not in extra}
    for weights in (SERVED, SERVED.replace(capping="all", tilt_weight=None), SERVED.replace(quality_weight=0.2)):
        before = combine(q, c, heuristic, issues, weights)
        after = combine(q * dq, c * dc, heuristic, worse_issues, weights)
        assert 0.0 <= after <= before <= 1.0


def test_parts_weigh_as_documented_and_a_missing_part_leaves_the_other():
    assert combine(0.8, 0.4, 0.1, {}, SERVED.replace(quality_weight=0.5)) == pytest.approx(0.6)
    assert combine(0.8, 0.4, 0.1, {}, SERVED) == pytest.approx(Q * 0.8 + (1 - Q) * 0.4)
    assert combine(0.8, 0.4, 0.1, {}, SERVED.replace(quality_weight=1.0)) == pytest.approx(0.8)
    assert combine(None, 0.4, 0.1, {}, SERVED) == pytest.approx(0.4)  # no perceived-quality head: composition alone
    assert combine(0.8, None, 0.1, {}, SERVED) == pytest.approx(0.8)
    assert combine(None, None, 0.1, {}, SERVED) == pytest.approx(0.1)  # nothing learned: the checks' own score


def test_only_a_severe_named_issue_caps_the_score():
    cap_from, cap_weight = SERVED.issue_cap_from, SERVED.issue_cap_weight
    assert issue_cap({"blurry": cap_from - 0.01}, SERVED) == 1.0
    assert issue_cap({"blurry": 1.0, "tilted_horizon": 0.7}, SERVED) == pytest.approx(1.0 - cap_weight)
    assert combine(0.9, 0.9, 0.5, {"underexposed": 1.0}, SERVED) == pytest.approx(1.0 - cap_weight)


def test_only_technical_issues_cap_the_served_score():
    """The checks' composition readings (clutter, a subject at the edge) no longer cap: on dev they
    capped good photos and lost their cap in worse copies (docs/photo-score.md "Resolution")."""
    assert SERVED.capping == "technical" and "cluttered" not in TECHNICAL_ISSUES and "blurry" in TECHNICAL_ISSUES
    base, capped = Q * 0.9 + (1 - Q) * 0.9, 1.0 - SERVED.issue_cap_weight
    assert combine(0.9, 0.9, 0.5, {"cluttered": 1.0, "subject_cut_off": 0.9}, SERVED) == pytest.approx(base)
    assert combine(0.9, 0.9, 0.5, {"cluttered": 1.0}, SERVED.replace(capping="all")) == pytest.approx(capped)
    for issue in TECHNICAL_ISSUES:
        assert combine(0.9, 0.9, 0.5, {issue: 1.0}, SERVED) == pytest.approx(capped)


def test_the_tilt_takes_a_share_off_instead_of_capping():
    base, tilt, capped = Q * 0.9 + (1 - Q) * 0.9, SERVED.tilt_weight, 1.0 - SERVED.issue_cap_weight
    assert combine(0.9, 0.9, 0.5, {TILT_ISSUE: 1.0}, SERVED) == pytest.approx(base * (1 - tilt))
    assert combine(0.9, 0.9, 0.5, {TILT_ISSUE: 0.5}, SERVED) == pytest.approx(base * (1 - tilt / 2))
    # a severe issue of another kind still caps, and the tilt's share comes off the cap
    assert combine(0.9, 0.9, 0.5, {TILT_ISSUE: 1.0, "blurry": 1.0}, SERVED) == pytest.approx(capped * (1 - tilt))
    # the score before the level detector (every issue capping then): the tilt capped like any issue
    before = SERVED.replace(tilt_weight=None, capping="all")
    assert combine(0.9, 0.9, 0.5, {TILT_ISSUE: 1.0}, before) == pytest.approx(capped)


def test_the_tilt_severity_ramps_between_the_weights_cut_offs():
    start, full = SERVED.tilt_probability_start, SERVED.tilt_probability_full
    assert SERVED.tilt_severity(start) == 0.0 and SERVED.tilt_severity(full) == 1.0
    assert SERVED.tilt_severity(0.0) == 0.0 and SERVED.tilt_severity(1.0) == 1.0
    assert SERVED.tilt_severity((start + full) / 2) == pytest.approx(0.5)


def test_the_resolution_takes_a_share_off_and_never_rises_as_a_photo_shrinks():
    base, weight = Q * 0.9 + (1 - Q) * 0.9, SERVED.resolution_weight
    assert combine(0.9, 0.9, 0.5, {RESOLUTION_ISSUE: 1.0}, SERVED) == pytest.approx(base * (1 - weight))
    assert combine(0.9, 0.9, 0.5, {RESOLUTION_ISSUE: 1.0, TILT_ISSUE: 1.0}, SERVED) == pytest.approx(
        base * (1 - weight) * (1 - SERVED.tilt_weight))
    assert combine(0.9, 0.9, 0.5, {RESOLUTION_ISSUE: 1.0}, SERVED.replace(resolution_weight=0.0)) == pytest.approx(base)
    low, full = SERVED.resolution_low_side, SERVED.resolution_full_side
    assert SERVED.resolution_severity(full, full) == 0.0
    assert SERVED.resolution_severity(4000, 3000) == 0.0
    assert SERVED.resolution_severity(low, low) == pytest.approx(1.0)
    assert SERVED.resolution_severity(10, 10) == 1.0
    # every crop (fewer pixels on a side, the other kept) is at least as severe as its photo
    sides = [(w, h) for w in (64, 200, 320, 500, 640, 1080, 1920) for h in (48, 240, 480, 1080)]
    for w, h in sides:
        for scale in (0.4, 0.6, 0.8, 0.95):
            assert SERVED.resolution_severity(round(w * scale), round(h * scale)) >= SERVED.resolution_severity(w, h)
            assert SERVED.resolution_severity(round(w * scale), h) >= SERVED.resolution_severity(w, h)


def test_weights_out_of_range_are_refused_with_the_field_named(tmp_path):
    for change, field in (({"quality_weight": 1.5}, "quality_weight"), ({"capping": "some"}, "capping"),
                          ({"tilt_probability_start": 1.0}, "tilt_probability_start"),
                          ({"resolution_low_side": 2000}, "resolution_low_side")):
        path = tmp_path / "photo_score.json"
        path.write_text(json.dumps({**SERVED.as_dict(), **change}), encoding="utf-8")
        with pytest.raises(ValueError, match=field):
            PhotoScoreWeights.load(path)
    path.write_text(json.dumps({k: v for k, v in SERVED.as_dict().items() if k != "tilt_weight"}), encoding="utf-8")
    with pytest.raises(ValueError, match="missing tilt_weight"):
        PhotoScoreWeights.load(path)


def test_the_weights_file_is_in_the_models_version(service, tmp_path):
    """A change to the photo score's weights changes `versions.models` of every result, so a stored
    score says which formula made it (the file is a manifest entry with its sha256)."""
    from quality.manifest import load_manifest, models_version

    manifest = load_manifest(get_settings().models_dir / "manifest.yaml")
    entry = manifest.entry("photo-score")
    assert entry.files[0].path == "photo-score/photo_score.json"
    assert service.scorers["composition"].weights == SERVED
    assert entry.version in service.scorers["composition"].version
    changed = manifest.model_copy(deep=True)
    changed.entry("photo-score").files[0].sha256 = "0" * 64
    assert models_version(changed) != models_version(manifest)


def test_the_service_names_a_small_photo_s_low_resolution(service):
    def photo(width: int, height: int):
        image = Image.fromarray(scene(width, height, seed=5))
        post = Post(id="p", text="", images=[ImageInput(data=b64(encode_image(image, quality=92)))])
        return service.score(post).dimensions.composition.images[0]

    small, large = photo(240, 180), photo(1600, 1200)
    assert small.issue_severity[RESOLUTION_ISSUE] == pytest.approx(SERVED.resolution_severity(240, 180), abs=1e-4)
    assert RESOLUTION_ISSUE in small.issues and RESOLUTION_ISSUE not in large.issue_severity
    assert small.score == pytest.approx(combine(small.perceived_quality, small.learned_score, small.heuristic_score,
                                                small.issue_severity, SERVED), abs=1e-3)


def test_rated_pairs_count_only_photos_rated_clearly_apart():
    labels = np.array([1.0, 2.0, 5.0, 5.0])
    assert rated_pairs_accuracy(labels, np.array([0.1, 0.2, 0.9, 0.8])) == {"pairwise": 1.0, "pairs": 5}
    assert rated_pairs_accuracy(labels, np.array([0.9, 0.8, 0.1, 0.2]))["pairwise"] == 0.0
    assert rated_pairs_accuracy(np.array([3.0, 3.0]), np.array([0.1, 0.2]))["pairwise"] is None


# --- in the service ---------------------------------------------------------------------------------


def test_the_service_gives_perceived_quality_and_composition_apart(service):
    sharp = Image.fromarray(scene(640, 480, seed=3))
    blurred = sharp.filter(ImageFilter.GaussianBlur(4))
    post = Post(id="p", text="", images=[ImageInput(data=b64(encode_image(sharp, quality=92))),
                                         ImageInput(data=b64(encode_image(blurred, quality=92)))])
    composition = service.score(post).dimensions.composition
    good, bad = composition.images
    for photo in (good, bad):
        assert 0.0 <= photo.perceived_quality <= 1.0 and 0.0 <= photo.learned_score <= 1.0
        assert photo.score == pytest.approx(combine(photo.perceived_quality, photo.learned_score,
                                                    photo.heuristic_score, photo.issue_severity, SERVED), abs=1e-3)
    assert bad.perceived_quality < good.perceived_quality and bad.score < good.score
    assert composition.perceived_quality is not None and composition.composition_only is not None
    assert service.store.entry("photo-quality-head").version in service.scorers["composition"].version


# --- quality eval --task photo_quality and quality train photo-quality ------------------------------------


def _rated_photos(folder, count: int) -> list[dict]:
    """Scenes blurred by a rated amount: rating 5 = sharp ... 1 = very blurred (a made-up judge)."""
    rows = []
    for i in range(count):
        rating = 5 - i % 5
        image = Image.fromarray(scene(480, 360, seed=100 + i)).filter(ImageFilter.GaussianBlur(1.2 * (5 - rating)))
        name = f"photo{i}.jpg"
        image.save(folder / name, quality=90)
        rows.append({"image": name, "rating": rating, "content": "city" if i % 2 else "landscape"})
    return rows


def _write(path, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_eval_photo_quality_reports_every_part_and_the_worst_group_first(tmp_path, capsys):
    rows = _rated_photos(tmp_path, 10) + [{"image": "missing.jpg", "rating": 3, "content": "city"}]
    _write(tmp_path / "ratings.csv", rows)
    assert main(["eval", "--task", "photo_quality", "--data", str(tmp_path / "ratings.csv"),
                 "--group-col", "content", "--quiet"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert report["n"] == 10 and report["skipped"] == {"not_scored": 1}
    for key in ("spearman", "pearson", "kendall", "pairwise"):
        assert key in report["model"]
    assert {"perceived_quality", "composition_only", "heuristic_v0", "photo_size"} <= set(report["baselines"])
    # every made-up photo has one size: size alone has no correlation, reported as null (valid JSON), not NaN
    assert report["baselines"]["photo_size"]["spearman"] is None and "NaN" not in captured.out
    assert report["model"]["spearman"] > 0.5  # blur is what the made-up judge rates, and every part sees it
    groups = report["groups"]
    assert sorted(g["group"] for g in groups) == ["city", "landscape"]
    assert groups[0]["spearman"] <= groups[1]["spearman"]
    assert "by group" in captured.err


@pytest.mark.slow
def test_train_photo_quality_fits_a_judge_and_writes_a_verified_versioned_model(tmp_path, capsys):
    from quality.image.perceived_quality import PerceivedQualityHead
    from quality.model_store import ModelStore
    from quality.settings import Settings

    _write(tmp_path / "ratings.csv", _rated_photos(tmp_path, 45))
    out = tmp_path / "models"
    assert main(["train", "photo-quality", "--data", str(tmp_path / "ratings.csv"), "--out-models-dir", str(out),
                 "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["fit_rows"] + report["held_out_rows"] == 45 and report["rating_range"] == [1.0, 5.0]
    assert report["held_out"]["new"]["spearman"] > 0.5
    store = ModelStore(Settings(models_dir=out))
    store.verify()  # the manifest's sha256 is the new file's
    entry = store.entry("photo-quality-head")
    assert entry.version == report["version"] and "refit" in entry.version
    head = PerceivedQualityHead.load(store.path("photo-quality-head"))
    assert head.meta["head"] == "stacked" and (head.low, head.high) == (1.0, 5.0)
    # refusing to overwrite a folder, and a clear message for a file without the column
    assert main(["train", "photo-quality", "--data", str(tmp_path / "ratings.csv"), "--out-models-dir",
                 str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["train", "photo-quality", "--data", str(tmp_path / "ratings.csv"), "--label-col", "score",
                 "--out-models-dir", str(tmp_path / "other")]) == 2
    assert "score" in capsys.readouterr().err


def test_chosen_weights_are_written_with_their_manifest_entry(tmp_path):
    """`train.photo_score_weights --write VERSION`: the file and its manifest entry change together,
    the copy verifies, and the scorer built from it combines with the new weights."""
    import shutil

    from quality.model_store import ModelStore
    from quality.settings import Settings
    from train.photo_score_weights import write_weights

    models = tmp_path / "models"
    shutil.copytree(get_settings().models_dir, models)
    store = ModelStore(Settings(models_dir=models))
    chosen = SERVED.replace(quality_weight=0.6, version="2099.01.01")
    write_weights(store, chosen, {"ratings_all_spearman": 0.5, "pairs_all": 0.9}, rows=10, pairs=20)
    fresh = ModelStore(Settings(models_dir=models))
    fresh.verify()  # the manifest's sha256 is the new file's
    assert fresh.entry("photo-score").version == "2099.01.01"
    assert fresh.entry("photo-score").metrics == {"dev_ratings_spearman": 0.5, "dev_pairs_accuracy": 0.9}
    assert PhotoScoreWeights.load(fresh.path("photo-score")) == chosen
    assert ModelStore(get_settings()).entry("photo-score").version == SERVED.version  # the served copy untouched
