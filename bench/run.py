"""The benchmark harness: starts the real server on loopback and measures it with an HTTP client.

    make bench            # writes bench/results/latest.json and prints a table

Every request loop is bounded in count and in time and targets 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
TIME_BUDGET_S = 20.0  # per scenario: a noisy machine must not make the bench run forever
TEXT = "提车三个月跑了5000公里，高速油耗6.2L，首保花了380元。首先说优点：动力够用；其次是缺点：胎噪偏大，建议换静音胎。"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photo_1080p_b64() -> str:
    photos = sorted((ROOT.parent / "shared" / "data" / "photos" / "general").glob("*.jpg"))
    if photos:
        image = Image.open(photos[0]).convert("RGB").resize((1920, 1080))
    else:  # no shared photos: a synthetic scene of the same size
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return base64.b64encode(buffer.getvalue()).decode()


def photo_pipeline(data_b64: str, runs: int = 40) -> dict:
    """In-process cost of one 1080p JPEG, stage by stage (medians, ms), on the same models as the server.

    References beside the total: the v0 heuristics alone, and the network's forward pass alone.
    """
    from quality.image.composition import assess_composition
    from quality.image.decode import decode_base64_image
    from quality.image.scorer import CompositionScorer
    from quality.model_store import ModelStore
    from quality.settings import Settings

    settings = Settings()
    scorer = CompositionScorer(ModelStore(settings))
    limits = settings.limits
    stages: dict[str, list[float]] = {"decode": [], "network": [], "heuristics": [], "decode_and_score": []}

    def timed(name, fn):
        started = time.perf_counter()
        value = fn()
        stages[name].append(1000 * (time.perf_counter() - started))
        return value

    decode = lambda: decode_base64_image(data_b64, max_bytes=limits.max_image_bytes,  # noqa: E731
                                         max_pixels=limits.max_image_pixels)
    deadline = time.perf_counter() + TIME_BUDGET_S
    for _ in range(runs):
        if time.perf_counter() > deadline:
            break
        image = timed("decode", decode)
        if scorer.network is not None:
            timed("network", lambda: scorer.network.run([image.rgb]))
        timed("heuristics", lambda: assess_composition(image, 0))
        timed("decode_and_score", lambda: scorer.score_batch([[decode()]]))
    return {f"{name}_p50_ms": round(statistics.median(v), 2) for name, v in stages.items() if v} | {
        "n": len(stages["decode"])}


def start_server(port: int, state_dir: str) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "QUALITY_STATE_DIR": state_dir},  # the contest bench's database: a temp folder
    )
    deadline = started + 60
    while time.perf_counter() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json().get("ready"):
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not become ready in 60 s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):  # peak resident set size
            return int(line.split()[1]) / 1024
    return float("nan")


def latency_run(client: httpx.Client, url: str, body: dict, count: int, concurrency: int = 1) -> dict:
    def one(_):
        started = time.perf_counter()
        response = client.post(url, json=body)
        response.raise_for_status()
        return time.perf_counter() - started

    for _ in range(3):  # warm-up
        one(None)
    deadline = time.perf_counter() + TIME_BUDGET_S
    latencies: list[float] = []
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        while len(latencies) < count and time.perf_counter() < deadline:
            latencies.extend(pool.map(one, range(concurrency)))
    elapsed = time.perf_counter() - started
    ms = sorted(1000 * x for x in latencies)
    return {
        "n": len(ms),
        "concurrency": concurrency,
        "p50_ms": round(statistics.median(ms), 2),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 2),
        "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 2),
        "requests_per_s": round(len(ms) / elapsed, 1),
    }


CONTEST_ENTRIES, CONTEST_VOTES, RANKING_RUNS = 500, 2000, 15


def contest_ranking(client: httpx.Client, base: str) -> dict:
    """GET /contests/{id}/ranking of a contest with 500 stored entries and 2,000 judges' votes, each
    request after a new vote (so none is served from the ranking cache); beside it, the ranking
    computation alone in process on a synthetic contest of the same size."""
    from quality.contests.ranking import rank, synthetic_contest

    contest = client.post(f"{base}/contests", json={"name": "bench", "theme": "我的第一次长途旅行"}).json()["id"]
    started = time.perf_counter()
    ids = [client.post(f"{base}/contests/{contest}/entries",
                       json={"text": f"第{i}次长途自驾，{TEXT[(i * 7) % 40:]}{i}"}).raise_for_status().json()["id"]
           for i in range(CONTEST_ENTRIES)]
    adding_s = time.perf_counter() - started
    _, preferences = synthetic_contest(CONTEST_ENTRIES, CONTEST_VOTES + RANKING_RUNS, seed=1)
    order = sorted({p.winner for p in preferences} | {p.loser for p in preferences})
    by_item = dict(zip(order, ids))
    votes = [{"judge": p.judge, "winner": by_item[p.winner], "loser": by_item[p.loser]} for p in preferences]
    started = time.perf_counter()
    for vote in votes[:CONTEST_VOTES]:
        client.post(f"{base}/contests/{contest}/judgements", json=vote).raise_for_status()
    voting_s = time.perf_counter() - started
    latencies = []
    for vote in votes[CONTEST_VOTES:]:
        client.post(f"{base}/contests/{contest}/judgements", json=vote).raise_for_status()
        begun = time.perf_counter()
        client.get(f"{base}/contests/{contest}/ranking").raise_for_status()
        latencies.append(1000 * (time.perf_counter() - begun))
    items, in_process_votes = synthetic_contest(CONTEST_ENTRIES, CONTEST_VOTES, seed=1)
    in_process = []
    for _ in range(RANKING_RUNS):
        begun = time.perf_counter()
        rank(items, in_process_votes, bootstrap=100)
        in_process.append(1000 * (time.perf_counter() - begun))
    return {"entries": CONTEST_ENTRIES, "votes": CONTEST_VOTES, "n": len(latencies),
            "ranking_http_p50_ms": round(statistics.median(latencies), 1),
            "ranking_http_max_ms": round(max(latencies), 1),
            "rank_in_process_p50_ms": round(statistics.median(in_process), 1),
            "add_entry_mean_ms": round(1000 * adding_s / CONTEST_ENTRIES, 1),
            "judgement_mean_ms": round(1000 * voting_s / CONTEST_VOTES, 1)}


def main() -> None:
    import tempfile

    port = free_port()
    state_dir = tempfile.mkdtemp(prefix="quality-bench-")
    process, cold_start_s = start_server(port, state_dir)
    base = f"http://127.0.0.1:{port}"
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                     "cold_start_s": round(cold_start_s, 2)}
    try:
        with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=64)) as client:
            text_post = {"text": TEXT}
            results["text_post_c1"] = latency_run(client, f"{base}/score", text_post, 300)
            results["text_post_c8"] = latency_run(client, f"{base}/score", text_post, 400, concurrency=8)
            batch = {"items": [{"id": str(i), "text": f"{TEXT}{i}"} for i in range(256)]}
            run = latency_run(client, f"{base}/score/batch", batch, 10)
            run["posts_per_s"] = round(256 * run["requests_per_s"], 1)
            results["batch_256_text"] = run
            photo_post = {"text": TEXT, "images": [{"data": photo_1080p_b64()}]}
            results["photo_1080p_c1"] = latency_run(client, f"{base}/score", photo_post, 100)
            results["photo_only_1080p_c1"] = latency_run(client, f"{base}/score", {"images": photo_post["images"]}, 100)
            results["contest_ranking"] = contest_ranking(client, base)
        results["peak_rss_mb"] = round(rss_mb(process.pid), 1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        import shutil

        shutil.rmtree(state_dir, ignore_errors=True)
    results["photo_pipeline_1080p"] = photo_pipeline(photo_1080p_b64())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"cold start {results['cold_start_s']} s, peak RSS {results['peak_rss_mb']} MB")
    print(f"{'scenario':<18}{'n':>6}{'conc':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}")
    for name, run in results.items():
        if isinstance(run, dict) and "p50_ms" in run:
            print(f"{name:<18}{run['n']:>6}{run['concurrency']:>6}{run['p50_ms']:>9}{run['p95_ms']:>9}"
                  f"{run['p99_ms']:>9}{run['requests_per_s']:>9}")
    print(f"batch throughput: {results['batch_256_text']['posts_per_s']} text posts/s")
    pipeline = results["photo_pipeline_1080p"]
    print("one 1080p JPEG in process (median ms): " + ", ".join(
        f"{k.removesuffix('_p50_ms')} {v}" for k, v in pipeline.items() if k.endswith("_p50_ms")))
    contest = results["contest_ranking"]
    print(f"contest ranking, {contest['entries']} entries / {contest['votes']} votes: GET ranking p50 "
          f"{contest['ranking_http_p50_ms']} ms (max {contest['ranking_http_max_ms']}), rank() in process "
          f"{contest['rank_in_process_p50_ms']} ms; adding an entry {contest['add_entry_mean_ms']} ms, "
          f"a judgement {contest['judgement_mean_ms']} ms (means)")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
