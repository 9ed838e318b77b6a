"""Calibration: the maps themselves, the manifest edit, and `quality train calibration` end to end
(a new versioned calibration is written, declared, loaded, used and reported)."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

from eval.metrics import expected_calibration_error
from quality.calibration import Calibration, cross_fitted
from quality.manifest import load_manifest, upsert_entry_text
from quality.schemas import Post
from quality.service import QualityService
from quality.settings import PROJECT_ROOT, Settings
from train import calibration as train_calibration
from tests.test_eval import POLITE, RUDE


def overconfident(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from a true probability; the 'model' reports it pushed towards 0 and 1."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.02, 0.98, n)
    labels = (rng.uniform(size=n) < true).astype(int)
    logit = np.log(true / (1 - true))
    return 1 / (1 + np.exp(-3 * logit)), labels


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_cross_fitted_calibration_lowers_ece_of_an_overconfident_model(method):
    p_raw, labels = overconfident()
    after = cross_fitted(method, p_raw, labels)
    assert expected_calibration_error(labels, after) < 0.5 * expected_calibration_error(labels, p_raw)


def test_maps_are_monotone_and_round_trip(tmp_path):
    p_raw, labels = overconfident()
    grid = np.linspace(0.001, 0.999, 200)
    for method in ("platt", "isotonic"):
        calibration = Calibration.fit(method, p_raw, labels, version="v1")
        assert np.all(np.diff(calibration.apply(grid)) >= -1e-12)
        calibration.save(tmp_path / f"{method}.json")
        again = Calibration.load(tmp_path / f"{method}.json")
        assert again.version == "v1" and np.allclose(again.apply(grid), calibration.apply(grid))
    assert np.array_equal(Calibration("identity").apply(grid), grid)
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibration.fit("magic", p_raw, labels)


def test_manifest_entry_is_replaced_or_added_keeping_comments(tmp_path):
    manifest = tmp_path / "manifest.yaml"
    shutil.copy(PROJECT_ROOT / "models" / "manifest.yaml", manifest)
    comments = [line for line in manifest.read_text().splitlines() if line.strip().startswith("#")]
    block = """  - name: extra-calibration
    kind: calibration
    version: "1"
    licence: Apache-2.0
    files: []
"""
    upsert_entry_text(manifest, "extra-calibration", block)
    upsert_entry_text(manifest, "extra-calibration", block.replace('version: "1"', 'version: "2"'))
    names = [entry.name for entry in load_manifest(manifest).models]
    assert names.count("extra-calibration") == 1 and load_manifest(manifest).entry("extra-calibration").version == "2"
    assert [line for line in manifest.read_text().splitlines() if line.strip().startswith("#")] == comments
    with pytest.raises(ValueError):
        upsert_entry_text(manifest, "extra-calibration", "  - name: broken\n")


@pytest.mark.slow
def test_retrained_calibration_is_declared_used_and_reported(tmp_path, capsys):
    models = tmp_path / "models"
    shutil.copytree(PROJECT_ROOT / "models", models)
    data = tmp_path / "labels.csv"
    endings = ("", "！", "。")
    rows = [f"{t}{e},0" for t in POLITE for e in endings] + [f"{t}{e},1" for t in RUDE for e in endings]
    data.write_text("text,label\n" + "\n".join(f"{r}" for r in rows) + "\n", encoding="utf-8")

    before = QualityService(Settings(models_dir=models))
    args = argparse.Namespace(task="civility", data=data, text_col="text", label_col="label", method="platt",
                              models_dir=models, quiet=True)
    assert train_calibration.main(args, service=before) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["n"] == 48 and {"ece_before", "ece_after", "reliability_after"} <= set(report)

    after = QualityService(Settings(models_dir=models))
    entry = after.store.manifest.entry("civility-calibration")
    assert entry.version == report["version"]
    assert "civility-calibration" in {m.name for m in after.info().models}
    assert after.models_version != before.models_version
    assert f"+calibration.{report['version']}" in after.scorers["civility"].version
    context = after.score(Post(text=RUDE[0])).dimensions.civility.context
    assert context["offensive_probability"] != context["offensive_probability_uncalibrated"]
    calibrated = Calibration.load(models / "civility-e5" / "calibration.json")
    assert context["offensive_probability"] == pytest.approx(
        float(calibrated.apply(np.array([context["offensive_probability_uncalibrated"]]))[0]), abs=1e-5)
    assert (models / "civility-e5" / "calibration.md").is_file()
