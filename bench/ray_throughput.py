"""Throughput of `quality score --engine ray` (Ray Data) with 1 and 2 workers on this machine.

    .venv/bin/python bench/ray_throughput.py                 # 1200 posts; writes bench/results/ray.json
    .venv/bin/python bench/ray_throughput.py --posts 300     # a quick run

Needs the ray extra (pip install '.[ray]'). Starts one local Ray instance on loopback with 2 CPUs
(QUALITY_RAY_WORKER_CPUS=1: each worker one CPU and one onnxruntime thread), scores the same
generated JSONL file of short posts with 1 worker, then 2, and for reference scores it in this
process with the local engine (one process, 2 threads, models already loaded). For each run:
- wall: end to end, with starting the workers and loading their models (about 15 s each);
- scoring: posts over the workers' time in scoring calls, per worker and added up: what a long
  job approaches once the workers are up.
The bench is bounded: one pass per setting over at most --posts posts. Each run records the load
average after it: on a machine shared with other work, compare runs only at similar load.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ray.json"

SENTENCES = [
    "提车三个月跑了{n}公里，高速油耗6.2L，市区8.5L左右。", "首保花了{p}元，4S店送了一次洗车。",
    "动力够用，超车的时候踩下去响应很快。", "胎噪偏大，过了100km/h车里说话要提高声音，建议换静音胎。",
    "后排空间很大，一米八的人坐着膝盖还有两拳。", "车机偶尔卡顿，OTA升级以后好了很多。",
    "冬天零下十度续航掉了三成，开暖风更明显。", "刹车脚感偏软，前半段没什么力，习惯了就好。",
    "底盘调校偏舒适，过减速带很柔和，但是高速变道有点飘。", "充电桩装在小区车位，晚上谷电充满只要三十块钱。",
    "有没有老司机说说，这个异响是不是减震器的问题？", "总体来说推荐购买，特别适合家用和周末短途出游。",
]


def make_posts(n: int, seed: int = 0) -> list[dict]:
    """`n` distinct short posts (1-4 sentences, about 20-120 characters), the same every run."""
    rng = random.Random(seed)
    posts = []
    for i in range(n):
        text = "".join(s.format(n=1000 + 37 * i, p=200 + i % 500) for s in rng.sample(SENTENCES, rng.randint(1, 4)))
        posts.append({"id": f"bench-{i}", "text": text})
    return posts


def local_reference(path: Path) -> dict:
    from api.cli import CHUNK, read_posts
    from quality.records import score_rows
    from quality.service import QualityService
    from quality.settings import Settings

    service = QualityService(Settings())
    service.warm_up()
    rows = list(read_posts(path))
    started = time.perf_counter()
    for start in range(0, len(rows), CHUNK):
        score_rows(service, rows[start:start + CHUNK])
    seconds = time.perf_counter() - started
    return {"engine": "local", "threads": service.settings.threads, "posts": len(rows), "seconds": round(seconds, 2),
            "posts_per_s": round(len(rows) / seconds, 1)}


def ray_run(path: Path, workers: int, part_rows: int, folder: Path) -> dict:
    from ray_apps.data_jobs import score_file
    from quality.settings import Settings

    output = folder / f"scores-{workers}.jsonl"
    job = score_file(path, output, settings=Settings(ray_part_rows=part_rows, ray_worker_cpus=1), workers=workers,
                     quiet=True)
    per_worker = (job.n_ok + job.n_failed) / job.scoring_seconds
    return {"engine": "ray", "workers": job.workers, "posts": job.n_ok + job.n_failed, "parts": job.n_parts,
            "wall_seconds": round(job.seconds, 2), "wall_posts_per_s": round((job.n_ok + job.n_failed) / job.seconds, 1),
            "scoring_posts_per_s_per_worker": round(per_worker, 1),
            "scoring_posts_per_s": round(per_worker * job.workers, 1)}


def _load() -> float:
    """The 1-minute load average after a run: on a shared 2-core machine, what else was running."""
    return round(os.getloadavg()[0], 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--posts", type=int, default=1200, help="posts per run (at most 20000)")
    parser.add_argument("--part-rows", type=int, default=128, help="posts per part (a multiple of 64)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--no-local", action="store_true", help="skip the local-engine reference")
    args = parser.parse_args(argv)
    n = max(64, min(args.posts, 20_000))

    from ray_apps import RayUnavailable
    from ray_apps.cluster import start_local

    folder = Path(tempfile.mkdtemp(prefix="quality-ray-bench-"))
    try:
        source = folder / "posts.jsonl"
        source.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in make_posts(n)), encoding="utf-8")
        runs = []
        try:
            start_local(num_cpus=2)
        except RayUnavailable as error:
            print(f"ray bench skipped: {error}", file=sys.stderr)
            return 2
        import ray

        try:
            for workers in (1, 2):
                print(f"Ray Data, {workers} worker(s), {n} posts ...", file=sys.stderr)
                runs.append({**ray_run(source, workers, args.part_rows, folder), "load_average_1m": _load()})
                print(json.dumps(runs[-1]), file=sys.stderr)
        finally:
            ray.shutdown()
        if not args.no_local:
            print(f"local engine, {n} posts ...", file=sys.stderr)
            runs.append({**local_reference(source), "load_average_1m": _load()})
            print(json.dumps(runs[-1]), file=sys.stderr)
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
              "posts": n, "part_rows": args.part_rows, "runs": runs}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"\n{'run':<26}{'wall s':>9}{'wall posts/s':>14}{'scoring posts/s':>17}")
    for run in runs:
        if run["engine"] == "ray":
            print(f"{'ray, ' + str(run['workers']) + ' worker(s)':<26}{run['wall_seconds']:>9}"
                  f"{run['wall_posts_per_s']:>14}{run['scoring_posts_per_s']:>17}")
        else:
            print(f"{'local, ' + str(run['threads']) + ' threads (warm)':<26}{run['seconds']:>9}"
                  f"{run['posts_per_s']:>14}{run['posts_per_s']:>17}")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
