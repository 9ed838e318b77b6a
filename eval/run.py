"""`quality eval`: score a labelled file with the same code path as the API and compare with people.

Prints a readable table on stderr and one JSON object of metrics as the last line on stdout.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable, TypeVar

import numpy as np
from tqdm import tqdm

from eval.baselines import char_tfidf_cross_validated, composition_heuristic_scores, lexicon_scores
from eval.checkpoint import Checkpoint, checkpoint_path
from eval.data import LabelFileError, LabelledData, read_labelled, split_holdout
from eval.diagnostics import diagnostics
from eval.grades import GradeScale, apply_grade_scale
from eval.metrics import (binary_metrics, bootstrap_interval, expected_calibration_error, graded_metrics,
                          rated_pairs_accuracy, reliability_bins)
from eval.tasks import TASKS, Task, post_for_row, score_each
from quality.errors import QualityError
from quality.rubric.config import Bands
from quality.rubric.fit import band_index
from quality.schemas import Post, ScoreResult

BATCH = 64
T = TypeVar("T")
Metrics = Callable[[np.ndarray, np.ndarray], dict]


def score_labelled(service, data: LabelledData, task: Task, read: Callable[[Post, ScoreResult], T],
                   quiet: bool = False, folder: Path | None = None, checkpoint: Checkpoint | None = None
                   ) -> list[T | None]:
    """`read(post, result)` for each row (None where the row could not be read or scored), batched
    like the API. Only what `read` keeps is held: a file of posts with photos need not fit in memory.
    With a `checkpoint`, rows it already holds are not scored again and each batch is recorded
    (values must be JSON: numbers, lists)."""
    out: list[T | None] = [None] * len(data.rows)
    done = checkpoint.done if checkpoint is not None else {}
    for index, value in done.items():
        if index < len(out):
            out[index] = tuple(value) if isinstance(value, list) else value
    with tqdm(total=len(data.rows), unit="row", desc=f"scoring {task.name}", file=sys.stderr, disable=quiet,
              initial=len(done)) as bar:
        for start in range(0, len(data.rows), BATCH):
            todo = [i for i in range(start, min(start + BATCH, len(data.rows))) if i not in done]
            if not todo:
                continue
            positions, posts = [], []
            for position in todo:
                try:
                    posts.append(post_for_row(task, data.rows[position], folder))
                    positions.append(position)
                except (OSError, QualityError):  # an image file that cannot be read
                    pass
            for position, post, result in zip(positions, posts, score_each(service, posts)):
                if result is not None:
                    out[position] = read(post, result)
            if checkpoint is not None:
                checkpoint.record({i: out[i] for i in todo})
            bar.update(len(todo))
    return out


def model_scores(service, data: LabelledData, task: Task, quiet: bool = False, folder: Path | None = None,
                 checkpoint: Checkpoint | None = None) -> np.ndarray:
    """One model score per row (NaN where the row could not be scored)."""
    values = score_labelled(service, data, task, lambda post, result: task.model_score(result), quiet, folder,
                            checkpoint)
    return np.array([np.nan if value is None else value for value in values], dtype=float)


def _metrics_for(task: Task, threshold: float, scale: GradeScale | None = None, bands: Bands | None = None) -> Metrics:
    """How scores are compared with the labels. For grades of posts, `bands` are the cut-offs that
    band the scores (the rubric's, for scores on the audition scale; None for a baseline on 1-5)."""
    if task.label_type == "binary":
        return lambda labels, scores: binary_metrics(labels, scores, threshold)
    if scale is None:
        return graded_metrics
    if bands is None:
        return scale.agreement
    return lambda labels, scores: scale.agreement(labels, scores, band_index(scores, bands))


def _with_pairs(metrics: Metrics) -> Metrics:
    """`metrics` plus the accuracy on pairs of differently rated rows (photos: the judges' use)."""
    def both(labels, scores) -> dict:
        return {**metrics(labels, scores), **rated_pairs_accuracy(labels, scores)}
    return both


def _headline(task: Task) -> str:
    return "auc" if task.label_type == "binary" else "spearman"


def _round(metrics: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}


def labelled_for_eval(service, task_name: str, path: Path, *, text_col: str | None = None,
                      label_col: str | None = None, group_col: str | None = None, parent_col: str | None = None,
                      title_col: str | None = None, image_col: str | None = None, grade_scale: str = "auto",
                      holdout: float | None = None):
    """The rows `evaluate` scores, in its order: (task, labelled data, the grade scale or None, the
    key of its checkpoint). Shared with the Ray engine, which scores the same rows into it."""
    task = TASKS[task_name]
    if task.reads == "image" and (title_col or image_col):
        raise LabelFileError(f"--title-col and --image-col are for text tasks; {task.name} reads the photo "
                             "path in --text-col")
    data = read_labelled(path, text_col=text_col or task.default_text_col,
                         label_col=label_col or task.default_label_col, group_col=group_col, parent_col=parent_col,
                         title_col=title_col, image_col=image_col,
                         label_range=(0, 1) if task.label_type == "binary" else None)
    if holdout is not None:
        data = split_holdout(data, holdout)[1]
    scale = apply_grade_scale(data, grade_scale, service.rubric.audition.bands) if task.human_grades else None
    key = {"task": task.name, "text_col": text_col, "label_col": label_col, "parent_col": parent_col,
           "title_col": title_col, "image_col": image_col, "grade_scale": grade_scale, "holdout": holdout}
    return task, data, scale, key


def evaluate(service, task_name: str, path: Path, *, text_col: str | None = None, label_col: str | None = None,
             group_col: str | None = None, parent_col: str | None = None, threshold: float = 0.5,
             title_col: str | None = None, image_col: str | None = None, grade_scale: str = "auto",
             quiet: bool = False, holdout: float | None = None, compare_service=None) -> dict:
    """Metrics of `service`'s scores against the labels. `holdout`: only the rows `quality train`
    held out at that fraction. `compare_service`: the same rows scored by other models too (e.g. the
    models before a refit), reported beside with a paired bootstrap interval of the change."""
    task, data, scale, checkpoint_key = labelled_for_eval(
        service, task_name, path, text_col=text_col, label_col=label_col, group_col=group_col,
        parent_col=parent_col, title_col=title_col, image_col=image_col, grade_scale=grade_scale, holdout=holdout)
    cutoffs = service.rubric.audition.bands
    metrics = _metrics_for(task, threshold, scale, cutoffs)
    baseline_metrics = _metrics_for(task, threshold, scale, cutoffs if scale and scale.on_audition_scale else None)
    if task.reads == "image" and task.label_type == "graded":
        metrics, baseline_metrics = _with_pairs(metrics), _with_pairs(baseline_metrics)
    checkpoint = Checkpoint(checkpoint_path(service, Path(path), checkpoint_key))
    # Beside the model score, one scoring pass reads the uncalibrated probability and the named parts.
    extras = ([("uncalibrated", task.uncalibrated_score)] if task.uncalibrated_score else []) + list(task.parts)
    if extras:
        reads = [task.model_score, *(read for _, read in extras)]
        values = score_labelled(service, data, task, lambda post, result: tuple(read(result) for read in reads),
                                quiet, Path(path).parent, checkpoint)
        table = np.array([[np.nan if x is None else x for x in (v if v is not None else [None] * len(reads))]
                          for v in values], dtype=float).reshape(len(values), len(reads))
        raw_scores = table[:, 0]
        parts = {name: table[:, 1 + k] for k, (name, _) in enumerate(extras)}
        uncalibrated = parts.pop("uncalibrated", None)
    else:
        raw_scores = model_scores(service, data, task, quiet, folder=Path(path).parent, checkpoint=checkpoint)
        uncalibrated, parts = None, {}
    checkpoint.finish()
    scored = ~np.isnan(raw_scores)
    rows = [row for row, ok in zip(data.rows, scored) if ok]
    skipped = dict(data.skipped)
    if (~scored).any():
        skipped["not_scored"] = int((~scored).sum())
    labels = np.array([row.label for row in rows])
    scores = raw_scores[scored]
    texts = [row.text for row in rows]

    headline = _headline(task)
    model = _round(metrics(labels, scores))
    model[f"{headline}_ci95"] = bootstrap_interval(lambda y, s: metrics(y, s)[headline], labels, scores)
    if task.label_type == "binary":
        model["accuracy_ci95"] = bootstrap_interval(lambda y, s: float(np.mean((s >= threshold) == y)), labels, scores)

    reliability = None
    if task.label_type == "binary":
        reliability = {"model": reliability_bins(labels, scores)}
        if uncalibrated is not None and np.isfinite(uncalibrated[scored]).all():
            model["ece_uncalibrated"] = round(expected_calibration_error(labels, uncalibrated[scored]), 4)
            reliability["uncalibrated"] = reliability_bins(labels, uncalibrated[scored])

    if task.reads == "image":
        heuristic = composition_heuristic_scores([Path(path).parent / text for text in texts])
        usable = np.isfinite(heuristic)
        baselines = {"heuristic_v0": _round(baseline_metrics(labels[usable], heuristic[usable]))}
        for name, values in parts.items():  # the model's own parts, on the rows where each was given
            values = values[scored]
            given = np.isfinite(values)
            if given.sum() >= 2:
                baselines[name] = _round(baseline_metrics(labels[given], values[given]))
    else:
        baselines = {"char_tfidf_lr_cv5": _round(baseline_metrics(labels, char_tfidf_cross_validated(
            texts, labels, task.label_type == "binary")))}
    if task.lexicon_baseline:
        baselines["lexicon"] = _round(baseline_metrics(labels, lexicon_scores(texts)))

    report = {"task": task.name, "data": str(path), "n": len(rows), "skipped": skipped,
              "model": model, "baselines": baselines, "description": task.description}
    if holdout is not None:
        report["holdout"] = holdout
    if compare_service is not None:
        other_checkpoint = Checkpoint(checkpoint_path(compare_service, Path(path), checkpoint_key))
        other = model_scores(compare_service, data, task, quiet, Path(path).parent, other_checkpoint)[scored]
        other_checkpoint.finish()
        report["compare"] = _comparison(metrics, headline, labels, scores, other, compare_service)
    if reliability is not None:
        report["reliability"] = reliability
    report["diagnostics"] = diagnostics(texts, labels, scores, binary=task.label_type == "binary",
                                        threshold=threshold)
    if scale is not None:
        report["grade_scale"] = scale.name
    if group_col:
        report["groups"] = _by_group(metrics, rows, labels, scores, headline)
    return report


def _comparison(metrics: Metrics, headline: str, labels, scores, other, compare_service) -> dict:
    """The other models' metrics on the rows both scored, and the paired change in the headline metric."""
    both = np.isfinite(other)
    labels, scores, other = labels[both], scores[both], other[both]
    return {"models_dir": str(compare_service.settings.models_dir), "models_version": compare_service.models_version,
            "n": int(both.sum()), "model": _round(metrics(labels, other)),
            f"{headline}_change_ci95": bootstrap_interval(
                lambda y, new, old: metrics(y, new)[headline] - metrics(y, old)[headline], labels, scores, other)}


def _by_group(metrics: Metrics, rows, labels, scores, headline) -> list[dict]:
    members = defaultdict(list)
    for index, row in enumerate(rows):
        members[row.group].append(index)
    out = []
    for group, idx in members.items():
        idx = np.array(idx)
        try:
            group_metrics = _round(metrics(labels[idx], scores[idx]))
        except ValueError:
            continue
        out.append({"group": group, **group_metrics})
    return sorted(out, key=lambda g: (g.get(headline) is None, g.get(headline) or 0.0))  # worst first


def print_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    headline = "auc" if "auc" in report["model"] else "spearman"
    keys = [k for k in ("auc", "accuracy", "f1", "ece", "ece_uncalibrated", "spearman", "pearson", "kendall", "qwk",
                        "qwk_bands", "pairwise") if k in report["model"]]
    widths = {k: max(10, len(k) + 2) for k in keys}

    def cells(metrics: dict) -> str:
        return "".join(f"{metrics.get(k) if metrics.get(k) is not None else '-':>{widths[k]}}" for k in keys)

    scale = f" (grades {report['grade_scale']})" if "grade_scale" in report else ""
    print(f"\n{report['task']} on {report['data']}{scale}: {report['n']} rows scored, skipped {report['skipped']}",
          file=stream)
    print(f"{'':<22}" + "".join(f"{k:>{widths[k]}}" for k in keys), file=stream)
    for name, metrics in [("model", report["model"]), *report["baselines"].items()]:
        print(f"{name:<22}" + cells(metrics), file=stream)
    print(f"model {headline} 95% CI: {report['model'].get(headline + '_ci95')}", file=stream)
    if "compare" in report:
        other = report["compare"]
        print(f"\ncompared with {other['models_dir']} ({other['models_version']}) on the same {other['n']} rows:",
              file=stream)
        print(f"{'other models':<22}" + cells(other["model"]), file=stream)
        print(f"change in {headline} (this - other), paired 95% CI: {other[headline + '_change_ci95']}", file=stream)
    if "groups" in report:
        print(f"\nby group (worst {headline} first)", file=stream)
        for group in report["groups"]:
            print(f"  {str(group['group']):<20}" + cells(group) + f"   n={group['n']}", file=stream)
    if "reliability" in report:
        print("\nreliability (predicted -> observed, n)", file=stream)
        for name, bins in report["reliability"].items():
            print(f"  {name:<14}" + "  ".join(f"{b['predicted']:.2f}->{b['observed']:.2f} ({b['n']})" for b in bins),
                  file=stream)


def main_eval(service, args, compare_service=None) -> int:
    if args.task == "civility_signal":
        if getattr(args, "pairs", False) or getattr(args, "holdout", None) is not None or compare_service is not None:
            raise LabelFileError("civility_signal compares the three-way label with people's; --pairs, --holdout and "
                                 "--compare-models-dir are for the other tasks")
        from eval.signal import evaluate_signal, print_signal_table

        report = evaluate_signal(service, args.data, text_col=args.text_col or "text",
                                 label_col=args.label_col or "label", parent_col=args.parent_col or "parent",
                                 kind_col=args.group_col, quiet=args.quiet)
        print_signal_table(report)
        if getattr(args, "report", None):
            from eval.report import write_report

            print(f"report: {write_report(report, args.report)}", file=sys.stderr)
        print(json.dumps(report, ensure_ascii=False))
        return 0
    if getattr(args, "pairs", False):
        if getattr(args, "holdout", None) is not None or compare_service is not None:
            raise LabelFileError("--holdout and --compare-models-dir compare models on labelled rows, not on --pairs")
        from eval.pairs import evaluate_pairs, print_pairs_table

        report = evaluate_pairs(service, args.task, args.data, better_col=args.better_col, worse_col=args.worse_col,
                                group_col=args.group_col, content_col=getattr(args, "content_col", None),
                                quiet=args.quiet)
        print_pairs_table(report)
        print(json.dumps(report, ensure_ascii=False))
        return 0
    report = evaluate(service, args.task, args.data, text_col=args.text_col, label_col=args.label_col,
                      group_col=args.group_col, parent_col=args.parent_col, threshold=args.threshold,
                      title_col=args.title_col, image_col=args.image_col, grade_scale=args.grade_scale,
                      quiet=args.quiet, holdout=getattr(args, "holdout", None), compare_service=compare_service)
    print_table(report)
    if getattr(args, "report", None):
        from eval.report import write_report

        print(f"report: {write_report(report, args.report)}", file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False))
    return 0
