"""Labelled replies for the reply-civility heads, from every source here whose licence lets us ship
the weights, as one `Example` shape.

| source | what counts as uncivil | context | used for |
|---|---|---|---|
| COLD train (Apache-2.0) | offensive (race, gender, region) | none | uncivil head |
| SWSR (MIT) | sexist comments (aimed at one woman or at women) | none | uncivil head; 20 % of its posts held aside |
| DiaSafety train (Apache-2.0) | "Offending User" responses labelled Unsafe | the context turn | uncivil head |
| ConvAbuse train (CC BY 4.0) | users' messages most annotators call abusive | the agent's turn | uncivil head |
| templates (`train/reply_templates.py`) | every uncivil kind of the guide | the parent | every head |
| the team's replies, train split (`data/replies/`) | every uncivil kind of the guide | the parent | every head |

Held out, never trained on: `cold_dev.csv`, SWSR's held-aside posts, DiaSafety's test split, and
the team's dev and test splits.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from quality.normalize import clean_text
from quality.settings import PROJECT_ROOT

REPLIES_FILE = PROJECT_ROOT / "data" / "replies" / "replies.jsonl"
SWSR_HELD_OUT_SHARE = 0.2


@dataclass(frozen=True)
class Example:
    """A reply as the service reads it: text and parent cleaned as `TextItem` cleans them."""

    text: str
    parent: str | None
    newcomer: bool
    uncivil: int  # 1 uncivil, 0 not
    constructive: int | None = None  # among replies that are not uncivil: 1 constructive, 0 neutral; None unknown
    disagreement: int | None = None  # 1 the reply disagrees with its parent; None unknown
    reasoned: int | None = None  # among disagreements: 1 with reasons; None unknown / not a disagreement
    source: str = ""
    kind: str = ""
    label: str = ""  # the three-way label where a source has it
    group: str = ""  # the conversation (the team's thread id), for folds that keep a thread together


def example(text: str, parent: str | None, newcomer: bool, uncivil: int, **labels) -> Example:
    """An Example with text and parent cleaned as the service cleans them before any model reads them."""
    return Example(clean_text(text), clean_text(parent) or None, newcomer, uncivil, **labels)


def _hash_share(key: str) -> float:
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0x100000000


def read_cold(path: Path, source: str = "cold") -> list[Example]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [example(row["TEXT"], None, False, int(row["label"]), source=source, kind=row.get("topic", ""))
                for row in csv.DictReader(handle) if row["TEXT"].strip()]


def read_swsr(path: Path) -> tuple[list[Example], list[Example]]:
    """(train, held out): held out by the Weibo post the comment answers, so no post is in both."""
    train, held_out = [], []
    with open(path, encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            text = row["comment_text"].strip()
            if not text:
                continue
            target = "individual" if row["target"] == "I" else ("group" if row["target"] == "G" else "")
            item = example(text, None, False, int(row["label"]), source="swsr",
                           kind=f"sexist_{target}" if row["label"] == "1" else "not_sexist")
            (held_out if _hash_share(row["weibo_id"]) < SWSR_HELD_OUT_SHARE else train).append(item)
    return train, held_out


def read_diasafety(path: Path, offending_only: bool = False) -> list[Example]:
    """Offending User pairs (Unsafe = uncivil) and, unless `offending_only`, the Safe responses of
    the other categories as civil replies."""
    out = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        offending = row["category"] == "Offending User"
        if offending or (not offending_only and row["label"] == "Safe"):
            out.append(example(row["response"], row["context"], False, int(offending and row["label"] == "Unsafe"),
                               source="diasafety", kind=row["category"]))
    return out


def read_convabuse(path: Path) -> list[Example]:
    """A user's message after the agent's, abusive when the annotators' mean is below 0."""
    out = []
    with open(path, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            votes = []
            for annotator in range(1, 9):
                for value in (1, 0, -1, -2, -3):
                    if row.get(f"Annotator{annotator}_is_abuse.{value}") == "1":
                        votes.append(value)
            text = (row.get("user") or "").strip()
            if not votes or not text:
                continue
            out.append(example(text, (row.get("agent") or "").strip() or None, False,
                               int(sum(votes) / len(votes) < 0), source="convabuse"))
    return out


def _three_way(row: dict, source: str) -> Example:
    label = row["label"]
    disagreement = row.get("is_disagreement")
    reasoned = row.get("reasoned")
    return example(
        row["text"], row.get("parent") or None, bool(row.get("parent_author_is_newcomer")), int(label == "uncivil"),
        constructive=None if label == "uncivil" else int(label == "constructive"),
        disagreement=None if disagreement is None else int(bool(disagreement)),
        reasoned=None if not disagreement or reasoned is None else int(bool(reasoned)),
        source=source, kind=row.get("kind", ""), label=label, group=row.get("thread", ""))


def read_templates(path: Path) -> list[Example]:
    return _read_team_file(path, "templates")


EXTRA_FILE = REPLIES_FILE.parent / "extra_train.jsonl"


def _read_team_file(path: Path, source: str) -> list[Example]:
    with open(path, encoding="utf-8") as handle:
        return [_three_way(json.loads(line), source) for line in handle if line.strip()]


def read_extra_team_replies(path: Path = EXTRA_FILE) -> list[Example]:
    """The team's extra training-only replies (`data/replies/extra_train.jsonl`)."""
    return _read_team_file(path, "team_extra")


DEV2_FILE = REPLIES_FILE.parent / "dev2.jsonl"


def read_dev2_replies(path: Path = DEV2_FILE) -> list[Example]:
    """The team's second dev set (`data/replies/dev2.jsonl`): new threads, written blind."""
    return _read_team_file(path, "team_dev2")


DEV3_FILE = REPLIES_FILE.parent / "dev3.jsonl"


def read_dev3_replies(path: Path = DEV3_FILE) -> list[Example]:
    """The team's third dev set (`data/replies/dev3.jsonl`): new threads, written blind; nothing is
    fitted on it, it only checks a choice."""
    return _read_team_file(path, "team_dev3")


def read_team_replies(split: str, path: Path = REPLIES_FILE) -> list[Example]:
    """The team's labelled replies of one split (train, dev or test)."""
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [_three_way(row, "team") for row in rows if row["split"] == split]
