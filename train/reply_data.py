"""Assemble the team's labelled car-community replies into `data/replies/replies.jsonl`, with the split.

    python -m train.reply_data [--check] [--write-splits] [--assemble PARTS] [--add-extra FILE ...]
                               [--add-dev2 FILE ...] [--add-dev3 FILE ...] [--add-test2 FILE ...]

Split rule, fixed once: a thread (a parent and all its replies) goes to train, dev or test by the
sha256 of "replies-v1:<thread id>": the first 8 hex digits as a fraction below 0.5 → train, below
0.75 → dev, else test. All replies to one parent stay together, so no parent is seen in training
and scored in test. By default (or `--check`) the file is validated (every field, every label and
kind of `data/replies/GUIDE.md`, the split rule) and its counts printed; `--write-splits` also writes
`dev.jsonl` and `test.jsonl` beside it; `--assemble PARTS` builds it anew from the writers' part
files (how it was first made; the parts are not kept: see data/replies/README.md); `--add-extra`
appends training-only rows to `extra_train.jsonl`, dropping any whose text is already an evaluation
(or training) reply of `replies.jsonl`, so the extra file can never leak a dev or test reply;
`--add-dev2` / `--add-dev3` write the second / third dev set, `dev2.jsonl` / `dev3.jsonl` (new
threads written blind, every row `split: dev2` / `dev3`), and `--add-test2` the second test set,
`test2.jsonl` (the same, `split: test2`; never used to fit or choose), dropping any text of the
other files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from quality.settings import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "data" / "replies"
OUT = DATA_DIR / "replies.jsonl"
EXTRA = DATA_DIR / "extra_train.jsonl"
# Written blind on new threads, after the first split: two dev sets and a second test set.
BLIND_SETS = {name: DATA_DIR / f"{name}.jsonl" for name in ("dev2", "dev3", "test2")}
BLIND_SET_ROLES = {"dev2": "the second dev set", "dev3": "the third dev set", "test2": "the second test set"}
LABELS = ("uncivil", "neutral", "constructive")
UNCIVIL_KINDS = ("insult", "profanity", "belittling", "dismissing_newcomer", "mocking_work", "sarcasm",
                 "attack_on_disagreement", "stereotype")
CIVIL_KINDS = ("helpful_answer", "patient_newcomer_help", "reasoned_disagreement", "blunt_criticism", "terse_answer",
               "banter", "car_slang", "praise", "chat")
FIELDS = ("id", "thread", "parent", "parent_author_is_newcomer", "text", "label", "kind", "is_disagreement",
          "reasoned")


def split_of(thread: str) -> str:
    share = int(hashlib.sha256(f"replies-v1:{thread}".encode("utf-8")).hexdigest()[:8], 16) / 0x100000000
    return "train" if share < 0.5 else ("dev" if share < 0.75 else "test")


def problems(row: dict) -> list[str]:
    found = [f"missing {name}" for name in FIELDS if name not in row]
    if found:
        return found
    if row["label"] not in LABELS:
        found.append(f"label {row['label']!r}")
    if row["kind"] not in UNCIVIL_KINDS + CIVIL_KINDS:
        found.append(f"kind {row['kind']!r}")
    elif (row["kind"] in UNCIVIL_KINDS) != (row["label"] == "uncivil"):
        found.append(f"kind {row['kind']} with label {row['label']}")
    if not isinstance(row["is_disagreement"], bool):
        found.append("is_disagreement not a boolean")
    elif (row["reasoned"] is None) == row["is_disagreement"]:
        found.append("reasoned must be a boolean exactly when is_disagreement")
    if not str(row["text"]).strip() or not str(row["parent"]).strip():
        found.append("empty text or parent")
    if "split" in row and row["split"] != split_of(row["thread"]):
        found.append(f"split {row['split']} breaks the rule")
    return found


def assemble(parts: Path) -> list[dict]:
    rows = []
    for path in sorted(parts.glob("*.jsonl")):
        with open(path, encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle if line.strip()]
    for row in rows:
        row["split"] = split_of(row["thread"])
    return sorted(rows, key=lambda row: row["id"])


def check(rows: list[dict]) -> list[str]:
    errors = [f"{row.get('id')}: {problem}" for row in rows for problem in problems(row)]
    ids = Counter(row["id"] for row in rows)
    errors += [f"{id_}: id used {n} times" for id_, n in ids.items() if n > 1]
    return errors + parent_conflicts(rows)


def parent_conflicts(rows: list[dict]) -> list[str]:
    """A thread has one parent: the threads whose rows carry different parent texts."""
    parents: dict[str, set] = {}
    for row in rows:
        parents.setdefault(row["thread"], set()).add(row["parent"])
    return [f"thread {thread}: {len(texts)} different parents" for thread, texts in parents.items() if len(texts) > 1]


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def check_extra(extra: list[dict], replies: list[dict]) -> list[str]:
    """Extra rows: valid, `split: train`, ids unique across both files, no text of `replies.jsonl`."""
    errors = [f"{row.get('id')}: {problem}" for row in extra for problem in problems({**row, "split": None})
              if "breaks the rule" not in problem]
    errors += [f"{row['id']}: extra rows are training only" for row in extra if row.get("split") != "train"]
    ids = Counter(row["id"] for row in extra + replies)
    errors += [f"{id_}: id used {n} times" for id_, n in ids.items() if n > 1]
    texts = {row["text"].strip() for row in replies}
    errors += [f"{row['id']}: repeats a reply of replies.jsonl" for row in extra if row["text"].strip() in texts]
    return errors


def check_blind_dev(dev: list[dict], others: list[dict], name: str = "dev2") -> list[str]:
    """A blind set (`name`: dev2, dev3, test2): valid rows, `split: <name>`, one parent per thread, ids and
    threads its own, no text of the other files (`others`: replies.jsonl, extra_train.jsonl, the
    other blind dev sets)."""
    errors = [f"{row.get('id')}: {problem}" for row in dev for problem in problems({**row, "split": None})
              if "breaks the rule" not in problem]
    errors += [f"{row['id']}: rows of {name}.jsonl carry split {name}" for row in dev if row.get("split") != name]
    errors += [f"{id_}: id used {n} times" for id_, n in Counter(row["id"] for row in dev + others).items() if n > 1]
    threads = {row["thread"] for row in others}
    errors += [f"{row['id']}: thread {row['thread']} is another file's" for row in dev if row["thread"] in threads]
    errors += parent_conflicts(dev)
    texts = {row["text"].strip() for row in others}
    errors += [f"{row['id']}: repeats a reply of another file" for row in dev if row["text"].strip() in texts]
    return errors


def beside(name: str, rows: list[dict], extra: list[dict], blind: dict[str, list[dict]]) -> list[dict]:
    """The rows blind set `name` must share no id, thread or reply with: every other file's."""
    return rows + extra + [row for other, dev in blind.items() if other != name for row in dev]


def read_blind_dev(name: str) -> list[dict]:
    path = BLIND_SETS[name]
    return read_rows(path) if path.is_file() else []


def unseen_rows(parts: list[Path], seen_rows: list[dict], split: str) -> tuple[list[dict], int]:
    """The parts' rows marked `split`, dropping any whose text is in `seen_rows` or an earlier row."""
    seen = {row["text"].strip() for row in seen_rows}
    kept, dropped = [], 0
    for path in parts:
        for row in read_rows(path):
            if row["text"].strip() in seen:
                dropped += 1
                continue
            seen.add(row["text"].strip())
            kept.append({**row, "split": split})
    return kept, dropped


def add_extra(parts: list[Path], replies: list[dict]) -> tuple[list[dict], int]:
    """The extra file with the parts' rows appended; rows repeating any text seen so far (in
    replies.jsonl, the extra file or a blind dev set) are dropped."""
    extra = read_rows(EXTRA)
    blind = [row for name in BLIND_SETS for row in read_blind_dev(name)]
    added, dropped = unseen_rows(parts, replies + extra + blind, "train")
    return extra + added, dropped


def summary(rows: list[dict]) -> dict:
    return {
        "rows": len(rows), "threads": len({row["thread"] for row in rows}),
        "by_split": dict(Counter(row["split"] for row in rows)),
        "by_split_and_label": {split: dict(Counter(row["label"] for row in rows if row["split"] == split))
                               for split in ("train", "dev", "test")},
        "by_kind": dict(sorted(Counter(row["kind"] for row in rows).items())),
        "disagreements": sum(row["is_disagreement"] for row in rows),
        "reasoned_disagreements": sum(bool(row["reasoned"]) for row in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assemble", type=Path, default=None, metavar="PARTS")
    parser.add_argument("--check", action="store_true", help="validate the file and print its counts (the default)")
    parser.add_argument("--write-splits", action="store_true", help="also write dev.jsonl and test.jsonl")
    parser.add_argument("--add-extra", type=Path, nargs="+", default=None, metavar="FILE",
                        help="append these training-only rows to extra_train.jsonl")
    for name, role in BLIND_SET_ROLES.items():
        parser.add_argument(f"--add-{name}", type=Path, nargs="+", default=None, metavar="FILE",
                            help=f"write these rows as {role}, {name}.jsonl (dropping texts seen elsewhere)")
    args = parser.parse_args(argv)
    rows = assemble(args.assemble) if args.assemble is not None else read_rows(OUT)
    extra, dropped = add_extra(args.add_extra, rows) if args.add_extra else (read_rows(EXTRA), 0)
    blind = {name: read_blind_dev(name) for name in BLIND_SETS}
    added_blind = [name for name in BLIND_SETS if getattr(args, f"add_{name}")]
    for name in added_blind:
        blind[name], dropped_blind = unseen_rows(getattr(args, f"add_{name}"), beside(name, rows, extra, blind), name)
        print(f"{name}.jsonl: {len(blind[name])} rows ({dropped_blind} dropped: their text was already elsewhere)")
    errors = check(rows) + check_extra(extra, rows)
    errors += [error for name in BLIND_SETS
               for error in check_blind_dev(blind[name], beside(name, rows, extra, blind), name)]
    if errors:
        print("\n".join(errors[:50]), file=sys.stderr)
        return 1
    outputs = {OUT: rows} if args.assemble is not None else {}
    if args.add_extra:
        outputs[EXTRA] = extra
        print(f"extra_train.jsonl: {len(extra)} rows ({dropped} dropped: their text was already there)")
    outputs.update({BLIND_SETS[name]: blind[name] for name in added_blind})
    if args.write_splits:
        outputs.update({DATA_DIR / f"{split}.jsonl": [row for row in rows if row["split"] == split]
                        for split in ("dev", "test")})
    for path, chosen in outputs.items():
        with open(path, "w", encoding="utf-8") as handle:
            for row in chosen:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(json.dumps(summary(rows), ensure_ascii=False, indent=1))
    print("extra_train.jsonl:", json.dumps({"rows": len(extra), "by_label": dict(Counter(r["label"] for r in extra)),
                                            "by_kind": dict(sorted(Counter(r["kind"] for r in extra).items()))},
                                           ensure_ascii=False))
    for name, dev in blind.items():
        if dev:
            print(f"{name}.jsonl:", json.dumps({"rows": len(dev), "threads": len({r["thread"] for r in dev}),
                                                "by_label": dict(Counter(r["label"] for r in dev)),
                                                "by_kind": dict(sorted(Counter(r["kind"] for r in dev).items()))},
                                               ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
