"""`quality train calibration`: refit a dimension's calibration on your own labelled sample.

    quality train calibration --data labels.csv [--text-col TEXT] [--label-col label] [--method platt|isotonic]

Scores every row with the service, reads the dimension's *uncalibrated* probability, fits the
map (quality.calibration) on all rows and writes it as a new versioned model:
`<models_dir>/civility-e5/calibration.json`, its card `calibration.md`, and the manifest entry
`civility-calibration` (version, sha256, metrics), so the service loads, checks and reports it
at its next start. The figures it prints are cross-fitted (5 folds: each row calibrated by a map
fitted without it); the in-sample ECE of the written map is never reported as a result.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from datetime import date
from pathlib import Path

TASKS = ("civility",)  # dimensions with binary labels to calibrate against
MIN_ROWS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", choices=TASKS, default="civility")
    parser.add_argument("--data", type=Path, required=True, help="CSV, JSONL or Parquet with binary labels")
    parser.add_argument("--text-col", default="text")
    parser.add_argument("--label-col", default="label", help="1 = offensive (civility)")
    parser.add_argument("--method", choices=("platt", "isotonic"), default="platt")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: QUALITY_MODELS_DIR (models/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _card(version: str, method: str, data: Path, report: dict) -> str:
    return f"""# Model card: civility-calibration {version}

Maps the civility model's raw P(offensive) to a calibrated probability ({method}).
Fitted by `quality train calibration --data {data.name} --method {method}` on {report['n']} labelled rows
(sha256 of the file {report['data_sha256'][:16]}…), {date.today().isoformat()}.

| cross-fitted, 5 folds | ECE | AUC |
|---|---|---|
| before (raw model) | {report['ece_before']:.4f} | {report['auc_before']:.4f} |
| after (calibrated) | {report['ece_after']:.4f} | {report['auc_after']:.4f} |

The written map is fitted on all rows; its in-sample figures are not reported. Evaluating the
service on this same file afterwards is in-sample for the calibration: measure on other labels.
"""


def _manifest_block(version: str, method: str, data: Path, report: dict, sha: str) -> str:
    return f"""  - name: civility-calibration
    kind: calibration
    version: "{version}"
    description: Calibration ({method}) of the civility model's P(offensive), fitted by quality train calibration on {data.name}.
    licence: Apache-2.0 (fitted on the operator's or COLD's labels)
    card: civility-e5/calibration.md
    files:
      - {{role: calibration, path: civility-e5/calibration.json, sha256: {sha}}}
    preprocessing:
      applies_to: "civility-e5 (or civility-head) raw P(offensive); civility.score = 1 - calibrated P"
    metrics: {{n: {report['n']}, cross_fitted_ece_before: {report['ece_before']}, cross_fitted_ece_after: {report['ece_after']}}}
"""


def main(args: argparse.Namespace, service=None) -> int:
    import numpy as np

    from eval.data import LabelFileError, read_labelled
    from eval.metrics import binary_metrics, reliability_bins
    from eval.run import score_labelled
    from eval.tasks import TASKS as EVAL_TASKS
    from quality.calibration import Calibration, cross_fitted
    from quality.artifacts import sha256_file
    from quality.manifest import upsert_entry_text
    from quality.service import QualityService
    from quality.settings import Settings

    service = service or QualityService(Settings(**({"models_dir": args.models_dir} if args.models_dir else {})))
    models_dir = service.settings.models_dir
    task = EVAL_TASKS[args.task]
    try:
        data = read_labelled(args.data, text_col=args.text_col, label_col=args.label_col, label_range=(0, 1))
    except LabelFileError as error:
        print(f"quality train calibration: {error}", file=sys.stderr)
        return 2
    raw = score_labelled(service, data, task, lambda post, result: (
        result.dimensions.civility.context["offensive_probability_uncalibrated"]
        if result.dimensions.civility is not None else None), quiet=args.quiet)
    keep = [i for i, value in enumerate(raw) if value is not None]
    p_raw = np.array([raw[i] for i in keep], dtype=float)
    labels = np.array([int(data.rows[i].label) for i in keep])
    if len(keep) < MIN_ROWS or labels.min() == labels.max():
        print(f"quality train calibration: need at least {MIN_ROWS} scored rows with both labels "
              f"(got {len(keep)}, labels {sorted(set(labels.tolist()))})", file=sys.stderr)
        return 2
    p_after = cross_fitted(args.method, p_raw, labels, folds=min(5, int(np.bincount(labels).min())))
    before, after = binary_metrics(labels, p_raw), binary_metrics(labels, p_after)
    data_sha = sha256_file(args.data)
    version = f"{date.today().strftime('%Y.%m.%d')}-{data_sha[:8]}"
    report = {"task": args.task, "method": args.method, "version": version, "data": str(args.data),
              "data_sha256": data_sha, "n": len(keep), "skipped": dict(data.skipped),
              "ece_before": round(before["ece"], 4), "ece_after": round(after["ece"], 4),
              "auc_before": round(before["auc"], 4), "auc_after": round(after["auc"], 4),
              "reliability_before": reliability_bins(labels, p_raw),
              "reliability_after": reliability_bins(labels, p_after)}
    calibration = Calibration.fit(args.method, p_raw, labels, version=version,
                                  meta={k: report[k] for k in ("task", "data", "data_sha256", "n", "ece_before",
                                                               "ece_after")})
    target = models_dir / "civility-e5" / "calibration.json"
    calibration.save(target)
    (target.parent / "calibration.md").write_text(_card(version, args.method, args.data, report), encoding="utf-8")
    upsert_entry_text(models_dir / service.settings.manifest_file, "civility-calibration",
                      _manifest_block(version, args.method, args.data, report, sha256_file(target)))
    print(f"\ncalibration {version} ({args.method}) on {len(keep)} rows, cross-fitted:\n"
          f"  ECE {report['ece_before']} -> {report['ece_after']}, AUC {report['auc_before']} -> {report['auc_after']}\n"
          f"wrote {target} and the manifest entry civility-calibration; restart the service to use it",
          file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False))
    return 0
