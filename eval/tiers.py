"""`quality eval --task tier`: suggested tiers against operators' past tier decisions.

    quality eval --task tier --data decisions.csv --activities export.jsonl

`decisions` (CSV or JSONL): one row per decision -- `member_id`, `as_of` (the date of the
decision: 2026-11-30, the end of that day in UTC+08:00, or a datetime with its offset), `tier`
(basic / advanced / core / leading, or 基础 / 进阶 / 核心 / 引领) and optionally `current_tier`
(the tier the member held then; without it the ladder is climbed from the history). The export
is what `quality members` reads: one activity per line with its `member_id`. Each decision is
compared with the tier the rubric suggests for that member as of that date: accuracy, quadratic
weighted kappa over the ordered tiers, per-tier precision and recall, and the confusion matrix.
`quality train tiers` fits the tier thresholds to the same files.
"""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import cohen_kappa_score, confusion_matrix

from eval.data import LabelFileError
from quality.members.dates import parse_as_of
from quality.members.export import Histories, score_unscored
from quality.members.history import History
from quality.members.tiers import TierJudge
from quality.rubric.config import Rubric
from quality.rubric.member_rules import TIER_LABELS, TIERS, TierRules

_BY_LABEL = {label: tier for tier, label in TIER_LABELS.items()}


@dataclass(frozen=True)
class Decision:
    member_id: str
    as_of: datetime
    tier: str
    current_tier: str | None


def _tier(value: str | None, row: int, column: str, *, required: bool) -> str | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise LabelFileError(f"row {row}: no {column}")
        return None
    value = _BY_LABEL.get(value, value.lower())
    if value not in TIERS:
        raise LabelFileError(f"row {row}: {column} {value!r} is not one of {', '.join(TIERS)} (or 基础/进阶/核心/引领)")
    return value


def _as_of(value: str, row: int) -> datetime:
    try:
        return parse_as_of(value)
    except ValueError as error:
        raise LabelFileError(f"row {row}: as_of: {error}") from None


def read_decisions(path: Path) -> list[Decision]:
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    decisions = []
    for number, row in enumerate(rows, 1):
        member = str(row.get("member_id") or "").strip()
        if not member:
            raise LabelFileError(f"row {number}: no member_id")
        decisions.append(Decision(member, _as_of(str(row.get("as_of") or ""), number),
                                  _tier(row.get("tier"), number, "tier", required=True),
                                  _tier(row.get("current_tier"), number, "current_tier", required=False)))
    if not decisions:
        raise LabelFileError(f"{path}: no decisions")
    return decisions


def read_histories(export: Path, rubric: Rubric, service_factory=None, quiet: bool = True) -> Histories:
    """The export's activities per member; content without a score scored by `service_factory()`."""
    histories = Histories(rubric)
    with open(export, "rb") as handle:
        histories.add_lines(handle)
    if histories.unscored:
        if service_factory is None:
            raise LabelFileError("the export has content without scores; score it first (quality score) or let "
                                 "the service score it")
        score_unscored(histories, service_factory())
    return histories


@dataclass
class Case:
    """One decision with its member's history, looked at by the tier rules (stages cached)."""

    decision: Decision
    judge: TierJudge

    def suggested(self, rules: TierRules) -> str:
        self.judge.rules = rules
        return self.judge.suggest(self.decision.as_of.timestamp(), self.decision.current_tier).tier


def cases(decisions: list[Decision], histories: Histories, rubric: Rubric) -> tuple[list[Case], int]:
    """A case per decision whose member is in the export; and how many were not."""
    built, missing = [], 0
    by_member: dict[str, History] = {}
    for decision in decisions:
        facts = histories.facts.get(decision.member_id)
        if facts is None:
            missing += 1
            continue
        history = by_member.setdefault(decision.member_id, History(facts, rubric.members))
        built.append(Case(decision, TierJudge(history, rubric.tiers, decision.as_of.utcoffset().total_seconds())))
    return built, missing


def agreement(decided: list[str], suggested: list[str]) -> dict:
    truth = np.array([TIERS.index(t) for t in decided])
    guess = np.array([TIERS.index(t) for t in suggested])
    levels = list(range(len(TIERS)))
    matrix = confusion_matrix(truth, guess, labels=levels)
    per_tier = {}
    for i, tier in enumerate(TIERS):
        support, predicted = int(matrix[i].sum()), int(matrix[:, i].sum())
        per_tier[tier] = {"support": support, "suggested": predicted,
                          "recall": round(matrix[i, i] / support, 4) if support else None,
                          "precision": round(matrix[i, i] / predicted, 4) if predicted else None}
    qwk = (float(cohen_kappa_score(truth, guess, labels=levels, weights="quadratic"))
           if len(set(truth) | set(guess)) > 1 else None)
    return {"n": int(len(truth)), "accuracy": round(float(np.mean(truth == guess)), 4),
            "qwk": None if qwk is None else round(qwk, 4),
            "within_one_tier": round(float(np.mean(np.abs(truth - guess) <= 1)), 4),
            "per_tier": per_tier,
            "confusion": {"labels": list(TIERS), "rows_decided_columns_suggested": matrix.tolist()}}


def evaluate_tiers(decisions_path: Path, export: Path, rubric: Rubric, service_factory=None) -> dict:
    decisions = read_decisions(decisions_path)
    histories = read_histories(export, rubric, service_factory)
    built, missing = cases(decisions, histories, rubric)
    if not built:
        raise LabelFileError("no decision names a member of the export")
    result = agreement([c.decision.tier for c in built], [c.suggested(rubric.tiers) for c in built])
    return {"task": "tier", "data": str(decisions_path), "activities": str(export), "rubric": rubric.version,
            "members_missing_from_export": missing, **result}


def print_tier_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    print(f"tier decisions: {report['n']} (rubric {report['rubric']}); accuracy {report['accuracy']}, "
          f"QWK {report['qwk']}, within one tier {report['within_one_tier']}", file=stream)
    print("decided \\ suggested  " + "  ".join(f"{t:>8}" for t in TIERS), file=stream)
    for tier, row in zip(TIERS, report["confusion"]["rows_decided_columns_suggested"]):
        print(f"{tier:>19}  " + "  ".join(f"{v:>8}" for v in row), file=stream)
