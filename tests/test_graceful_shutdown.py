"""Graceful shutdown of the real server (issue 10): on SIGTERM, requests already in flight --
single posts waiting in the micro-batcher's queue and a batch being scored -- are all answered
200, new connections are refused, and the process finishes by itself (lifespan shutdown complete)."""

from __future__ import annotations

import signal
import sys
import threading
import time

import httpx
import pytest

from tests.test_contest_durability import QUALITY, free_port, start_server

# ~2,000 characters: a few hundred ms each on 2 cores, so the posts queue behind each other.
LONG_POST = ("第一次自驾长途，从北京开到青岛，高速油耗6.8L，服务区充电排队半小时。" * 60)[:2000]
SINGLE_POSTS = 12


@pytest.mark.slow
def test_sigterm_answers_everything_in_flight_then_exits(tmp_path):
    if not QUALITY.exists():
        pytest.skip(f"no `quality` entry point beside {sys.executable}")
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path / "state", port, log)
    answers: dict[str, int | str] = {}
    lock = threading.Lock()

    def post(name: str, path: str, body: dict) -> None:
        try:
            status = httpx.post(base + path, json=body, timeout=120).status_code
        except httpx.HTTPError as error:
            status = f"{type(error).__name__}: {error}"
        with lock:
            answers[name] = status

    try:
        threads = [threading.Thread(target=post, args=(f"single-{i}", "/score", {"text": f"{i}：{LONG_POST}"}))
                   for i in range(SINGLE_POSTS)]
        threads.append(threading.Thread(target=post, args=(
            "batch", "/score/batch", {"items": [{"text": f"批{i}：{LONG_POST}"} for i in range(16)]})))
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # all connected and waiting: the scorer needs several seconds for them
        with lock:
            assert len(answers) < len(threads), "everything was answered before SIGTERM: nothing was in flight"
        in_flight_at_signal = len(threads) - len(answers)
        server.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(httpx.ConnectError):  # no new connections once shutting down
            httpx.get(base + "/health", timeout=5)
        for thread in threads:
            thread.join(180)
        # uvicorn finishes, then re-raises the signal it caught: exit by SIGTERM after a clean finish.
        assert server.wait(60) in (0, -signal.SIGTERM), log.read_text(errors="replace")[-2000:]
    finally:
        if server.poll() is None:
            server.kill()
    assert answers == {name: 200 for name in answers} and len(answers) == len(threads), answers
    assert in_flight_at_signal >= 2
    text = log.read_text(errors="replace")
    assert "Application shutdown complete" in text and "Finished server process" in text, text[-2000:]
