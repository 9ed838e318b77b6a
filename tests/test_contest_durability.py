"""A judgement answered 2xx survives the server being killed (SIGKILL) mid-stream: the real server
process, the SQLite store in WAL mode with synchronous=FULL, judges posting from several threads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

QUALITY = Path(sys.executable).parent / "quality"
ACKNOWLEDGED_BEFORE_KILL = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(state_dir: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "QUALITY_STATE_DIR": str(state_dir), "QUALITY_PORT": str(port)}
    process = subprocess.Popen([str(QUALITY), "serve"], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json().get("ready"):
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not become ready in 120 s")


@pytest.mark.slow
def test_no_acknowledged_judgement_is_lost_when_the_server_is_killed(tmp_path):
    if not QUALITY.exists():
        pytest.skip(f"no `quality` entry point beside {sys.executable}")
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port, log)
    try:
        contest = httpx.post(f"{base}/contests", json={"name": "kill", "theme": "长途旅行"}).json()["id"]
        entries = [httpx.post(f"{base}/contests/{contest}/entries", json={"text": text}, timeout=30).json()["id"]
                   for text in ("第一次跑长途，从北京开到青岛，一路顺利。", "自驾去海边，路上堵了三个小时。")]
        acknowledged: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def judge(name: str) -> None:
            with httpx.Client(base_url=base, timeout=5) as client:
                n = 0
                while not stop.is_set():
                    n += 1
                    winner, loser = entries if n % 2 else entries[::-1]
                    try:
                        answer = client.post(f"/contests/{contest}/judgements",
                                             json={"judge": name, "winner": winner, "loser": loser})
                    except httpx.HTTPError:
                        return  # the server is gone
                    if 200 <= answer.status_code < 300:
                        with lock:
                            acknowledged.append(answer.json()["judgement"]["id"])

        threads = [threading.Thread(target=judge, args=(f"judge-{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        deadline = time.time() + 60
        while len(acknowledged) < ACKNOWLEDGED_BEFORE_KILL and time.time() < deadline:
            time.sleep(0.01)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        server.wait(10)
        stop.set()
        for thread in threads:
            thread.join(10)
        assert len(acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, log.read_text(errors="replace")[-2000:]
    finally:
        if server.poll() is None:
            server.kill()

    server = start_server(tmp_path, port, log)
    try:
        stored = {j["id"] for j in httpx.get(f"{base}/contests/{contest}/judgements", timeout=30).json()}
        missing = set(acknowledged) - stored
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged judgements lost"
        assert httpx.get(f"{base}/contests/{contest}/ranking", timeout=30).status_code == 200
    finally:
        server.terminate()
        server.wait(30)
