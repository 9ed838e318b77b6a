"""`quality train tiers`: fit the tier requirements' thresholds to operators' past decisions.

    quality train tiers --data decisions.csv --activities export.jsonl [--out rubric.tiers.yaml]

The files are `quality eval --task tier`'s. Members are split by a hash of their id into a fitting
part and a held-out part (`--holdout`, default 0.2). On the fitting part, each threshold in turn
is set to the value, among its figure's quantiles across the members, that gives the best
quadratic weighted kappa with the decisions (ties: accuracy, then the current value), keeping a
figure's thresholds in ladder order (advanced <= core <= leading for "at least"); three rounds.
The held-out part then compares the current and the fitted thresholds. Writes a new rubric (a
copy of the one in use with the new thresholds and version) and `<out>.fit.json` beside it; the
rubric in use is never replaced without --force. Only the options are read at import.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_OUT = Path("rubric.tiers.yaml")
ROUNDS = 3
QUANTILES = 21  # candidate thresholds per requirement: the figure's 0, 5, ..., 100 % quantiles
MIN_DECISIONS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="decisions: member_id, as_of, tier[, current_tier]")
    parser.add_argument("--activities", type=Path, required=True,
                        help="the community export (one activity per line with member_id)")
    parser.add_argument("--holdout", type=float, default=0.2, help="share of members held out (by a hash of the id)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the new rubric (default ./{DEFAULT_OUT})")
    parser.add_argument("--version", default=None, help="version of the new rubric (default <current>+fit.<YYYYMMDD>)")
    parser.add_argument("--force", action="store_true", help="let --out replace the rubric in use or the packaged one")


def _held_out(member_id: str, share: float) -> bool:
    import hashlib

    return int(hashlib.sha256(member_id.encode()).hexdigest(), 16) % 1000 < share * 1000


def _objective(cases, rules) -> tuple[float, float]:
    from eval.tiers import agreement

    result = agreement([c.decision.tier for c in cases], [c.suggested(rules) for c in cases])
    return (result["qwk"] if result["qwk"] is not None else -1.0), result["accuracy"]


def _with_threshold(rules, tier: str, code: str, value: float):
    from quality.rubric.member_rules import TierRules

    data = rules.model_dump()
    for requirement in data[tier]["requirements"]:
        if requirement["code"] == code:
            requirement["at_least" if requirement["at_least"] is not None else "at_most"] = value
    return TierRules.model_validate(data)


def _bounds(rules, tier: str, requirement) -> tuple[float, float]:
    """The range a threshold may take so a figure's thresholds stay in ladder order."""
    from quality.rubric.member_rules import TIERS

    low, high = -float("inf"), float("inf")
    rank = TIERS.index(tier)
    for other in TIERS[1:]:
        if other == tier:
            continue
        for r in rules.rule(other).requirements:
            if r.figure != requirement.figure or (r.at_least is None) != (requirement.at_least is None):
                continue
            below = TIERS.index(other) < rank
            harder_is_higher = requirement.at_least is not None
            if below == harder_is_higher:
                low = max(low, r.required)
            else:
                high = min(high, r.required)
    return low, high


def fit_thresholds(cases, rules):
    import numpy as np

    from quality.members.tiers import requirement_value
    from quality.rubric.member_rules import TIERS

    best = _objective(cases, rules)
    for _ in range(ROUNDS):
        improved = False
        for tier in TIERS[1:]:
            for requirement in rules.rule(tier).requirements:
                values = np.array([requirement_value(c.judge.stages(c.decision.as_of.timestamp()), requirement)
                                   for c in cases])
                low, high = _bounds(rules, tier, requirement)
                candidates = sorted({round(float(v), 4) for v in np.quantile(values, np.linspace(0, 1, QUANTILES))}
                                    | {requirement.required})
                current = next(r for r in rules.rule(tier).requirements if r.code == requirement.code).required
                for value in candidates:
                    if not low <= value <= high or value == current:
                        continue
                    trial = _with_threshold(rules, tier, requirement.code, value)
                    score = _objective(cases, trial)
                    if score > best:
                        best, rules, current, improved = score, trial, value, True
        if not improved:
            break
    return rules, best


def main(args: argparse.Namespace) -> int:
    from datetime import datetime

    from eval.data import LabelFileError
    from eval.tiers import agreement, cases, read_decisions, read_histories
    from quality.rubric.config import load_rubric
    from quality.rubric.fitted import fitted_version, write_fitted_tiers
    from quality.settings import DEFAULT_RUBRIC, Settings

    settings = Settings()
    if args.out.resolve() in {DEFAULT_RUBRIC.resolve(), settings.rubric_path.resolve()} and not args.force:
        print(f"quality train tiers: {args.out} is the rubric in use or the packaged one; pass --force to replace it",
              file=sys.stderr)
        return 2
    rubric = load_rubric(settings.rubric_path)

    def service():
        from quality.service import QualityService

        return QualityService(settings)

    try:
        decisions = read_decisions(args.data)
        histories = read_histories(args.activities, rubric, service)
    except LabelFileError as error:
        print(f"quality train tiers: {error}", file=sys.stderr)
        return 2
    built, missing = cases(decisions, histories, rubric)
    fitting = [c for c in built if not _held_out(c.decision.member_id, args.holdout)]
    held = [c for c in built if _held_out(c.decision.member_id, args.holdout)]
    if len(fitting) < MIN_DECISIONS or len({c.decision.tier for c in fitting}) < 2:
        print(f"quality train tiers: {len(fitting)} decisions to fit on (at least {MIN_DECISIONS}, of two tiers or "
              "more, are needed)", file=sys.stderr)
        return 2
    fitted, (fit_qwk, fit_accuracy) = fit_thresholds(fitting, rubric.tiers)
    fitted_at = datetime.now().astimezone()
    version = args.version or fitted_version(rubric.version, fitted_at.date())
    report_path = args.out.with_suffix(".fit.json")
    header = (f"Tier thresholds fitted by `quality train tiers` on {fitted_at.isoformat(timespec='seconds')} to "
              f"{len(fitting)} decisions in {args.data.name};\nstarted from rubric {rubric.version} (sha256 "
              f"{rubric.sha256}). Held-out comparison: {report_path.name}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    written = write_fitted_tiers(settings.rubric_path, args.out, tiers=fitted, version=version, header=header)

    def compare(part):
        if not part:
            return None
        decided = [c.decision.tier for c in part]
        return {"current": agreement(decided, [c.suggested(rubric.tiers) for c in part]),
                "fitted": agreement(decided, [c.suggested(fitted) for c in part])}

    thresholds = {f"{tier}.{r.code}": {"current": r.required,
                                       "fitted": next(f for f in fitted.rule(tier).requirements
                                                      if f.code == r.code).required}
                  for tier in ("advanced", "core", "leading") for r in rubric.tiers.rule(tier).requirements}
    report = {"data": str(args.data), "activities": str(args.activities), "decisions": len(built),
              "members_missing_from_export": missing, "fitting": len(fitting), "held_out": len(held),
              "fit_objective": {"qwk": fit_qwk, "accuracy": fit_accuracy},
              "rubric": {"from": rubric.version, "to": {"path": str(args.out), "version": written.version,
                                                        "sha256": written.sha256}},
              "thresholds": thresholds, "held_out_agreement": compare(held)}
    report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    held_out = report["held_out_agreement"]
    if held_out:
        print(f"held out ({len(held)} decisions): QWK {held_out['current']['qwk']} -> {held_out['fitted']['qwk']}, "
              f"accuracy {held_out['current']['accuracy']} -> {held_out['fitted']['accuracy']}", file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False))
    return 0
