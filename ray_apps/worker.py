"""What runs on a Ray worker: callable classes for `Dataset.map_batches`, one instance per actor.

Each is built from configuration only (a `Settings` dump and paths); its constructor builds a
`QualityService` and loads every model once, and each call then scores whole parts. Nothing
here imports ray, so the classes also run in-process (tests, the benchmark's baseline).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ray_apps.parts import Part, chunks, read_part, write_part
from quality.records import score_rows
from quality.settings import Settings

CHUNK = 64  # as api.cli.CHUNK and eval.run.BATCH: posts scored together


def worker_settings(settings: Settings, cpus: float) -> dict:
    """The settings a worker builds its service from: the driver's, with as many onnxruntime
    threads as the worker has CPUs (results do not depend on the thread count)."""
    values = settings.model_dump(mode="json")
    values["threads"] = max(1, int(cpus))
    return values


def build_service(settings: dict):
    from quality.service import QualityService

    service = QualityService(Settings(**settings))
    service.warm_up()  # every model loaded here, once per actor
    return service


def _column(batch, name: str) -> list:
    if hasattr(batch, "column"):  # pyarrow.Table
        return batch.column(name).to_pylist()
    return list(batch[name])


def _table(columns: dict):
    import pyarrow as pa

    return pa.table(columns)


class ScoreParts:
    """Scores the posts of each part as `quality score` does (`quality.records.score_rows` on chunks
    of 64) and writes the part's JSONL file. Returns one row per part: index, rows, failed, seconds."""

    def __init__(self, settings: dict, parts_dir: str, service=None):
        self.service = service if service is not None else build_service(settings)
        self.parts_dir = Path(parts_dir)

    def __call__(self, batch):
        out = {"part": [], "rows": [], "failed": [], "seconds": []}
        for spec in _column(batch, "spec"):
            started = time.perf_counter()
            part = Part.from_json(spec)
            failed = 0

            def lines():
                nonlocal failed
                for chunk in chunks(read_part(part, CHUNK), CHUNK):
                    for record in score_rows(self.service, chunk):
                        failed += "error" in record
                        yield json.dumps(record, ensure_ascii=False)

            n = write_part(self.parts_dir, part.index, lines())
            out["part"].append(part.index)
            out["rows"].append(n)
            out["failed"].append(failed)
            out["seconds"].append(time.perf_counter() - started)
        return _table(out)


def eval_value(task, result, pair: bool):
    """What `eval.run.evaluate` keeps of a result (and records in its checkpoint)."""
    if pair:
        return [task.model_score(result), task.uncalibrated_score(result)]
    return task.model_score(result)


class EvalParts:
    """Scores labelled rows as `eval.run.score_labelled` does (same batches of 64, same posts) and
    returns, per part, the JSON list of [row index, value] that its checkpoint records."""

    def __init__(self, settings: dict, task: str, folder: str, pair: bool, service=None):
        from eval.tasks import TASKS

        self.service = service if service is not None else build_service(settings)
        self.task = TASKS[task]
        self.folder = Path(folder)
        self.pair = pair

    def __call__(self, batch):
        from eval.data import LabelledRow
        from eval.tasks import post_for_row
        from quality.errors import QualityError

        out = {"part": [], "values": []}
        for spec in _column(batch, "spec"):
            part = json.loads(spec)
            values = []
            for chunk in part["chunks"]:
                found: dict[int, object] = {index: None for index, _ in chunk}
                positions, posts = [], []
                for index, row in chunk:
                    try:
                        posts.append(post_for_row(self.task, LabelledRow(
                            text=row["text"], label=0.0, parent_text=row["parent_text"], title=row["title"],
                            images=tuple(row["images"])), self.folder))
                        positions.append(index)
                    except (OSError, QualityError):
                        pass
                for index, result in zip(positions, self.service.score_each(posts)):
                    if not isinstance(result, QualityError):
                        found[index] = eval_value(self.task, result, self.pair)
                values.extend([index, value] for index, value in found.items())
            out["part"].append(part["index"])
            out["values"].append(json.dumps(values))
        return _table(out)
