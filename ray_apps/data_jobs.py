"""Offline scoring and evaluation on Ray Data: `quality score --engine ray`, `quality eval --engine ray`.

The driver plans parts (runs of consecutive rows, see `parts`), and a Ray Data pipeline
`from_items(parts).map_batches(ScoreParts, concurrency=workers)` hands them to a fixed pool of
actors; each actor loads the models once and scores one part per call, reading its rows from the
input file itself. Results are exactly `quality score`'s: the same reading, the same chunks of 64,
the same `quality.records.score_rows`.

Resuming. `quality score` writes each part to `OUT.parts/part-NNNNNN.jsonl` (atomically: a part
file that exists is complete), then joins them in order into OUT and removes the folder. Run the
same command again after an interruption and only the missing parts are scored. The folder's
`job.json` holds a key over the input's sha256, the models' and rubric's versions, the settings
that change results and the part size; parts of another job are discarded, never mixed in.
`quality eval` records each finished part in the checkpoint `quality eval` already keeps (see
`eval.checkpoint`), so the local and the Ray engine resume each other's runs.

Inputs and outputs must be on storage every Ray node sees at the same path (one machine, NFS...).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ray_apps import RayUnavailable, require_ray
from ray_apps.cluster import cluster_cpus, connect
from ray_apps.parts import (assemble, input_format, part_file, plan_parts,
                                       prepare_parts_dir, remove_parts_dir)
from ray_apps.worker import CHUNK, EvalParts, ScoreParts, worker_settings
from quality.artifacts import sha256_file
from quality.settings import Settings

# Settings that do not change a result (where and how it runs); every other one is in a job's key.
NOT_IN_KEY = {"host", "port", "max_in_flight", "threads", "photo_threads", "state_dir", "database_url", "ranking_bootstrap",
              "ranking_top_k", "cache_dir", "data_dir", "verify_checksums"}


@dataclass
class ScoreJob:
    output: Path
    n_ok: int
    n_failed: int
    n_parts: int
    parts_scored: int  # the others were finished by an earlier, interrupted run
    workers: int
    seconds: float  # wall time, with starting the workers and loading their models
    scoring_seconds: float = 0.0  # summed over the parts scored: the workers' time in scoring calls


def _check_no_recording(settings: Settings) -> None:
    if settings.photo_store is not None and settings.photo_store_record:
        raise ValueError("QUALITY_PHOTO_STORE_RECORD makes each result depend on the posts scored before it; "
                         "run such a job with --engine local (in order, one process)")


def _part_rows(settings: Settings, part_rows: int | None) -> int:
    rows = part_rows or settings.ray_part_rows
    return max(CHUNK, rows - rows % CHUNK)  # a multiple of 64: the same chunks as the local engine


def _workers(requested: int | None, cpus: float, n_parts: int, local: bool) -> int:
    """Actors in the pool: as asked, else as many as the cluster's CPUs hold; never more than parts."""
    available = cluster_cpus()
    fit = max(1, int(available // cpus))
    workers = requested or fit
    if workers > fit and local:
        raise ValueError(f"{workers} workers x {cpus:g} CPUs do not fit the local Ray instance's "
                         f"{available:g} CPUs: use --workers {fit} or fewer, or QUALITY_RAY_WORKER_CPUS")
    if workers > fit:
        # A fixed pool waits until all its actors are placed: on a cluster that does not grow,
        # that would be for ever.
        print(f"warning: {workers} workers x {cpus:g} CPUs need more than the {available:g} CPUs the Ray "
              "cluster has now; the job waits for the autoscaler to add nodes", file=sys.stderr)
    return max(1, min(workers, n_parts))


def _run_parts(items: list[str], worker_cls, constructor: dict, workers: int, cpus: float):
    """Rows from `worker_cls` over the part specs, as each part finishes."""
    require_ray()
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    dataset = ray.data.from_items([{"spec": item} for item in items], override_num_blocks=len(items))
    # A fixed pool of `workers` actors; each takes the next part only when it has finished one,
    # so parts are shared out evenly to the end.
    pool = ray.data.ActorPoolStrategy(size=workers, max_tasks_in_flight_per_actor=1)
    dataset = dataset.map_batches(worker_cls, fn_constructor_kwargs=constructor, batch_size=1,
                                  batch_format="pyarrow", compute=pool, num_cpus=cpus)
    yield from dataset.iter_rows()


def job_key(service, input_path: Path, part_rows: int) -> str:
    settings = {k: v for k, v in service.settings.model_dump(mode="json").items()
                if k not in NOT_IN_KEY and not k.startswith("ray_")}
    return hashlib.sha256(json.dumps({
        "input": sha256_file(input_path), "models": service.models_version, "rubric": service.rubric.sha256,
        "part_rows": part_rows, "settings": settings}, sort_keys=True, default=str).encode()).hexdigest()[:20]


def parts_dir_for(output: Path) -> Path:
    return output.with_name(output.name + ".parts")


def score_file(input_path: Path, output: Path, *, settings: Settings | None = None, workers: int | None = None,
               address: str | None = None, part_rows: int | None = None, keep_parts: bool = False,
               quiet: bool = False) -> ScoreJob:
    """Score a JSONL or Parquet file of posts on Ray Data into `output` (JSONL, or Parquet by its
    suffix), resuming an interrupted run of the same job."""
    from tqdm import tqdm

    from quality.service import QualityService

    started_at = time.perf_counter()
    settings = settings or Settings()
    _check_no_recording(settings)
    input_path, output = Path(input_path), Path(output)
    input_format(input_path)
    service = QualityService(settings)  # versions and checksums only: models load on the workers
    rows_per_part = _part_rows(settings, part_rows)
    parts = plan_parts(input_path, rows_per_part)
    parts_dir = parts_dir_for(output)
    key = job_key(service, input_path, rows_per_part)
    resumed = prepare_parts_dir(parts_dir, key, {"input": str(input_path), "output": str(output),
                                                 "parts": len(parts), "part_rows": rows_per_part})
    todo = [part for part in parts if not part_file(parts_dir, part.index).is_file()]
    if resumed:
        print(f"resuming: {len(parts) - len(todo)} of {len(parts)} parts already scored in {parts_dir}",
              file=sys.stderr)
    n_workers, scoring_seconds = 0, 0.0
    if todo:
        cpus = settings.ray_worker_cpus
        mode = connect(address)
        try:
            n_workers = _workers(workers, cpus, len(todo), mode == "local")
            done_rows = sum(part.n_rows for part in parts) - sum(part.n_rows for part in todo)
            with tqdm(total=sum(part.n_rows for part in parts), initial=done_rows, unit="post",
                      desc=f"scoring on {n_workers} Ray workers", file=sys.stderr, disable=quiet) as bar:
                constructor = {"settings": worker_settings(settings, cpus), "parts_dir": str(parts_dir)}
                for row in _run_parts([part.to_json() for part in todo], ScoreParts, constructor, n_workers, cpus):
                    bar.update(row["rows"])
                    scoring_seconds += row["seconds"]
        finally:
            if mode != "existing":
                require_ray().shutdown()
    n_ok, n_failed = assemble(parts_dir, len(parts), output)
    if not keep_parts:
        remove_parts_dir(parts_dir, len(parts))
    return ScoreJob(output, n_ok, n_failed, len(parts), len(todo), n_workers, time.perf_counter() - started_at,
                    scoring_seconds)


def cmd_score_ray(args) -> int:
    """`quality score --engine ray IN -o OUT`."""
    if args.output is None:
        print("quality score: --engine ray writes its results to a file: give -o OUT (.jsonl or .parquet)",
              file=sys.stderr)
        return 2
    try:
        job = score_file(args.input, args.output, workers=args.workers, address=args.ray_address,
                         keep_parts=getattr(args, "keep_parts", False), quiet=args.quiet)
    except RayUnavailable as error:
        print(f"quality score: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"quality score: {error}", file=sys.stderr)
        return 2
    print(f"scored {job.n_ok} posts, {job.n_failed} failed", file=sys.stderr)
    return 1 if (job.n_failed and args.fail_on_error) else 0


# -- evaluation ----------------------------------------------------------------------------
def _labelled_rows(service, args):
    """The rows `eval.run.evaluate` scores, in its order, and its checkpoint key (the same function
    reads them for both engines)."""
    from eval.run import labelled_for_eval

    task, data, _, key = labelled_for_eval(
        service, args.task, args.data, text_col=args.text_col, label_col=args.label_col, group_col=args.group_col,
        parent_col=args.parent_col, title_col=args.title_col, image_col=args.image_col,
        grade_scale=args.grade_scale, holdout=args.holdout)
    return task, data.rows, key


def fill_eval_checkpoint(service, task, rows, checkpoint, *, pair: bool, workers: int | None, folder: Path,
                         quiet: bool = False, local: bool = False) -> int:
    """Score the rows `checkpoint` lacks on the connected Ray instance, recording each part as it
    finishes. Batches are eval.run's: rows [64k, 64k + 64) less those already recorded."""
    from tqdm import tqdm

    from ray_apps.parts import chunks

    settings = service.settings
    cpus = settings.ray_worker_cpus
    batches = []
    for start in range(0, len(rows), CHUNK):
        todo = [i for i in range(start, min(start + CHUNK, len(rows))) if i not in checkpoint.done]
        if todo:
            batches.append([[i, {"text": rows[i].text, "title": rows[i].title, "parent_text": rows[i].parent_text,
                                 "images": list(rows[i].images)}] for i in todo])
    if not batches:
        return 0
    per_part = max(1, _part_rows(settings, None) // CHUNK)
    items = [json.dumps({"index": n, "chunks": group}) for n, group in enumerate(chunks(batches, per_part))]
    n_workers = _workers(workers, cpus, len(items), local)
    constructor = {"settings": worker_settings(settings, cpus), "task": task.name, "folder": str(folder),
                   "pair": pair}
    scored = 0
    with tqdm(total=len(rows), initial=len(checkpoint.done), unit="row", file=sys.stderr, disable=quiet,
              desc=f"scoring {task.name} on {n_workers} Ray workers") as bar:
        for row in _run_parts(items, EvalParts, constructor, n_workers, cpus):
            values = {int(index): value for index, value in json.loads(row["values"])}
            checkpoint.record(values)
            scored += len(values)
            bar.update(len(values))
    return scored


@contextmanager
def ray_scored_eval(service, args, compare_service=None):
    """Around `eval.run.main_eval`: first score every row on Ray into the checkpoints `evaluate`
    reads (so it only computes metrics), then check they were used."""
    from eval.checkpoint import Checkpoint, checkpoint_path
    from eval.data import LabelFileError

    if getattr(args, "pairs", False) or args.task == "civility_signal":
        raise LabelFileError("--engine ray scores labelled rows of the score tasks; run --pairs and civility_signal "
                             "with --engine local")
    _check_no_recording(service.settings)
    task, rows, key = _labelled_rows(service, args)
    jobs = [(service, task.uncalibrated_score is not None)]
    if compare_service is not None:
        jobs.append((compare_service, False))
    paths = []
    mode = connect(args.ray_address)
    try:
        for job_service, pair in jobs:
            path = checkpoint_path(job_service, Path(args.data), key)
            paths.append(path)
            fill_eval_checkpoint(job_service, task, rows, Checkpoint(path), pair=pair, workers=args.workers,
                                 folder=Path(args.data).parent, quiet=args.quiet, local=mode == "local")
    finally:
        if mode != "existing":
            require_ray().shutdown()
    yield
    for path in paths:
        if path.is_file():  # evaluate() deletes the checkpoint it finished with
            print(f"quality eval: the Ray results in {path} were not used (eval.run changed how it reads rows?); "
                  "the rows were scored locally", file=sys.stderr)
            path.unlink(missing_ok=True)
