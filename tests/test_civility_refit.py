"""`quality train civility-head`: the head refitted on a community's own labels learns its new words,
keeps what it knew, is written as a new versioned model, and `quality eval` compares old and new
on the held-out part."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

from eval.data import read_labelled, split_holdout
from eval.run import evaluate
from quality.schemas import Post
from quality.service import QualityService
from quality.settings import Settings
from train import civility_refit
from tests.test_eval import POLITE, RUDE

SUBJECTS = ["这车", "你", "楼主", "这个配置", "他家售后", "你的车", "这种开法", "你这发言", "这帖子", "你的审美"]
BODIES = ["油耗还可以", "上周刚提", "后排空间挺大", "保养一次八百", "高速上很稳", "底盘有点硬", "冬天续航掉得厉害",
          "内饰做工一般", "车机反应慢", "隔音还不错"]
# A made-up community insult the shipped model has never seen.
SLANG = ["蓝鲸油一个", "真是蓝鲸油", "典型蓝鲸油", "别装了蓝鲸油", "蓝鲸油闭嘴吧"]


def write_rows(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("refit")
    rows = []
    for i, subject in enumerate(SUBJECTS):
        for j, body in enumerate(BODIES):
            rows += [(f"{subject}{body}", 0), (f"{subject}{body}，{SLANG[(i + j) % len(SLANG)]}", 1)]
    endings = ("", "！", "。", "？")
    replay = [(f"{t}{e}", 1, "x") for t in RUDE[:5] for e in endings] + \
             [(f"{t}{e}", 0, "x") for t in POLITE[:5] for e in endings]
    check = [(t, 1, "x") for t in RUDE[5:]] + [(t, 0, "x") for t in POLITE[5:]]
    return {"labels": write_rows(folder / "labels.csv", ["text", "label"], rows),
            "replay": write_rows(folder / "replay.csv", ["TEXT", "label", "topic"], replay),
            "check": write_rows(folder / "check.csv", ["TEXT", "label", "topic"], check),
            "folder": folder}


def arguments(files, out, **overrides):
    values = dict(data=files["labels"], text_col="text", label_col="label", holdout=0.3, models_dir=None,
                  out_models_dir=out, replay=files["replay"], replay_rows=3000, no_replay=False,
                  check=files["check"], check_rows=1000, quiet=True)
    values.update(overrides)
    return argparse.Namespace(**values)


def p_offensive(service: QualityService, text: str) -> float:
    return service.score(Post(text=text)).dimensions.civility.context["offensive_probability"]


@pytest.fixture(scope="module")
def refitted(service, files):
    out = files["folder"] / "models.new"
    capture = files["folder"] / "stdout.json"
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = civility_refit.main(arguments(files, out), service=service)
    capture.write_text(buffer.getvalue(), encoding="utf-8")
    assert code == 0
    return out, json.loads(buffer.getvalue().strip().splitlines()[-1])


@pytest.mark.slow
def test_refit_learns_the_new_word_on_held_out_rows_and_keeps_what_it_knew(service, refitted):
    out, report = refitted
    held = report["held_out"]
    assert held["new"]["auc"] >= 0.95 and held["new"]["auc"] > held["old"]["auc"] + 0.3
    assert held["auc_change_ci95"][0] > 0
    new = QualityService(Settings(models_dir=out))
    assert p_offensive(service, "你就是个蓝鲸油") < 0.2 < 0.5 < p_offensive(new, "你就是个蓝鲸油")
    # Insults it knew from COLD and that are in neither the fit rows nor the replay rows.
    assert np.mean([p_offensive(new, text) for text in RUDE[5:]]) > 0.5
    assert np.mean([p_offensive(new, text) for text in POLITE[5:]]) < 0.2
    assert report["original_task_check"]["new"]["n"] == len(RUDE[5:]) + len(POLITE[5:])


@pytest.mark.slow
def test_refit_is_a_new_versioned_model_that_the_service_loads_and_reports(service, refitted):
    out, report = refitted
    new = QualityService(Settings(models_dir=out))
    entry = new.store.manifest.entry("civility-e5")
    assert entry.version == report["version"] != report["previous_version"]
    assert entry.card == "civility-e5/REFIT.md" and (out / "civility-e5" / "REFIT.md").is_file()
    assert new.store.manifest.entry("civility-calibration").version == f"{report['version']}-identity"
    # identity calibration: no calibration suffix; the reply heads' version follows
    assert new.scorers["civility"].version.split("+replies.")[0] == report["version"]
    assert new.models_version != service.models_version
    assert report["version"] in {m.version for m in new.info().models}
    # The original models folder is untouched.
    assert service.store.manifest.entry("civility-e5").version == report["previous_version"]


@pytest.mark.slow
def test_eval_compares_old_and_new_on_the_same_held_out_rows(service, files, refitted):
    out, report = refitted
    new = QualityService(Settings(models_dir=out))
    result = evaluate(new, "civility", files["labels"], holdout=0.3, compare_service=service, quiet=True)
    assert result["n"] == report["held_out_rows"] == result["compare"]["n"]
    assert result["model"]["auc"] == pytest.approx(report["held_out"]["new"]["auc"], abs=1e-3)
    assert result["compare"]["model"]["auc"] == pytest.approx(report["held_out"]["old"]["auc"], abs=1e-3)
    assert result["compare"]["auc_change_ci95"][0] > 0


def test_holdout_split_is_by_content_not_row_order(files, tmp_path):
    data = read_labelled(files["labels"])
    fit, held = split_holdout(data, 0.3)
    assert 0.15 < len(held.rows) / len(data.rows) < 0.45 and len(fit.rows) + len(held.rows) == len(data.rows)
    with open(files["labels"], encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([lines[0], *reversed(lines[1:])]) + "\n", encoding="utf-8")
    again = split_holdout(read_labelled(shuffled), 0.3)[1]
    assert sorted(r.text for r in again.rows) == sorted(r.text for r in held.rows)


def test_refit_refuses_too_few_rows_and_an_existing_output_folder(service, files, tmp_path, capsys):
    small = write_rows(tmp_path / "small.csv", ["text", "label"], [("好帖", 0), ("蓝鲸油", 1)] * 3)
    assert civility_refit.main(arguments(files, tmp_path / "x", data=small), service=service) == 2
    assert "need at least" in capsys.readouterr().err
    (tmp_path / "exists").mkdir()
    assert civility_refit.main(arguments(files, tmp_path / "exists", replay_rows=10, check_rows=10),
                               service=service) == 2
    assert "exists" in capsys.readouterr().err
