"""Reading labelled files (CSV, JSONL, Parquet) with a clear account of the rows that were skipped."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class LabelFileError(ValueError):
    """The file as a whole cannot be used (missing column, unreadable format)."""


@dataclass
class LabelledRow:
    text: str
    label: float
    group: str | None = None
    parent_text: str | None = None


@dataclass
class LabelledData:
    rows: list[LabelledRow]
    skipped: Counter = field(default_factory=Counter)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def _raw_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with open(path, encoding="utf-8-sig", newline="") as handle:
                return list(csv.DictReader(handle))
        if suffix in (".jsonl", ".ndjson"):
            rows = []
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError:
                            rows.append({"__invalid__": True})
            return rows
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
    except UnicodeDecodeError as error:
        raise LabelFileError(f"{path} is not UTF-8 ({error.reason} at byte {error.start}); re-save it as UTF-8") from error
    raise LabelFileError(f"unsupported file type {path.suffix!r}: use .csv, .jsonl or .parquet")


def _find_column(columns: list[str], wanted: str, path: Path) -> str:
    for column in columns:
        if column == wanted:
            return column
    for column in columns:
        if column.lower() == wanted.lower():
            return column
    raise LabelFileError(f"{path}: no column {wanted!r}; columns are {columns}")


def read_labelled(path: Path, *, text_col: str = "text", label_col: str = "label",
                  group_col: str | None = None, parent_col: str | None = None,
                  label_range: tuple[float, float] | None = None) -> LabelledData:
    raw = _raw_rows(path)
    if not raw:
        raise LabelFileError(f"{path} has no rows")
    columns = sorted({key for row in raw for key in row if key != "__invalid__"})
    text_key = _find_column(columns, text_col, path)
    label_key = _find_column(columns, label_col, path)
    group_key = _find_column(columns, group_col, path) if group_col else None
    parent_key = _find_column(columns, parent_col, path) if parent_col else None

    data = LabelledData(rows=[])
    seen: set[tuple[str, str | None]] = set()
    for row in raw:
        if row.get("__invalid__"):
            data.skipped["not_json"] += 1
            continue
        text = row.get(text_key)
        if not isinstance(text, str) or not text.strip():
            data.skipped["empty_text"] += 1
            continue
        try:
            label = float(row.get(label_key))
        except (TypeError, ValueError):
            data.skipped["label_not_a_number"] += 1
            continue
        if math.isnan(label) or (label_range and not label_range[0] <= label <= label_range[1]):
            data.skipped["label_out_of_range"] += 1
            continue
        parent = row.get(parent_key) if parent_key else None
        if (text, parent) in seen:
            data.skipped["duplicate"] += 1
            continue
        seen.add((text, parent))
        group = row.get(group_key) if group_key else None
        data.rows.append(LabelledRow(text=text, label=label, group=None if group is None else str(group),
                                     parent_text=parent if isinstance(parent, str) and parent.strip() else None))
    if not data.rows:
        raise LabelFileError(f"{path}: no usable rows (skipped: {dict(data.skipped)})")
    return data
