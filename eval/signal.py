"""`quality eval --task civility_signal`: the stage-three label against people's labels of replies.

The file has one reply per row: its text, its parent (`--parent-col`, default `parent`), and a
label among uncivil / neutral / constructive (`--label-col`, default `label`); optionally a kind
(`--group-col`, e.g. `kind`: recall per kind), whether the parent's author is a newcomer
(`parent_author_is_newcomer`), and `is_disagreement` / `reasoned` (the disagreement signal is then
measured too). Every row is scored as the API scores a reply.

Reported: three-way accuracy and macro-F1, per-label precision / recall / F1, uncivil precision and
recall, the confusion matrix, AUC and ECE of P(uncivil) against "is uncivil", recall per kind
(uncivil kinds) and the share called uncivil per kind (the others), the share sent to review,
and, with disagreement labels, the disagreement and reasoned AUCs.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from eval.data import LabelFileError, find_column, raw_rows
from eval.metrics import bootstrap_interval, expected_calibration_error, reliability_bins
from quality.errors import QualityError
from quality.schemas import Parent, Post

LABELS = ("uncivil", "neutral", "constructive")
BATCH = 64


def _truthy(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "y")


def read_replies(path: Path, text_col: str, label_col: str, parent_col: str, kind_col: str | None) -> tuple[list, dict]:
    raw = raw_rows(path)
    if not raw:
        raise LabelFileError(f"{path} has no rows")
    columns = sorted({key for row in raw for key in row if key != "__invalid__"})
    text_key, label_key = find_column(columns, text_col, path), find_column(columns, label_col, path)
    parent_key = parent_col if parent_col in columns else None
    kind_key = find_column(columns, kind_col, path) if kind_col else None
    rows, skipped = [], defaultdict(int)
    for row in raw:
        label = str(row.get(label_key, "")).strip().lower()
        text = row.get(text_key)
        if row.get("__invalid__") or not isinstance(text, str) or not text.strip():
            skipped["empty_or_invalid"] += 1
        elif label not in LABELS:
            skipped["label_not_one_of_three"] += 1
        else:
            rows.append({"text": text, "label": label, "parent": row.get(parent_key) if parent_key else None,
                         "newcomer": bool(_truthy(row.get("parent_author_is_newcomer"))),
                         "kind": str(row.get(kind_key)) if kind_key else None,
                         "is_disagreement": _truthy(row.get("is_disagreement")),
                         "reasoned": _truthy(row.get("reasoned"))})
    return rows, dict(skipped)


def _post(row: dict) -> Post:
    parent = Parent(text=row["parent"], author_is_newcomer=row["newcomer"]) if row["parent"] else None
    return Post(kind="reply" if parent else "post", text=row["text"], parent=parent)


def _auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(labels, scores)), 4) if 0 < labels.mean() < 1 else None


def signal_metrics(gold: list[str], predicted: list[str]) -> dict:
    gold, predicted = np.array(gold), np.array(predicted)
    per_label, f1s = {}, []
    for label in LABELS:
        tp = int(((predicted == label) & (gold == label)).sum())
        precision = tp / max(1, int((predicted == label).sum()))
        recall = tp / max(1, int((gold == label).sum()))
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
                            "n": int((gold == label).sum())}
        f1s.append(f1)
    return {"accuracy_3way": round(float((gold == predicted).mean()), 4), "macro_f1": round(float(np.mean(f1s)), 4),
            "uncivil_precision": per_label["uncivil"]["precision"], "uncivil_recall": per_label["uncivil"]["recall"],
            "per_label": per_label,
            "confusion": {"labels": list(LABELS),
                          "matrix": [[int(((gold == g) & (predicted == p)).sum()) for p in LABELS] for g in LABELS]}}


def evaluate_signal(service, path: Path, *, text_col: str = "text", label_col: str = "label",
                    parent_col: str = "parent", kind_col: str | None = None, quiet: bool = False) -> dict:
    from tqdm import tqdm

    rows, skipped = read_replies(path, text_col, label_col, parent_col, kind_col)
    signals: list = [None] * len(rows)
    with tqdm(total=len(rows), unit="reply", desc="scoring", file=sys.stderr, disable=quiet) as bar:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            for offset, outcome in enumerate(service.score_each([_post(row) for row in chunk])):
                if not isinstance(outcome, QualityError):
                    signals[start + offset] = outcome
            bar.update(len(chunk))
    kept = [(row, result) for row, result in zip(rows, signals) if result is not None]
    if len(kept) < len(rows):
        skipped["not_scored"] = len(rows) - len(kept)
    gold = [row["label"] for row, _ in kept]
    predicted = [result.civility_signal.label for _, result in kept]
    p_uncivil = np.array([result.civility_signal.probabilities.get("uncivil", 1.0 - result.dimensions.civility.score)
                          for _, result in kept])
    is_uncivil = np.array([label == "uncivil" for label in gold], dtype=float)
    model = signal_metrics(gold, predicted)
    model["accuracy_3way_ci95"] = bootstrap_interval(
        lambda g, p: float(np.mean(g == p)), np.array(gold), np.array(predicted))
    model["uncivil_auc"] = _auc(is_uncivil, p_uncivil)
    model["uncivil_ece"] = round(expected_calibration_error(is_uncivil, p_uncivil), 4)
    model["needs_review_share"] = round(float(np.mean([r.civility_signal.needs_review for _, r in kept])), 4)
    report = {"task": "civility_signal", "data": str(path), "n": len(kept), "skipped": skipped, "model": model,
              "reliability": {"model": reliability_bins(is_uncivil, p_uncivil)}}
    if kind_col:
        report["kinds"] = _by_kind(kept, predicted)
    disagreement = [(row, result) for row, result in kept if row["is_disagreement"] is not None]
    if disagreement:
        labels = np.array([float(row["is_disagreement"]) for row, _ in disagreement])
        scores = np.array([_disagreement(result)["is_disagreement"] for _, result in disagreement])
        report["disagreement"] = {"n": len(disagreement), "auc": _auc(labels, scores),
                                  "accuracy": round(float(np.mean((scores >= 0.5) == labels)), 4)}
        reasoned = [(row, result) for row, result in disagreement if row["is_disagreement"] and row["reasoned"] is not None]
        if reasoned:
            labels = np.array([float(row["reasoned"]) for row, _ in reasoned])
            scores = np.array([_disagreement(result)["reasoned"] for _, result in reasoned])
            report["disagreement"]["reasoned"] = {"n": len(reasoned), "auc": _auc(labels, scores),
                                                  "accuracy": round(float(np.mean((scores >= 0.5) == labels)), 4)}
    errors = sorted(((row, label, float(p)) for (row, _), label, p in zip(kept, predicted, p_uncivil)
                     if label != row["label"]), key=lambda e: -abs(e[2] - 0.5))
    report["diagnostics"] = {
        "confusion": {"threshold": "the rubric's cut-offs", **model["confusion"]},
        "errors": [{"text": f"{row['text'][:120]}  ←  {(row['parent'] or '')[:60]}", "label": row["label"],
                    "score": f"{label} (P(uncivil) {p:.2f})", "kind": row["kind"]} for row, label, p in errors[:40]],
    }
    return report


def _disagreement(result) -> dict:
    value = result.dimensions.civility.context.get("disagreement") if result.dimensions.civility else None
    return value if isinstance(value, dict) else {"is_disagreement": 0.0, "reasoned": 0.0}


def _by_kind(kept: list, predicted: list[str]) -> list[dict]:
    members = defaultdict(list)
    for (row, _), label in zip(kept, predicted):
        members[row["kind"]].append((row["label"], label))
    out = []
    for kind, pairs in members.items():
        gold_uncivil = all(g == "uncivil" for g, _ in pairs)
        called = float(np.mean([p == "uncivil" for _, p in pairs]))
        out.append({"kind": kind, "n": len(pairs), "gold": "uncivil" if gold_uncivil else "not uncivil",
                    "uncivil_recall" if gold_uncivil else "called_uncivil": round(called, 4),
                    "accuracy_3way": round(float(np.mean([g == p for g, p in pairs])), 4)})
    return sorted(out, key=lambda k: (k["gold"] != "uncivil", k.get("uncivil_recall", 1 - k.get("called_uncivil", 0))))


def print_signal_table(report: dict, stream=None) -> None:
    stream = stream or sys.stderr
    model = report["model"]
    print(f"\ncivility_signal on {report['data']}: {report['n']} replies, skipped {report['skipped']}", file=stream)
    print(f"  3-way accuracy {model['accuracy_3way']} (95% CI {model['accuracy_3way_ci95']}), macro-F1 "
          f"{model['macro_f1']}; uncivil precision {model['uncivil_precision']}, recall {model['uncivil_recall']}, "
          f"AUC {model['uncivil_auc']}, ECE {model['uncivil_ece']}; sent to review {model['needs_review_share']}",
          file=stream)
    print("  confusion (rows: people's label; columns: the signal's)", file=stream)
    labels = model["confusion"]["labels"]
    print("  " + " " * 14 + "".join(f"{label:>14}" for label in labels), file=stream)
    for label, counts in zip(labels, model["confusion"]["matrix"]):
        print(f"  {label:<14}" + "".join(f"{count:>14}" for count in counts), file=stream)
    for kind in report.get("kinds", []):
        figure = (f"recall {kind['uncivil_recall']}" if "uncivil_recall" in kind
                  else f"called uncivil {kind['called_uncivil']}")
        print(f"  {str(kind['kind']):<24} {figure:<22} n={kind['n']}", file=stream)
    if "disagreement" in report:
        print(f"  disagreement: {report['disagreement']}", file=stream)
