"""The team's graded posts (`data/post_quality/`): clarity, sincerity, helpfulness, 1-5, labelled twice.

    python -m train.post_quality_data --blind A.jsonl B.jsonl --out blind.jsonl
    python -m train.post_quality_data --assemble A.jsonl B.jsonl --second second.jsonl
    python -m train.post_quality_data --check

`--blind` writes the writers' posts without their grades, in a fixed shuffled order, for the
second labeller. `--assemble` joins the writers' grades with the second labeller's, takes the mean
of the two as each grade, splits by a hash of the id (`split_of`) and writes `posts.jsonl`,
`dev.jsonl` and `test.jsonl`, printing the agreement. `--check` validates the files. The rows and
how they were made: data/post_quality/README.md; the grades: data/post_quality/GUIDE.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from quality.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data" / "post_quality"
POSTS_FILE = DATA_DIR / "posts.jsonl"
GRADES = ("clarity", "sincerity", "helpfulness")
SEED = 20261207


def split_of(post_id: str) -> str:
    """dev or test, half each, by the first 8 hex digits of sha256("post-quality-v1:<id>")."""
    share = int(hashlib.sha256(f"post-quality-v1:{post_id}".encode()).hexdigest()[:8], 16) / 0x100000000
    return "dev" if share < 0.5 else "test"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def problems(row: dict) -> list[str]:
    found = []
    for key in ("id", "text", "topic", "split"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            found.append(f"{row.get('id')}: {key} missing")
    if row.get("title") is not None and not isinstance(row["title"], str):
        found.append(f"{row.get('id')}: title must be a string or null")
    for grade in GRADES:
        first, second, mean = row.get(f"first_{grade}"), row.get(f"second_{grade}"), row.get(grade)
        if first not in range(1, 6) or second not in range(1, 6):
            found.append(f"{row.get('id')}: {grade} grades must be integers 1-5")
        elif mean != (first + second) / 2:
            found.append(f"{row.get('id')}: {grade} must be the mean of the two grades")
    if isinstance(row.get("id"), str) and row.get("split") != split_of(row["id"]):
        found.append(f"{row.get('id')}: split is not split_of(id)")
    return found


def check(rows: list[dict]) -> list[str]:
    found = [p for row in rows for p in problems(row)]
    for key in ("id", "text"):
        values = [row.get(key) for row in rows]
        if len(set(values)) != len(values):
            found.append(f"repeated {key}s")
    for split in ("dev", "test"):
        path = DATA_DIR / f"{split}.jsonl"
        if not path.exists() or read_jsonl(path) != [row for row in rows if row["split"] == split]:
            found.append(f"{path.name} is not the {split} split of posts.jsonl (python -m train.post_quality_data "
                         "--assemble writes both)")
    return found


def quadratic_kappa(a: list[int], b: list[int]) -> float:
    observed = np.zeros((5, 5))
    for x, y in zip(a, b):
        observed[x - 1, y - 1] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = np.array([[(i - j) ** 2 for j in range(5)] for i in range(5)]) / 16
    return float(1 - (weights * observed).sum() / (weights * expected).sum())


def agreement(rows: list[dict]) -> dict:
    out = {}
    for grade in GRADES:
        a, b = [row[f"first_{grade}"] for row in rows], [row[f"second_{grade}"] for row in rows]
        out[grade] = {"spearman": round(float(stats.spearmanr(a, b).statistic), 3),
                      "quadratic_kappa": round(quadratic_kappa(a, b), 3),
                      "exact": round(float(np.mean(np.equal(a, b))), 3),
                      "within_one": round(float(np.mean(np.abs(np.subtract(a, b)) <= 1)), 3)}
    return out


def blind(parts: list[Path]) -> list[dict]:
    rows = [{"id": row["id"], "title": row.get("title"), "text": row["text"]}
            for part in parts for row in read_jsonl(part)]
    random.Random(SEED).shuffle(rows)
    return rows


def assemble(parts: list[Path], second: Path) -> list[dict]:
    seconds = {row["id"]: row for row in read_jsonl(second)}
    rows = []
    for part in parts:
        for row in read_jsonl(part):
            other = seconds[row["id"]]
            out = {"id": row["id"], "title": row.get("title"), "text": row["text"], "topic": row["topic"]}
            for grade in GRADES:
                out[grade] = (row[grade] + other[grade]) / 2
            for grade in GRADES:
                out[f"first_{grade}"], out[f"second_{grade}"] = row[grade], other[grade]
            out["note"] = row.get("note", "")
            out["split"] = split_of(row["id"])
            rows.append(out)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blind", nargs="+", type=Path, help="writers' files: write them without grades")
    parser.add_argument("--out", type=Path, help="where --blind writes")
    parser.add_argument("--assemble", nargs="+", type=Path, help="writers' files to join with --second")
    parser.add_argument("--second", type=Path, help="the second labeller's grades (id and the three grades)")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.blind:
        if not args.out:
            parser.error("--blind needs --out")
        write_jsonl(args.out, blind(args.blind))
        return 0
    if args.assemble:
        if not args.second:
            parser.error("--assemble needs --second")
        rows = assemble(args.assemble, args.second)
        write_jsonl(POSTS_FILE, rows)
        for split in ("dev", "test"):
            write_jsonl(DATA_DIR / f"{split}.jsonl", [row for row in rows if row["split"] == split])
    rows = read_jsonl(POSTS_FILE)
    found = check(rows)
    for problem in found:
        print(problem, file=sys.stderr)
    counts = {split: sum(row["split"] == split for row in rows) for split in ("dev", "test")}
    print(json.dumps({"rows": len(rows), "splits": counts, "agreement": agreement(rows)}, ensure_ascii=False))
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
