"""`quality eval`: score a labelled file with the same code path as the API and compare with people.

Prints a readable table on stderr and one JSON object of metrics as the last line on stdout.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from eval.baselines import char_tfidf_cross_validated, lexicon_scores
from eval.data import LabelledData, read_labelled
from eval.metrics import binary_metrics, bootstrap_interval, graded_metrics
from eval.tasks import TASKS, Task, post_for
from quality.errors import QualityError

BATCH = 64


def model_scores(service, data: LabelledData, task: Task, quiet: bool = False) -> np.ndarray:
    """One model score per row (NaN where the row could not be scored), batched like the API."""
    scores = np.full(len(data.rows), np.nan)
    with tqdm(total=len(data.rows), unit="row", desc=f"scoring {task.name}", file=sys.stderr, disable=quiet) as bar:
        for start in range(0, len(data.rows), BATCH):
            rows = data.rows[start:start + BATCH]
            posts = [post_for(row.text, row.parent_text) for row in rows]
            try:
                results = service.score_batch(posts, batch_field=None)
            except QualityError:  # one bad row: score the chunk row by row
                results = []
                for post in posts:
                    try:
                        results.append(service.score(post))
                    except QualityError:
                        results.append(None)
            for offset, result in enumerate(results):
                value = task.model_score(result) if result is not None else None
                if value is not None:
                    scores[start + offset] = value
            bar.update(len(rows))
    return scores


def _metrics(task: Task, labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    if task.label_type == "binary":
        return binary_metrics(labels, scores, threshold)
    return graded_metrics(labels, scores)


def _headline(task: Task) -> str:
    return "auc" if task.label_type == "binary" else "spearman"


def _round(metrics: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}


def evaluate(service, task_name: str, path: Path, *, text_col: str | None = None, label_col: str | None = None,
             group_col: str | None = None, parent_col: str | None = None, threshold: float = 0.5,
             quiet: bool = False) -> dict:
    task = TASKS[task_name]
    data = read_labelled(path, text_col=text_col or task.default_text_col,
                         label_col=label_col or task.default_label_col, group_col=group_col, parent_col=parent_col,
                         label_range=(0, 1) if task.label_type == "binary" else None)
    raw_scores = model_scores(service, data, task, quiet)
    scored = ~np.isnan(raw_scores)
    rows = [row for row, ok in zip(data.rows, scored) if ok]
    skipped = dict(data.skipped)
    if (~scored).any():
        skipped["not_scored"] = int((~scored).sum())
    labels = np.array([row.label for row in rows])
    scores = raw_scores[scored]
    texts = [row.text for row in rows]

    headline = _headline(task)
    model = _round(_metrics(task, labels, scores, threshold))
    metric_fn = (lambda y, s: _metrics(task, y, s, threshold)[headline])
    model[f"{headline}_ci95"] = bootstrap_interval(metric_fn, labels, scores)
    if task.label_type == "binary":
        model["accuracy_ci95"] = bootstrap_interval(lambda y, s: float(np.mean((s >= threshold) == y)), labels, scores)

    baselines = {"char_tfidf_lr_cv5": _round(_metrics(task, labels, char_tfidf_cross_validated(
        texts, labels, task.label_type == "binary"), threshold))}
    if task.lexicon_baseline:
        baselines["lexicon"] = _round(_metrics(task, labels, lexicon_scores(texts), threshold))

    report = {"task": task.name, "data": str(path), "n": len(rows), "skipped": skipped,
              "model": model, "baselines": baselines, "description": task.description}
    if group_col:
        report["groups"] = _by_group(task, rows, labels, scores, threshold, headline)
    return report


def _by_group(task, rows, labels, scores, threshold, headline) -> list[dict]:
    members = defaultdict(list)
    for index, row in enumerate(rows):
        members[row.group].append(index)
    out = []
    for group, idx in members.items():
        idx = np.array(idx)
        try:
            metrics = _round(_metrics(task, labels[idx], scores[idx], threshold))
        except ValueError:
            continue
        out.append({"group": group, **metrics})
    return sorted(out, key=lambda g: (g.get(headline) is None, g.get(headline) or 0.0))  # worst first


def print_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    headline = "auc" if "auc" in report["model"] else "spearman"
    keys = [k for k in ("auc", "accuracy", "f1", "ece", "spearman", "pearson", "kendall", "qwk") if k in report["model"]]
    print(f"\n{report['task']} on {report['data']}: {report['n']} rows scored, skipped {report['skipped']}", file=stream)
    print(f"{'':<22}" + "".join(f"{k:>10}" for k in keys), file=stream)
    for name, metrics in [("model", report["model"]), *report["baselines"].items()]:
        print(f"{name:<22}" + "".join(f"{metrics.get(k) if metrics.get(k) is not None else '-':>10}" for k in keys),
              file=stream)
    print(f"model {headline} 95% CI: {report['model'].get(headline + '_ci95')}", file=stream)
    if "groups" in report:
        print(f"\nby group (worst {headline} first)", file=stream)
        for group in report["groups"]:
            print(f"  {str(group['group']):<20}" + "".join(f"{group.get(k) if group.get(k) is not None else '-':>10}"
                                                          for k in keys) + f"   n={group['n']}", file=stream)


def main_eval(service, args) -> int:
    report = evaluate(service, args.task, args.data, text_col=args.text_col, label_col=args.label_col,
                      group_col=args.group_col, parent_col=args.parent_col, threshold=args.threshold,
                      quiet=args.quiet)
    print_table(report)
    print(json.dumps(report, ensure_ascii=False))
    return 0
