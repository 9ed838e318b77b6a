"""Resumable scoring: what a long `quality eval` has scored so far, kept on disk batch by batch.

The checkpoint is a JSONL file of `[row index, value]` lines in QUALITY_CACHE_DIR/eval-checkpoints/,
named by a key over everything that decides the values (the data file's bytes, the task and
columns, the models' and the rubric's versions). An interrupted run started again with the same
inputs reads it and scores only the rows that are missing; a finished run deletes it. A
changed model, rubric or file gives another key, so stale values are never reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from quality.artifacts import cache_dir, sha256_file


def checkpoint_path(service, data_path: Path, what: dict) -> Path:
    key = hashlib.sha256(json.dumps({
        "data": sha256_file(data_path), "models": service.models_version, "rubric": service.rubric.sha256, **what,
    }, sort_keys=True, default=str).encode()).hexdigest()[:20]
    cache = cache_dir(service.settings.cache_dir)
    return cache / "eval-checkpoints" / f"{key}.jsonl"


class Checkpoint:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.done: dict[int, object] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        index, value = json.loads(line)
                    except (ValueError, TypeError):  # a line cut by the interruption
                        continue
                    self.done[int(index)] = value

    def record(self, values: dict[int, object]) -> None:
        """Append one batch's values and make them durable before scoring goes on."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            for index, value in values.items():
                handle.write(json.dumps([index, value]) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self.done.update(values)

    def finish(self) -> None:
        self.path.unlink(missing_ok=True)
