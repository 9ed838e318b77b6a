"""The `quality` command line: score files in order with progress, list models, refuse unsafe serving."""

from __future__ import annotations

import json

import pytest

from api.cli import main
from tests.conftest import b64, encode_image, synthetic_photo


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


@pytest.mark.slow
def test_score_1000_posts_in_order_with_progress(tmp_path, capsys):
    rows = [{"id": f"post-{i}", "text": f"第{i}次保养：机油{4 + i % 3}升，跑了{1000 + i}公里，建议按手册来。"} for i in range(1000)]
    source, target = tmp_path / "posts.jsonl", tmp_path / "scores.jsonl"
    write_jsonl(source, rows)
    assert main(["score", str(source), "-o", str(target)]) == 0
    results = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in results] == [r["id"] for r in rows]
    assert all(0 <= r["audition"]["score"] <= 100 for r in results)
    stderr = capsys.readouterr().err
    assert "1000/1000" in stderr and "scored 1000 posts, 0 failed" in stderr


def test_bad_rows_fail_in_place(tmp_path, capsys):
    photo = b64(encode_image(synthetic_photo(), quality=85))
    source, target = tmp_path / "posts.jsonl", tmp_path / "scores.jsonl"
    source.write_text(
        json.dumps({"id": "a", "text": "保养周期看手册"}) + "\n"
        + "{not json\n"
        + json.dumps({"id": "c", "text": ""}) + "\n"
        + json.dumps({"id": "d", "text": "夜景", "images": [{"data": photo}]}) + "\n",
        encoding="utf-8",
    )
    assert main(["score", str(source), "-o", str(target), "--quiet"]) == 0
    results = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r.get("id") for r in results] == ["a", None, "c", "d"]
    assert "error" not in results[0] and "error" not in results[3]
    assert results[1]["error"]["code"] == "invalid_input" and "line 2" in results[1]["error"]["message"]
    assert results[2]["error"]["code"] == "empty_post"
    assert "2 failed" in capsys.readouterr().err
    assert main(["score", str(source), "-o", str(target), "--quiet", "--fail-on-error"]) == 1


def test_csv_input(tmp_path):
    source, target = tmp_path / "posts.csv", tmp_path / "scores.jsonl"
    source.write_text("id,text,kind\nx1,提车一个月，油耗6.5L,post\nx2,谢谢分享，学到了,post\n", encoding="utf-8")
    assert main(["score", str(source), "-o", str(target), "--quiet"]) == 0
    assert [json.loads(line)["id"] for line in target.read_text(encoding="utf-8").splitlines()] == ["x1", "x2"]


def test_models_lists_every_manifest_entry(capsys, service):
    assert main(["models", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in listed] == [m.name for m in service.store.manifest.models]
    assert all(m["licence"] and m["version"] for m in listed)
    assert main(["models"]) == 0
    assert "checksums verified: True" in capsys.readouterr().out


def test_missing_input_file(capsys, tmp_path):
    assert main(["score", str(tmp_path / "nope.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_serve_refuses_a_public_address(capsys, monkeypatch):
    monkeypatch.delenv("QUALITY_API_KEYS", raising=False)
    monkeypatch.delenv("QUALITY_OPEN_ACCESS", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "refusing to bind" in capsys.readouterr().err
    monkeypatch.setenv("QUALITY_OPEN_ACCESS", "true")  # served to anyone: then the address budget must parse
    monkeypatch.setenv("QUALITY_ADDRESS_LIMITS", "rate=fast")
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "QUALITY_ADDRESS_LIMITS" in capsys.readouterr().err
