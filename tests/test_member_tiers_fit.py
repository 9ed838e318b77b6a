"""`quality eval --task tier` and `quality train tiers` on decisions made by a hidden set of rules.

No operator decisions exist here, so the machinery is checked on decisions the test makes: an
"operator" who applies other thresholds than the rubric's (fewer posts for core, more active days
for advanced). Evaluating the packaged rubric against them shows the disagreement; fitting on them
must recover rules that agree better on members held out of the fit.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from api.cli import main as quality
from eval.tiers import cases, read_decisions, read_histories
from quality.rubric.config import load_rubric
from quality.rubric.member_rules import TierRules

ROOT = Path(__file__).resolve().parents[1]
RUBRIC = load_rubric(ROOT / "quality" / "rubric" / "rubric.yaml")
CST = timezone(timedelta(hours=8))
AS_OF = datetime(2026, 11, 30, 23, 59, 59, tzinfo=CST)


def hidden_rules() -> TierRules:
    data = RUBRIC.tiers.model_dump()
    for tier, code, value in (("advanced", "active_days", 30), ("core", "posts", 4),
                              ("core", "audition", 52), ("core", "likes", 5)):
        for requirement in data[tier]["requirements"]:
            if requirement["code"] == code:
                requirement["at_least"] = value
    return TierRules.model_validate(data)


def member_lines(member: str, rng: random.Random) -> list[dict]:
    days_active = rng.randint(2, 80)
    posts = rng.randint(0, 14)
    quality = rng.uniform(40, 80)
    replies = rng.randint(0, 20)
    uncivil = rng.random() < 0.15
    lines = [{"id": f"v{d}", "at": (AS_OF - timedelta(days=d * 100 / days_active, hours=2)).isoformat(), "kind": "vote"}
             for d in range(days_active)]
    for i in range(posts):
        audition = max(0.0, min(100.0, rng.gauss(quality, 6)))
        band = "featured" if audition >= 75 else "promising" if audition >= 60 else "ordinary" if audition >= 40 else "low"
        lines.append({"id": f"p{i}", "at": (AS_OF - timedelta(days=3 + 9 * i)).isoformat(), "kind": "post",
                      "score": {"audition": {"score": round(audition, 2), "band": band},
                                "civility_signal": {"score": 0.5, "label": "neutral"},
                                "post_kind": {"label": "showcase", "scores": {"showcase": 0.9}}}})
    for i in range(replies):
        label = "uncivil" if uncivil and i % 3 == 0 else "constructive"
        lines.append({"id": f"r{i}", "at": (AS_OF - timedelta(days=1 + 4 * i)).isoformat(), "kind": "reply",
                      "score": {"audition": {"score": 50, "band": "ordinary"},
                                "civility_signal": {"score": 0.9 if label == "constructive" else 0.1,
                                                    "label": label}}})
    for i in range(rng.randint(0, 25)):
        lines.append({"id": f"l{i}", "at": (AS_OF - timedelta(days=2 + 3 * i)).isoformat(),
                      "kind": "like_received", "other_member": f"reader-{i}"})
    return [dict(line, member_id=member) for line in lines]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """An export of 240 members and one decision each, made with the hidden rules."""
    folder = tmp_path_factory.mktemp("tiers")
    rng = random.Random(7)
    export, decisions = folder / "export.jsonl", folder / "decisions.csv"
    with open(export, "w", encoding="utf-8") as handle:
        for m in range(240):
            handle.writelines(json.dumps(line, ensure_ascii=False) + "\n" for line in member_lines(f"m{m:03d}", rng))
    # Each member's held tier is what the hidden rules climb to a month earlier; the decision is
    # the hidden rules' next look from there.
    rows = [{"member_id": f"m{m:03d}", "as_of": AS_OF.isoformat(), "tier": "basic", "current_tier": "basic"}
            for m in range(240)]
    with open(decisions, "w", encoding="utf-8") as handle:
        handle.write("member_id,as_of,tier,current_tier\n")
        handle.writelines(f"{r['member_id']},{r['as_of']},{r['tier']},{r['current_tier']}\n" for r in rows)
    histories = read_histories(export, RUBRIC)
    built, _ = cases(read_decisions(decisions), histories, RUBRIC)
    hidden = hidden_rules()
    lines = ["member_id,as_of,tier,current_tier\n"]
    for case in built:
        case.judge.rules = hidden
        held = case.judge.suggest(AS_OF.timestamp() - 30 * 86400, None).tier
        decided = case.judge.step(held, AS_OF.timestamp()).tier
        lines.append(f"{case.decision.member_id},{AS_OF.isoformat()},{decided},{held}\n")
    decisions.write_text("".join(lines), encoding="utf-8")
    return export, decisions


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_eval_tier_reports_agreement_with_a_confusion_matrix(files, capsys):
    export, decisions = files
    assert quality(["eval", "--task", "tier", "--data", str(decisions), "--activities", str(export)]) == 0
    report = _last_json(capsys)
    assert report["task"] == "tier" and report["n"] == 240
    matrix = report["confusion"]["rows_decided_columns_suggested"]
    assert sum(map(sum, matrix)) == 240 and report["confusion"]["labels"] == ["basic", "advanced", "core", "leading"]
    assert sum(matrix[i][i] for i in range(4)) / 240 == pytest.approx(report["accuracy"], abs=1e-4)
    assert 0 < report["accuracy"] < 1  # the packaged rubric is not the operator's
    assert {t: row["support"] for t, row in report["per_tier"].items()}["basic"] > 0


def test_train_tiers_recovers_the_operator_s_rules_on_held_out_members(files, capsys, tmp_path, monkeypatch):
    export, decisions = files
    out = tmp_path / "rubric.tiers.yaml"
    assert quality(["train", "tiers", "--data", str(decisions), "--activities", str(export), "--out", str(out),
                    "--holdout", "0.3"]) == 0
    report = _last_json(capsys)
    held = report["held_out_agreement"]
    assert report["held_out"] >= 50
    assert held["fitted"]["qwk"] > held["current"]["qwk"]
    assert held["fitted"]["accuracy"] >= max(0.9, held["current"]["accuracy"] + 0.05), held
    fitted = load_rubric(out)
    assert fitted.version.startswith(RUBRIC.version.split("+")[0] + "+fit.")
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["civility_signal"] == yaml.safe_load(
        (ROOT / "quality" / "rubric" / "rubric.yaml").read_text(encoding="utf-8"))["civility_signal"]
    # The eval of the fitted rubric (as the service would load it) agrees as well as the fit says.
    monkeypatch.setenv("QUALITY_RUBRIC_PATH", str(out))
    assert quality(["eval", "--task", "tier", "--data", str(decisions), "--activities", str(export)]) == 0
    assert _last_json(capsys)["accuracy"] >= 0.9


def test_bad_decision_files_are_refused_clearly(files, tmp_path, capsys):
    export, _ = files
    bad = tmp_path / "bad.csv"
    bad.write_text("member_id,as_of,tier\nm001,2026-11-30,platinum\n", encoding="utf-8")
    assert quality(["eval", "--task", "tier", "--data", str(bad), "--activities", str(export)]) == 2
    assert "platinum" in capsys.readouterr().err
    assert quality(["eval", "--task", "tier", "--data", str(bad)]) == 2
    assert "--activities" in capsys.readouterr().err
    naive = tmp_path / "naive.csv"
    naive.write_text("member_id,as_of,tier\nm001,2026-11-30T10:00:00,core\n", encoding="utf-8")
    assert quality(["eval", "--task", "tier", "--data", str(naive), "--activities", str(export)]) == 2
    assert "UTC offset" in capsys.readouterr().err
