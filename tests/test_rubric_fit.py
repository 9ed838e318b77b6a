"""Graded posts: `quality eval --task audition` on whole posts, and `quality train rubric`.

The graded files are written here from templates whose quality is controlled: long, structured
posts with figures and units are graded high, one-liners and vague posts low; some carry a
generated photo. Every post is scored with the session's service (one more is built, to load a
fitted rubric through the settings).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from datetime import date

import numpy as np
import pytest
import yaml

from api.cli import build_parser, main
from eval.run import main_eval
from quality.rubric import load_rubric
from quality.rubric.config import Bands
from quality.rubric.fit import AuditionTerms, audition_terms, fit_bands, fit_weights, rubric_weights, term_row
from quality.rubric.fitted import fitted_version, rounded_shares
from quality.schemas import Post
from quality.service import QualityService
from quality.settings import Settings
from train import rubric as train_rubric
from tests.conftest import encode_image, synthetic_photo

CARS = ["思域", "凯美瑞", "Model 3", "汉EV", "途观L", "宝马3系", "小鹏P7", "雅阁", "秦PLUS", "理想L7", "轩逸", "卡罗拉"]

TEMPLATES = {
    5: ("{car}提车{m}个月{km}公里的真实感受",
        "首先说结论：{car}开了{km}公里，高速油耗{fuel}L，市区{city}L。其次，空间够一家三口用，后备箱放得下两个28寸箱子。"
        "第三，保养一次{cost}元，4S店首保免费。缺点是胎噪偏大，{speed}km/h以上明显，建议换静音胎。"
        "总结：{car}适合家用通勤，预算{budget}万左右可以考虑。"),
    4: ("{car}用车{m}个月小结",
        "我的{car}开了{km}公里，平均油耗{fuel}L，保养一次{cost}元。空间够用，就是胎噪有点大，建议试驾时上高速听听。"),
    3: ("{car}开了一段时间",
        "{car}开了{m}个月，整体还行，油耗{fuel}L左右，没什么大毛病。"),
    2: ("{car}",
        "{car}还可以吧，感觉一般般，看个人喜好。"),
    1: ("",
        "{car}好"),
}
TO_100 = {5: 86, 4: 70, 3: 52, 2: 33, 1: 14}


def graded_posts(n_per_grade: int = 12, photo_every: int | None = 6) -> list[dict]:
    """n_per_grade posts per grade 5 to 1, all different; every `photo_every`-th has a photo."""
    posts = []
    for grade, (title, text) in TEMPLATES.items():
        for i in range(n_per_grade):
            values = {"car": CARS[i % len(CARS)], "m": 2 + i, "km": 1000 * (3 + i), "fuel": f"{5.5 + i / 10:.1f}",
                      "city": f"{7.5 + i / 10:.1f}", "cost": 400 + 20 * i, "speed": 90 + 5 * (i % 4),
                      "budget": 15 + i}
            posts.append({"title": title.format(**values), "text": text.format(**values) + "。" * (i // len(CARS)),
                          "grade": grade, "photo": photo_every is not None and i % photo_every == 0})
    return posts


def write_photos(folder, posts: list[dict]) -> list[str]:
    """One generated photo file per post that has one; the paths as a data file names them."""
    (folder / "photos").mkdir(exist_ok=True)
    paths = []
    for index, post in enumerate(posts):
        path = ""
        if post["photo"]:
            path = f"photos/p{index}.jpg"
            (folder / path).write_bytes(encode_image(synthetic_photo(320, 240, seed=index), quality=85))
        paths.append(path)
    return paths


def write_graded_csv(path, posts: list[dict], grade=lambda g: g, extra_rows=()) -> None:
    photos = write_photos(path.parent, posts)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "text", "photos", "grade"])
        for post, photo in zip(posts, photos):
            writer.writerow([post["title"], post["text"], photo, grade(post["grade"])])
        writer.writerows(extra_rows)


def run_eval(service, capsys, argv: list[str]) -> dict:
    assert main_eval(service, build_parser().parse_args(["eval", "--task", "audition", "--quiet", *argv])) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def run_train(service, argv: list[str]) -> int:
    return train_rubric.main(build_parser().parse_args(["train", "rubric", "--quiet", *argv]), service=service)


@pytest.fixture(scope="module")
def graded_file(tmp_path_factory):
    """60 posts graded 1-5 (10 with a photo) and three bad rows."""
    path = tmp_path_factory.mktemp("graded") / "graded.csv"
    write_graded_csv(path, graded_posts(), extra_rows=[["标题", "评分不是数字", "", "好"], ["", "", "", "3"],
                                                       ["标题", "评分越界", "", "0"]])
    return path


def test_audition_eval_on_graded_posts_1_to_5(service, graded_file, capsys):
    report = run_eval(service, capsys, ["--data", str(graded_file), "--title-col", "title", "--image-col", "photos",
                                        "--label-col", "grade"])
    assert report["grade_scale"] == "1-5" and report["n"] == 60
    assert report["skipped"] == {"label_not_a_number": 1, "empty_text": 1, "label_out_of_range": 1}
    assert {"spearman", "pearson", "kendall", "qwk", "qwk_bands"} <= set(report["model"])
    assert report["model"]["spearman"] > 0.5


def test_audition_eval_on_0_to_100_grades_reports_band_qwk(service, tmp_path, capsys):
    posts = graded_posts(n_per_grade=6, photo_every=6)
    photos = write_photos(tmp_path, posts)
    rows = [{"title": p["title"], "text": p["text"], "photos": [photo] if photo else [], "grade": TO_100[p["grade"]] + i % 5}
            for i, (p, photo) in enumerate(zip(posts, photos))]
    rows += [{"text": "评分越界", "grade": 250}, {"text": "图片列不是列表", "photos": 3, "grade": 50}]
    data = tmp_path / "graded.jsonl"
    data.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    report = run_eval(service, capsys, ["--data", str(data), "--title-col", "title", "--image-col", "photos",
                                        "--label-col", "grade"])
    assert report["grade_scale"] == "0-100" and report["n"] == 30
    assert report["skipped"] == {"label_out_of_range": 1, "bad_image_list": 1}
    assert "qwk_bands" in report["model"] and "qwk" not in report["model"]
    assert "qwk_bands" in report["baselines"]["char_tfidf_lr_cv5"]


def test_terms_are_those_the_service_gives_audition(service, photo_b64):
    """The fit's vectorised audition equals the service's: missing dimensions, effort, penalties."""
    posts = [Post(text="首先说结论：油耗6.2L。其次，空间够用，后备箱放得下两个28寸箱子。缺点是胎噪大。"),
             Post(title="夜景", images=[{"data": photo_b64}]),
             Post(title="对比", text="两张一样的照片", images=[{"data": photo_b64}, {"data": photo_b64}]),
             Post(text="你是不是傻逼，这车就是垃圾"),
             Post(text="好")]
    results = service.score_batch(posts, batch_field=None)
    terms = audition_terms([term_row(post, result, service.rubric) for post, result in zip(posts, results)],
                           service.rubric)
    assert "duplicate_image" in results[2].flags and terms.penalty[2] > 0
    assert np.isnan(terms.values[0, terms.names.index("composition")])
    assert terms.scores(rubric_weights(service.rubric)) == pytest.approx([r.audition.score for r in results], abs=1e-3)


def test_fit_weights_recovers_the_weights_behind_the_grades():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, (300, 4))
    values[rng.uniform(size=300) < 0.6, 2] = np.nan  # a dimension most posts do not have
    terms = AuditionTerms(("clarity", "helpfulness", "composition", "effort"), values, np.zeros(300))
    truth = np.array([0.2, 0.5, 0.25, 0.05])
    grades = terms.scores(truth) / 20 + rng.normal(0, 0.1, 300)  # another scale: only the ranking carries over
    fitted = fit_weights(terms, grades, np.full(4, 0.25))
    assert fitted.sum() == pytest.approx(1.0) and (fitted >= 0).all()
    assert fitted == pytest.approx(truth, abs=0.03)


def test_fit_bands_gives_each_band_the_people_s_share():
    scores = np.linspace(0, 100, 100)
    human_bands = np.repeat([0, 1, 2, 3], [40, 30, 20, 10])
    bands = fit_bands(scores, human_bands)
    counts = np.bincount(np.searchsorted([bands.ordinary, bands.promising, bands.featured], scores, side="right"))
    assert counts.tolist() == [40, 30, 20, 10]
    no_featured = fit_bands(scores * 0.9, np.repeat([0, 1, 2], [50, 30, 20]))  # nobody graded a post 5
    assert isinstance(no_featured, Bands) and no_featured.featured > 90


def test_fitted_versions_and_shares_for_the_file():
    assert fitted_version("1.0.0", date(2026, 2, 3)) == "1.0.0+fit.20260203"
    assert fitted_version("1.0.0+fit.20260101", date(2026, 2, 3)) == "1.0.0+fit.20260203"
    shares = rounded_shares(np.array([1, 1, 1]) / 3)
    assert shares == [0.3334, 0.3333, 0.3333] and sum(shares) == pytest.approx(1.0, abs=1e-12)


@pytest.fixture(scope="module")
def fitted(service, graded_file):
    out = graded_file.parent / "fitted" / "community.yaml"
    code = run_train(service, ["--data", str(graded_file), "--title-col", "title", "--image-col", "photos",
                               "--label-col", "grade", "--out", str(out), "--fit-bands"])
    return code, out


def test_train_rubric_writes_a_loadable_rubric_and_a_held_out_report(service, graded_file, fitted):
    code, out = fitted
    assert code == 0
    rubric = load_rubric(out)
    assert re.fullmatch(re.escape(service.rubric.version) + r"\+fit\.\d{8}", rubric.version)
    shares = [*rubric.audition.weights.values(), rubric.audition.effort.weight]
    assert set(rubric.audition.weights) == set(service.rubric.audition.weights)
    assert min(shares) >= 0 and sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert rubric.reasons == service.rubric.reasons and rubric.civility_signal == service.rubric.civility_signal
    header = out.read_text(encoding="utf-8").split("\nversion:")[0]
    assert "graded.csv" in header and hashlib.sha256(graded_file.read_bytes()).hexdigest() in header

    report = json.loads(out.with_suffix(".fit.json").read_text(encoding="utf-8"))
    assert report["data"]["rows"] == 60 and report["data"]["grade_scale"] == "1-5"
    assert report["rubric"]["to"]["version"] == rubric.version and report["rubric"]["to"]["sha256"] == rubric.sha256
    assert report["present"]["composition"] == 10
    for name in ("current", "fitted"):
        held_out = report["cross_validation"][name]
        assert {"spearman", "spearman_fold_mean", "qwk", "qwk_bands"} <= set(held_out)
        assert len(held_out["spearman_by_fold"]) == 5
    assert report["bands"]["fitted"] == rubric.audition.bands.model_dump()


def test_a_fitted_rubric_is_used_through_the_settings(service, fitted):
    _, out = fitted
    result = QualityService(Settings(rubric_path=out)).score(Post(text="保养周期看手册，一般5000公里一次。"))
    assert result.versions.rubric == load_rubric(out).version != service.rubric.version
    assert result.versions.rubric_sha256 != service.rubric.sha256


def test_train_rubric_refuses_what_it_cannot_fit(service, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("quality.service.QualityService", lambda settings: service)  # the CLI path, no new service
    few = tmp_path / "few.csv"
    write_graded_csv(few, graded_posts(n_per_grade=2, photo_every=None))
    assert main(["train", "rubric", "--data", str(few), "--label-col", "grade", "--out", str(tmp_path / "r.yaml")]) == 2
    assert "needs at least 20 usable graded posts, found 10" in capsys.readouterr().err

    one_grade = tmp_path / "one_grade.csv"
    write_graded_csv(one_grade, [post for post in graded_posts(25, photo_every=None) if post["grade"] == 3])
    assert run_train(service, ["--data", str(one_grade), "--label-col", "grade", "--out", str(tmp_path / "r.yaml")]) == 2
    assert "nothing to fit" in capsys.readouterr().err

    graded = tmp_path / "graded.csv"
    write_graded_csv(graded, graded_posts(n_per_grade=5, photo_every=None), grade=TO_100.get)
    assert run_train(service, ["--data", str(graded), "--label-col", "grade", "--fit-bands",
                               "--out", str(tmp_path / "r.yaml")]) == 2
    assert "--fit-bands needs 1-5 grades" in capsys.readouterr().err
    packaged = service.settings.rubric_path
    before = packaged.read_bytes()
    assert run_train(service, ["--data", str(graded), "--label-col", "grade", "--out", str(packaged)]) == 2
    assert "pass --force" in capsys.readouterr().err and packaged.read_bytes() == before
    assert not (tmp_path / "r.yaml").exists()
