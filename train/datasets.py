"""Readers for the human-labelled data in `../shared/data` (never copied into the repo)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: int
    group: str


def read_cold(path: Path) -> list[LabelledText]:
    """COLD: columns `TEXT`, `label` (1 = offensive), `topic` (race / gender / region)."""
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [
            LabelledText(text=row["TEXT"], label=int(row["label"]), group=row["topic"])
            for row in csv.DictReader(handle)
            if row.get("TEXT")
        ]
