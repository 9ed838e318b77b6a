"""`quality eval --pairs`: which of two items is better, checked against the model's scores.

A pair file (CSV, JSONL or Parquet) has a `better` and a `worse` column (`--better-col`,
`--worse-col`) and optionally a group column (e.g. `family` for photo degradations).
For `composition` the two columns are image paths (relative to the pair file's folder or
absolute); for text tasks they are the texts. Every item is scored once, through the same
service call as the API, and a pair counts as right when the better side scores higher
(ties count half). Baselines in the same run: the v0 composition heuristics for photos,
"the longer text is better" for texts.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from eval.baselines import composition_heuristic_scores
from eval.data import LabelFileError, find_column, raw_rows
from eval.metrics import bootstrap_interval, pairwise_accuracy
from eval.tasks import TASKS, Task, post_for_item, score_each
from quality.errors import QualityError

BATCH = 16


def _pair_rows(path: Path, better_col: str, worse_col: str, group_col: str | None, content_col: str | None = None):
    raw = raw_rows(path)
    if not raw:
        raise LabelFileError(f"{path} has no rows")
    columns = sorted({key for row in raw for key in row if key != "__invalid__"})
    better_key, worse_key = find_column(columns, better_col, path), find_column(columns, worse_col, path)
    group_key = find_column(columns, group_col, path) if group_col else None
    content_key = find_column(columns, content_col, path) if content_col else None
    rows, skipped, seen, content = [], Counter(), set(), {}
    for row in raw:
        better, worse = row.get(better_key), row.get(worse_key)
        if row.get("__invalid__"):
            skipped["not_json"] += 1
        elif not (isinstance(better, str) and better.strip() and isinstance(worse, str) and worse.strip()):
            skipped["empty_item"] += 1
        elif (better, worse) in seen:
            skipped["duplicate"] += 1
        else:
            seen.add((better, worse))
            group = row.get(group_key) if group_key else None
            rows.append((better, worse, None if group is None else str(group)))
            if content_key and row.get(content_key) is not None:
                content[better] = str(row[content_key])
    if not rows:
        raise LabelFileError(f"{path}: no usable pairs (skipped: {dict(skipped)})")
    return rows, skipped, content


def _score_items(service, task: Task, items: list[str], folder: Path, quiet: bool) -> dict[str, float]:
    """item -> model score, batched like the API; items that cannot be read or scored are left out."""
    scores: dict[str, float] = {}
    with tqdm(total=len(items), unit="item", desc=f"scoring {task.name}", file=sys.stderr, disable=quiet) as bar:
        for start in range(0, len(items), BATCH):
            chunk, posts = [], []
            for item in items[start:start + BATCH]:
                try:
                    posts.append(post_for_item(task, item, folder))
                    chunk.append(item)
                except (OSError, QualityError):
                    pass
            for item, result in zip(chunk, score_each(service, posts)):
                value = task.model_score(result) if result is not None else None
                if value is not None:
                    scores[item] = value
            bar.update(min(BATCH, len(items) - start))
    return scores


def _baseline_scores(task: Task, items: list[str], folder: Path) -> tuple[str, dict[str, float]]:
    if task.reads != "image":
        return "longer_text", {item: float(len(item)) for item in items}
    values = composition_heuristic_scores([folder / item for item in items])
    return "heuristic_v0", {item: float(v) for item, v in zip(items, values) if np.isfinite(v)}


def _accuracy(pairs, scores) -> tuple[dict, np.ndarray, np.ndarray]:
    better = np.array([scores[b] for b, w, _ in pairs])
    worse = np.array([scores[w] for b, w, _ in pairs])
    metrics = pairwise_accuracy(better, worse)
    metrics["pairwise_accuracy"] = round(metrics["pairwise_accuracy"], 4)
    return metrics, better, worse


def content_medians(scores: dict[str, float], content: dict[str, str]) -> dict:
    """The median score of the better items per content value, and the largest gap between two medians."""
    values = defaultdict(list)
    for item, value in content.items():
        if item in scores:
            values[value].append(scores[item])
    medians = {value: round(float(np.median(v)), 4) for value, v in sorted(values.items())}
    return {"median": medians, "n": {value: len(v) for value, v in sorted(values.items())},
            "spread": round(max(medians.values()) - min(medians.values()), 4) if medians else None}


def evaluate_pairs(service, task_name: str, path: Path, *, better_col: str = "better", worse_col: str = "worse",
                   group_col: str | None = None, content_col: str | None = None, quiet: bool = False) -> dict:
    task = TASKS[task_name]
    rows, skipped, content = _pair_rows(path, better_col, worse_col, group_col, content_col)
    folder = path.parent
    items = sorted({item for b, w, _ in rows for item in (b, w)})
    scores = _score_items(service, task, items, folder, quiet)
    baseline_name, baseline = _baseline_scores(task, items, folder)
    pairs = [p for p in rows if p[0] in scores and p[1] in scores and p[0] in baseline and p[1] in baseline]
    if len(pairs) < len(rows):
        skipped["not_scored"] += len(rows) - len(pairs)
    if not pairs:
        raise LabelFileError(f"{path}: no pair could be scored (skipped: {dict(skipped)})")
    model, better, worse = _accuracy(pairs, scores)
    model["pairwise_accuracy_ci95"] = bootstrap_interval(
        lambda b, w: pairwise_accuracy(b, w)["pairwise_accuracy"], better, worse)
    report = {"task": task.name, "mode": "pairs", "data": str(path), "n": len(pairs), "skipped": dict(skipped),
              "model": model, "baselines": {baseline_name: _accuracy(pairs, baseline)[0]},
              "description": f"share of pairs where {better_col!r} scores above {worse_col!r}"}
    if content_col:
        report["better_by_content"] = content_medians(scores, content)
    if group_col:
        groups = defaultdict(list)
        for pair in pairs:
            groups[pair[2]].append(pair)
        report["groups"] = sorted(
            ({"group": group, **_accuracy(members, scores)[0],
              f"{baseline_name}_pairwise_accuracy": _accuracy(members, baseline)[0]["pairwise_accuracy"]}
             for group, members in groups.items()),
            key=lambda g: g["pairwise_accuracy"])  # worst first
    return report


def print_pairs_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    print(f"\n{report['task']} pairs on {report['data']}: {report['n']} pairs, skipped {report['skipped']}",
          file=stream)
    print(f"{'':<24}{'pairwise_accuracy':>18}", file=stream)
    for name, metrics in [("model", report["model"]), *report["baselines"].items()]:
        print(f"{name:<24}{metrics['pairwise_accuracy']:>18}", file=stream)
    print(f"model 95% CI: {report['model'].get('pairwise_accuracy_ci95')}", file=stream)
    if "better_by_content" in report:
        by = report["better_by_content"]
        print(f"\nmedian score of the better side by content (spread {by['spread']}): " + ", ".join(
            f"{value} {median} (n={by['n'][value]})" for value, median in by["median"].items()), file=stream)
    if "groups" in report:
        baseline = next(iter(report["baselines"]))
        print(f"\nby group (worst first){'':<4}{'model':>10}{baseline:>16}", file=stream)
        for group in report["groups"]:
            print(f"  {str(group['group']):<24}{group['pairwise_accuracy']:>10}"
                  f"{group[baseline + '_pairwise_accuracy']:>16}   n={group['n']}", file=stream)
