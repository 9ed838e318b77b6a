"""`quality eval` on small labelled files the tests write: metrics, baselines, groups, bad rows."""

from __future__ import annotations

import json

import numpy as np
import pytest

from api.cli import main
from eval.data import LabelFileError, read_labelled
from eval.metrics import binary_metrics, expected_calibration_error, graded_metrics, pairwise_accuracy

POLITE = ["谢谢分享，很有帮助", "请问这个配置值得买吗？", "感谢楼主的详细说明", "我同意你的看法，补充一点",
          "恭喜提车，颜色很好看", "建议去店里试驾一下再决定", "辛苦了，学到了很多", "这个攻略写得很清楚"]
RUDE = ["你是不是傻逼", "脑残才买这车", "滚蛋吧你", "你这个智障", "垃圾人说垃圾话", "去死吧", "人渣一个", "白痴问题"]


def write_csv(path, rows, header="text,label,topic"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")


def test_metric_functions_on_known_values():
    labels = np.array([0, 0, 1, 1])
    assert binary_metrics(labels, np.array([0.1, 0.2, 0.8, 0.9]))["auc"] == 1.0
    assert binary_metrics(labels, np.array([0.9, 0.8, 0.2, 0.1]))["accuracy"] == 0.0
    assert expected_calibration_error(np.array([1, 1, 0, 0]), np.array([1.0, 1.0, 0.0, 0.0])) == 0.0
    assert graded_metrics(np.array([1, 2, 3, 4, 5]), np.array([0.1, 0.2, 0.3, 0.4, 0.5]))["spearman"] == pytest.approx(1.0)
    constant = graded_metrics(np.array([1, 2, 3, 4, 5]), np.full(5, 0.5))
    assert constant["spearman"] is None and constant["pearson"] is None and constant["kendall"] is None
    assert pairwise_accuracy(np.array([2.0, 1.0]), np.array([1.0, 2.0]))["pairwise_accuracy"] == 0.5


def test_eval_civility_prints_metrics_baselines_and_groups(tmp_path, capsys):
    rows = [f"{t},0,{'a' if i % 2 else 'b'}" for i, t in enumerate(POLITE)]
    rows += [f"{t},1,{'a' if i % 2 else 'b'}" for i, t in enumerate(RUDE)]
    rows += [",1,a", "重复的句子,0,a", "重复的句子,0,a", "标签坏了,maybe,a", "标签越界,3,b"]
    data = tmp_path / "labels.csv"
    write_csv(data, rows)
    assert main(["eval", "--task", "civility", "--data", str(data), "--group-col", "topic", "--quiet"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out.strip().splitlines()[-1])
    assert report["n"] == 17
    assert report["skipped"] == {"empty_text": 1, "duplicate": 1, "label_not_a_number": 1, "label_out_of_range": 1}
    assert report["model"]["auc"] > 0.9
    assert {"auc", "accuracy", "f1", "ece", "auc_ci95"} <= set(report["model"])
    assert set(report["baselines"]) == {"char_tfidf_lr_cv5", "lexicon"}
    assert [g["group"] for g in report["groups"]] and "by group" in captured.err


def test_label_file_problems_are_clear(tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    write_csv(missing, ["好,1"], header="body,label")
    with pytest.raises(LabelFileError, match="no column 'text'"):
        read_labelled(missing)
    assert main(["eval", "--task", "civility", "--data", str(missing), "--quiet"]) == 2
    assert "no column 'text'" in capsys.readouterr().err
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("text,label\ncaf\xe9,1\n".encode("latin-1"))
    with pytest.raises(LabelFileError, match="not UTF-8"):
        read_labelled(latin)


def test_eval_politeness_graded(tmp_path, capsys):
    data = tmp_path / "polite.csv"
    lines = [f"{t},{1.0 + i * 0.1}" for i, t in enumerate(POLITE)] + [f"{t},{-1.0 - i * 0.1}" for i, t in enumerate(RUDE)]
    write_csv(data, lines, header="Request,Normalized Score")
    assert main(["eval", "--task", "politeness", "--data", str(data), "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["model"]["spearman"] > 0.3 and "char_tfidf_lr_cv5" in report["baselines"]


def eval_with_report(tmp_path, capsys) -> tuple[dict, object]:
    """`quality eval --task civility --group-col topic --report DIR` on a small file with two mixed topics."""
    data = tmp_path / "labels.csv"
    write_csv(data, [f"{t},0,{'ab'[i % 2]}" for i, t in enumerate(POLITE)]
              + [f"{t},1,{'ab'[i % 2]}" for i, t in enumerate(RUDE)])
    out = tmp_path / "report"
    assert main(["eval", "--task", "civility", "--data", str(data), "--group-col", "topic", "--report", str(out),
                 "--quiet"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1]), out


def test_report_dir_holds_html_with_the_plots(tmp_path, capsys):
    report, out = eval_with_report(tmp_path, capsys)
    assert {"model", "uncalibrated"} <= set(report["reliability"]) and "ece_uncalibrated" in report["model"]
    assert {"roc", "pr", "confusion", "histograms", "errors"} <= set(report["diagnostics"])
    page = (out / "index.html").read_text(encoding="utf-8")
    for plot in ("roc", "pr", "reliability", "confusion", "histograms", "groups"):
        text = (out / f"{plot}.svg").read_text(encoding="utf-8")
        assert text.startswith("<svg") and "</svg>" in text, plot
        assert f'<figure id="{plot}">' in page
    assert "data:image/svg+xml;base64," in page
    assert "http" not in page  # nothing to fetch when opened (the SVG namespace is inside base64)


def test_an_interrupted_eval_resumes_where_it_stopped(tmp_path, service, monkeypatch):
    """Scoring is checkpointed batch by batch: after a crash, a rerun scores only the missing rows
    and gives the same report as an uninterrupted run."""
    import eval.run as run

    monkeypatch.setattr(run, "BATCH", 4)
    # The real key is tested below; here only where the file goes (the service's cache holds built models).
    keyed = run.checkpoint_path
    monkeypatch.setattr(run, "checkpoint_path", lambda svc, path, what: tmp_path / "cache" / "eval-checkpoints" /
                        keyed(svc, path, what).name)
    data = tmp_path / "labels.csv"
    write_csv(data, [f"{t},0,a" for t in POLITE] + [f"{t},1,b" for t in RUDE])
    calls = []
    real = run.score_each

    def crashing(svc, posts):
        calls.append(len(posts))
        if len(calls) == 3:
            raise KeyboardInterrupt("stopped by the operator")
        return real(svc, posts)

    monkeypatch.setattr(run, "score_each", crashing)
    with pytest.raises(KeyboardInterrupt):
        run.evaluate(service, "civility", data, quiet=True)
    assert list((tmp_path / "cache" / "eval-checkpoints").glob("*.jsonl"))
    calls.clear()
    resumed = run.evaluate(service, "civility", data, quiet=True)
    assert sum(calls) == 16 - 8  # two batches of four were already done
    monkeypatch.setattr(run, "score_each", real)
    fresh = run.evaluate(service, "civility", data, quiet=True)
    assert resumed["model"] == fresh["model"]
    assert not list((tmp_path / "cache" / "eval-checkpoints").glob("*.jsonl"))  # a finished run cleans up


def test_checkpoint_key_changes_with_anything_that_changes_the_scores(tmp_path, service, monkeypatch):
    from eval.checkpoint import checkpoint_path

    data = tmp_path / "labels.csv"
    write_csv(data, [f"{t},0,a" for t in POLITE])
    base = checkpoint_path(service, data, {"task": "civility"})
    assert checkpoint_path(service, data, {"task": "civility"}) == base
    assert checkpoint_path(service, data, {"task": "politeness"}) != base
    monkeypatch.setattr(service, "models_version", "another")
    assert checkpoint_path(service, data, {"task": "civility"}) != base
    monkeypatch.undo()
    write_csv(data, [f"{t},1,a" for t in POLITE])
    assert checkpoint_path(service, data, {"task": "civility"}) != base
