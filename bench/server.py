"""The real server on loopback, measured with an HTTP client (httpx, keep-alive, one pool).

`load_run` is a closed loop: `concurrency` client threads each send, wait for the answer and
send again, until `count` requests have been sent or `budget_s` has passed (the requests in
flight then finish; the client timeout bounds them). Bodies are serialised once, up front, so
the client spends its CPU on the wire, not on JSON.

An overloaded server answers 503 + Retry-After at once (see api/limits.py for which routes and
limits). Such answers are counted as `rejected_503` (not in the latencies), and that client
thread waits Retry-After before its next request, as a well-behaved client would. At
concurrency 32 the rejected share is part of the result. Any other non-200 answer or transport
error is counted in `errors`.

Every request goes to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from bench.workload import ROOT, TEXT, photo_1080p_b64, rss_mb, scaled, scaled_count, summarize_ms

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`quality serve` in a subprocess: cold start to ready (/health) and to the first /score answer."""

    def __init__(self, state_dir: str, port: int | None = None, env: dict | None = None):
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(state_dir) / "server.log"
        self._log = open(self.log_path, "wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
            cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "QUALITY_STATE_DIR": state_dir, **(env or {})},  # the contest bench's database
        )
        self.ready_s = self.first_answer_s = float("nan")
        self.rss_at_ready_mb = float("nan")

    def wait_ready(self) -> None:
        deadline = self.started + START_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with code {self.process.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).json().get("ready"):
                    self.ready_s = time.perf_counter() - self.started
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"server did not become ready in {START_TIMEOUT_S} s: {self.log_tail()}")
        self.rss_at_ready_mb = rss_mb(self.process.pid, "VmRSS")
        httpx.post(f"{self.base}/score", json={"text": TEXT}, timeout=60).raise_for_status()
        self.first_answer_s = time.perf_counter() - self.started

    def peak_rss_mb(self) -> float:
        return rss_mb(self.process.pid, "VmHWM")

    def log_tail(self, lines: int = 5) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace").strip().splitlines()
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()


def load_run(client: httpx.Client, url: str, body: dict | None = None, *, count: int, concurrency: int = 1,
             budget_s: float = 10.0, warmup: int = 2, items: int = 1) -> dict:
    """Closed-loop load: GET `url` when `body` is None, else POST it as JSON. See the module docstring."""
    content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    headers = {"content-type": "application/json"}

    def send() -> tuple[float, httpx.Response]:
        started = time.perf_counter()
        response = client.get(url) if content is None else client.post(url, content=content, headers=headers)
        return time.perf_counter() - started, response

    for _ in range(warmup):  # sequential: connections open, first-call costs paid
        response = send()[1]
        if response.status_code == 503:
            time.sleep(float(response.headers.get("retry-after", 1)))
        else:
            response.raise_for_status()  # a scenario whose request fails is a broken bench, not a figure
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter = Counter()
    state = {"sent": 0, "rejected": 0}
    started = time.perf_counter()
    deadline = started + budget_s

    def worker() -> None:
        while True:
            with lock:
                if state["sent"] >= count or time.perf_counter() > deadline:
                    return
                state["sent"] += 1
            try:
                seconds, response = send()
            except httpx.HTTPError as error:
                with lock:
                    errors[type(error).__name__] += 1
                continue
            with lock:
                if response.status_code == 200:
                    latencies.append(seconds)
                elif response.status_code == 503:
                    state["rejected"] += 1
                else:
                    errors[str(response.status_code)] += 1
            if response.status_code == 503:
                wait = float(response.headers.get("retry-after", 1))
                time.sleep(max(0.0, min(wait, deadline - time.perf_counter())))

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    run = summarize_ms(latencies) | {
        "concurrency": concurrency, "sent": state["sent"], "rejected_503": state["rejected"],
        "errors": dict(errors), "elapsed_s": round(elapsed, 2),
        "stopped_by": "count" if state["sent"] >= count else "time",
        "requests_per_s": round(len(latencies) / elapsed, 1),
    }
    if items != 1:
        run["items"] = items
        run["posts_per_s"] = round(items * len(latencies) / elapsed, 1)
    return run


def batch_body(size: int) -> dict:
    return {"items": [{"id": str(i), "text": f"{TEXT}{i}"} for i in range(size)]}


# name: (path, body, items, concurrency, count, budget_s). Counts and budgets are multiplied by --scale.
def http_scenarios() -> dict[str, tuple]:
    photo = [{"data": photo_1080p_b64()}]
    text_post, photo_post, photo_only = {"text": TEXT}, {"text": TEXT, "images": photo}, {"images": photo}
    batch_64, batch_256 = batch_body(64), batch_body(256)
    return {
        # The HTTP floor: the same client, server and connections, no scoring.
        "health_c1": ("/health", None, 1, 1, 300, 3),
        "health_c8": ("/health", None, 1, 8, 600, 3),
        "health_c32": ("/health", None, 1, 32, 1000, 3),
        "text_post_c1": ("/score", text_post, 1, 1, 300, 10),
        "text_post_c8": ("/score", text_post, 1, 8, 400, 10),
        "text_post_c32": ("/score", text_post, 1, 32, 600, 10),
        "photo_1080p_c1": ("/score", photo_post, 1, 1, 100, 10),
        "photo_1080p_c8": ("/score", photo_post, 1, 8, 100, 10),
        "photo_1080p_c32": ("/score", photo_post, 1, 32, 150, 10),
        "photo_only_1080p_c1": ("/score", photo_only, 1, 1, 100, 10),
        "batch_64_text_c1": ("/score/batch", batch_64, 64, 1, 20, 10),
        "batch_64_text_c8": ("/score/batch", batch_64, 64, 8, 40, 12),
        "batch_64_text_c32": ("/score/batch", batch_64, 64, 32, 64, 12),
        "batch_256_text": ("/score/batch", batch_256, 256, 1, 10, 20),
    }


def run_http_scenarios(client: httpx.Client, base: str, scale: float = 1.0, progress=None,
                       server_peak_rss=None) -> dict:
    """Every scenario of `http_scenarios`, in order. `server_peak_rss()` (if given) is read after each
    run and stored as `server_peak_rss_mb`: the server's peak so far, so the run that raised it shows."""
    results = {}
    for name, (path, body, items, concurrency, count, budget_s) in http_scenarios().items():
        if progress:
            progress(name)
        results[name] = load_run(client, f"{base}{path}", body, items=items, concurrency=concurrency,
                                 count=scaled_count(count, scale, floor=min(count, concurrency)),
                                 budget_s=scaled(budget_s, scale), warmup=1 if items > 64 else 2)
        if server_peak_rss:
            results[name]["server_peak_rss_mb"] = server_peak_rss()
    return results


CONTEST_ENTRIES, CONTEST_VOTES, RANKING_RUNS = 500, 2000, 15
CONTEST_BUDGET_S = 180  # the whole scenario; past it, it stops and says so


def contest_ranking(client: httpx.Client, base: str, scale: float = 1.0) -> dict:
    """GET /contests/{id}/ranking of a contest with 500 stored entries and 2,000 judges' votes, each
    request after a new vote (so none is served from the ranking cache); beside it, the ranking
    computation alone in process on a synthetic contest of the same size.

    With --scale below 1 the contest is smaller (entries and votes scaled alike)."""
    from quality.contests.ranking import rank, synthetic_contest

    entries = scaled_count(CONTEST_ENTRIES, scale, floor=10)
    votes_n = scaled_count(CONTEST_VOTES, scale, floor=40)
    runs = scaled_count(RANKING_RUNS, scale, floor=2)
    deadline = time.perf_counter() + scaled(CONTEST_BUDGET_S, scale, floor=30)

    def check_time(stage: str) -> None:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"contest_ranking stopped while {stage}: over its time budget")

    contest = client.post(f"{base}/contests", json={"name": "bench", "theme": "我的第一次长途旅行"}).json()["id"]
    started = time.perf_counter()
    ids = []
    for i in range(entries):
        check_time("adding entries")
        entry = {"text": f"第{i}次长途自驾，{TEXT[(i * 7) % 40:]}{i}"}
        ids.append(client.post(f"{base}/contests/{contest}/entries", json=entry).raise_for_status().json()["id"])
    adding_s = time.perf_counter() - started
    _, preferences = synthetic_contest(entries, votes_n + runs, seed=1)
    order = sorted({p.winner for p in preferences} | {p.loser for p in preferences})
    by_item = dict(zip(order, ids))
    votes = [{"judge": p.judge, "winner": by_item[p.winner], "loser": by_item[p.loser]} for p in preferences]
    started = time.perf_counter()
    for vote in votes[:votes_n]:
        check_time("voting")
        client.post(f"{base}/contests/{contest}/judgements", json=vote).raise_for_status()
    voting_s = time.perf_counter() - started
    latencies = []
    for vote in votes[votes_n:]:
        check_time("ranking")
        client.post(f"{base}/contests/{contest}/judgements", json=vote).raise_for_status()
        begun = time.perf_counter()
        client.get(f"{base}/contests/{contest}/ranking").raise_for_status()
        latencies.append(1000 * (time.perf_counter() - begun))
    items, in_process_votes = synthetic_contest(entries, votes_n, seed=1)
    in_process = []
    for _ in range(runs):
        begun = time.perf_counter()
        rank(items, in_process_votes, bootstrap=100)
        in_process.append(1000 * (time.perf_counter() - begun))
    return {"entries": entries, "votes": votes_n, "n": len(latencies),
            "ranking_http_p50_ms": round(statistics.median(latencies), 1),
            "ranking_http_max_ms": round(max(latencies), 1),
            "rank_in_process_p50_ms": round(statistics.median(in_process), 1),
            "add_entry_mean_ms": round(1000 * adding_s / entries, 1),
            "judgement_mean_ms": round(1000 * voting_s / votes_n, 1)}


def import_floor() -> dict:
    """The reference for cold start and RSS: a fresh interpreter importing the app, no model loaded."""
    code = ("import json, pathlib; import api.app; "
            "hwm = [l for l in pathlib.Path('/proc/self/status').read_text().splitlines() if l.startswith('VmHWM:')]; "
            "print(json.dumps({'rss_mb': round(int(hwm[0].split()[1]) / 1024, 1)}))")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return {"import_s": round(seconds, 2), "rss_mb": json.loads(done.stdout.strip().splitlines()[-1])["rss_mb"]}
