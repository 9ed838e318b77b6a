"""Reading labelled files (CSV, JSONL, Parquet) with a clear account of the rows that were skipped."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Scales of a human grade of a whole post (`eval/grades.py`); "auto" decides from the labels.
GRADE_SCALES = ("auto", "1-5", "0-100")


class LabelFileError(ValueError):
    """The file as a whole cannot be used (missing column, unreadable format)."""


@dataclass
class LabelledRow:
    text: str
    label: float
    group: str | None = None
    parent_text: str | None = None
    title: str | None = None
    images: tuple[str, ...] = ()  # photo file paths as written in the file (relative to its folder)


@dataclass
class LabelledData:
    rows: list[LabelledRow]
    skipped: Counter = field(default_factory=Counter)

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def raw_rows(path: Path) -> list[dict]:
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


def find_column(columns: list[str], wanted: str, path: Path) -> str:
    for column in columns:
        if column == wanted:
            return column
    for column in columns:
        if column.lower() == wanted.lower():
            return column
    raise LabelFileError(f"{path}: no column {wanted!r}; columns are {columns}")


def add_graded_post_arguments(parser: argparse.ArgumentParser) -> None:
    """The columns that make a row a whole post, and the grade's scale: shared by `eval` and `train rubric`."""
    parser.add_argument("--title-col", default=None, help="column of post titles (text tasks)")
    parser.add_argument("--image-col", default=None,
                        help="column of photo file paths relative to DATA's folder, several separated by ';' "
                             "(or a JSON list in JSONL)")
    parser.add_argument("--grade-scale", choices=GRADE_SCALES, default="auto",
                        help="audition grades: 1-5 or 0-100; auto = 1-5 when every grade is an integer <= 5")


def _image_paths(value) -> tuple[str, ...] | None:
    """Photo paths of one cell: a list (JSONL, Parquet) or a ';'-separated string; None if neither."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(";")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        return None
    return tuple(item.strip() for item in value if item.strip())


def read_labelled(path: Path, *, text_col: str = "text", label_col: str = "label",
                  group_col: str | None = None, parent_col: str | None = None,
                  title_col: str | None = None, image_col: str | None = None,
                  label_range: tuple[float, float] | None = None) -> LabelledData:
    raw = raw_rows(path)
    if not raw:
        raise LabelFileError(f"{path} has no rows")
    columns = sorted({key for row in raw for key in row if key != "__invalid__"})
    text_key = find_column(columns, text_col, path)
    label_key = find_column(columns, label_col, path)
    group_key = find_column(columns, group_col, path) if group_col else None
    parent_key = find_column(columns, parent_col, path) if parent_col else None
    title_key = find_column(columns, title_col, path) if title_col else None
    image_key = find_column(columns, image_col, path) if image_col else None

    data = LabelledData(rows=[])
    seen: set[tuple] = set()
    for row in raw:
        if row.get("__invalid__"):
            data.skipped["not_json"] += 1
            continue
        text = row.get(text_key)
        text = text if isinstance(text, str) else ""
        title = row.get(title_key) if title_key else None
        title = title if isinstance(title, str) and title.strip() else None
        images = _image_paths(row.get(image_key)) if image_key else ()
        if images is None:
            data.skipped["bad_image_list"] += 1
            continue
        if not (text.strip() or title or images):
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
        if (text, parent, title, images) in seen:
            data.skipped["duplicate"] += 1
            continue
        seen.add((text, parent, title, images))
        group = row.get(group_key) if group_key else None
        data.rows.append(LabelledRow(text=text, label=label, group=None if group is None else str(group),
                                     parent_text=parent if isinstance(parent, str) and parent.strip() else None,
                                     title=title, images=images))
    if not data.rows:
        raise LabelFileError(f"{path}: no usable rows (skipped: {dict(data.skipped)})")
    return data


HOLDOUT_SALT = b"quality-holdout-v1"


def in_holdout(row: LabelledRow, fraction: float) -> bool:
    """Whether a row is in the held-out part: decided by a hash of its content alone, so `quality
    train` (which fits on the rest) and `quality eval --holdout` agree on any copy of the file,
    whatever its row order."""
    key = "\0".join([row.text, row.parent_text or "", row.title or "", ";".join(row.images)]).encode("utf-8")
    value = int.from_bytes(hashlib.sha1(HOLDOUT_SALT + key).digest()[:8], "big") / 2**64
    return value < fraction


def split_holdout(data: LabelledData, fraction: float) -> tuple[LabelledData, LabelledData]:
    """(fit part, held-out part) of the rows; skipped-row counts stay with both."""
    if not 0.0 < fraction < 1.0:
        raise LabelFileError(f"the held-out fraction must be between 0 and 1 (got {fraction})")
    held = [in_holdout(row, fraction) for row in data.rows]
    return (LabelledData([r for r, h in zip(data.rows, held) if not h], Counter(data.skipped)),
            LabelledData([r for r, h in zip(data.rows, held) if h], Counter(data.skipped)))
