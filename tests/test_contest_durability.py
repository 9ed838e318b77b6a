"""A judgement answered 2xx survives a crash mid-stream: the real server process, judges posting
from several threads.

- The server is SIGKILLed, on SQLite (WAL, synchronous=FULL) and on PostgreSQL; after a restart
  every acknowledged judgement is there.
- On PostgreSQL, the postmaster is SIGKILLed instead (its backends go down with it) while the
  server keeps running; PostgreSQL is started again on the same data directory (crash recovery
  from the WAL). Requests during the outage get a JSON error at once (no hang), the server
  reconnects by itself, and every acknowledged judgement is there, through the API and in the
  table itself.

PostgreSQL runs in a throwaway cluster of its own with fsync, synchronous_commit and full-page
writes on (the `durable_postgres` fixture, conftest.py / tests/postgres.py); those cases are
skipped when the PostgreSQL binaries are missing.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from quality.contests.tables import new_id

QUALITY = Path(sys.executable).parent / "quality"
ACKNOWLEDGED_BEFORE_KILL = 60
ACKNOWLEDGED_AFTER_RECOVERY = 20
CLIENT_TIMEOUT_S = 5.0
TEXTS = ("第一次跑长途，从北京开到青岛，一路顺利。", "自驾去海边，路上堵了三个小时。")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(state_dir: Path, port: int, log: Path, database_url: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "QUALITY_STATE_DIR": str(state_dir), "QUALITY_PORT": str(port)}
    env.pop("QUALITY_DATABASE_URL", None)
    if database_url:
        env["QUALITY_DATABASE_URL"] = database_url
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


def new_contest(base: str) -> tuple[str, list[str]]:
    answer = httpx.post(f"{base}/contests", json={"name": "kill", "theme": "长途旅行"}, timeout=30)
    assert answer.status_code == 201, answer.text
    contest = answer.json()["id"]
    entries = [httpx.post(f"{base}/contests/{contest}/entries", json={"text": text}, timeout=30).json()["id"]
               for text in TEXTS]
    return contest, entries


@dataclass
class Failure:
    """A request not answered 2xx: its status (None: no answer, `body` is then the exception)
    and how long it took."""

    began: float
    status: int | None
    body: str
    seconds: float


class Judges:
    """Threads posting pair judgements as fast as answers come. `acknowledged`: ids answered 2xx;
    `failures`: every other outcome. `give_up_on_http_error`: a thread ends at its first transport
    error (the server is gone)."""

    def __init__(self, base: str, contest: str, entries: list[str], *, threads: int = 4,
                 give_up_on_http_error: bool = True):
        self.base, self.contest, self.entries = base, contest, entries
        self.give_up = give_up_on_http_error
        self.acknowledged: list[str] = []
        self.failures: list[Failure] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._judge, args=(f"judge-{i}",), daemon=True)
                        for i in range(threads)]

    def start(self) -> Judges:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S * 2)
        assert not any(thread.is_alive() for thread in self.threads), "a judge thread is stuck"

    def count(self) -> int:
        with self.lock:
            return len(self.acknowledged)

    def wait_for(self, n: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.count() >= n

    def _judge(self, name: str) -> None:
        with httpx.Client(base_url=self.base, timeout=CLIENT_TIMEOUT_S) as client:
            n = 0
            while not self.stopping.is_set():
                n += 1
                winner, loser = self.entries if n % 2 else self.entries[::-1]
                began = time.monotonic()
                try:
                    answer = client.post(f"/contests/{self.contest}/judgements",
                                         json={"judge": name, "winner": winner, "loser": loser})
                except httpx.HTTPError as error:
                    with self.lock:
                        self.failures.append(Failure(began, None, f"{type(error).__name__}: {error}",
                                                     time.monotonic() - began))
                    if self.give_up:
                        return  # the server is gone
                    time.sleep(0.02)
                    continue
                with self.lock:
                    if 200 <= answer.status_code < 300:
                        self.acknowledged.append(answer.json()["judgement"]["id"])
                    else:
                        self.failures.append(Failure(began, answer.status_code, answer.text[:500],
                                                     time.monotonic() - began))
                if not 200 <= answer.status_code < 300:
                    time.sleep(0.05)  # no hot loop while the database is down


def audited_targets(base: str) -> list[str]:
    """The target of every row of the audit trail, through GET /audit (no keys set: open)."""
    targets, after = [], 0
    while True:
        page = httpx.get(f"{base}/audit", params={"after": after, "limit": 1000}, timeout=30).json()
        targets += [entry["target"] for entry in page["entries"]]
        if page["next_after"] is None:
            return targets
        after = page["next_after"]


def stored_judgements(base: str, contest: str) -> set[str]:
    answer = httpx.get(f"{base}/contests/{contest}/judgements", timeout=30)
    assert answer.status_code == 200, answer.text
    return {j["id"] for j in answer.json()}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request) -> str | None:
    """None: the server's default SQLite file in its state dir. Else a new database in the
    durable PostgreSQL cluster."""
    if request.param == "sqlite":
        return None
    cluster = request.getfixturevalue("durable_postgres")
    return cluster.create_database(f"kill_{new_id()[:12]}")


@pytest.fixture
def quality_entry_point() -> Path:
    if not QUALITY.exists():
        pytest.skip(f"no `quality` entry point beside {sys.executable}")
    return QUALITY


def assert_durable_settings(cluster) -> None:
    settings = {name: cluster.setting(name) for name in ("fsync", "synchronous_commit", "full_page_writes")}
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


@pytest.mark.slow
def test_no_acknowledged_judgement_is_lost_when_the_server_is_killed(quality_entry_point, store_url, tmp_path,
                                                                      request):
    if store_url:
        assert_durable_settings(request.getfixturevalue("durable_postgres"))
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port, log, store_url)
    try:
        contest, entries = new_contest(base)
        judges = Judges(base, contest, entries).start()
        judges.wait_for(ACKNOWLEDGED_BEFORE_KILL, 60)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        server.wait(10)
        judges.stop()
        assert len(judges.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL, log.read_text(errors="replace")[-2000:]
    finally:
        if server.poll() is None:
            server.kill()

    server = start_server(tmp_path, port, log, store_url)
    try:
        missing = set(judges.acknowledged) - stored_judgements(base, contest)
        assert not missing, f"{len(missing)} of {len(judges.acknowledged)} acknowledged judgements lost"
        assert httpx.get(f"{base}/contests/{contest}/ranking", timeout=30).status_code == 200
        # The audit trail: a row for every acknowledged judgement, none lost either.
        unaudited = set(judges.acknowledged) - set(audited_targets(base))
        assert not unaudited, f"{len(unaudited)} acknowledged judgements have no audit row"
    finally:
        server.terminate()
        server.wait(30)


@pytest.mark.slow
def test_no_acknowledged_judgement_is_lost_when_postgresql_is_killed(quality_entry_point, durable_postgres, tmp_path):
    cluster = durable_postgres
    assert_durable_settings(cluster)
    database = f"pmkill_{new_id()[:12]}"
    url = cluster.create_database(database)
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port, log, url)
    try:
        contest, entries = new_contest(base)
        judges = Judges(base, contest, entries, give_up_on_http_error=False).start()
        try:
            assert judges.wait_for(ACKNOWLEDGED_BEFORE_KILL, 60), log.read_text(errors="replace")[-2000:]
            killed_at = time.monotonic()
            backends = cluster.kill_postmaster()  # mid-stream: commits are in flight
            down_at = time.monotonic()
            acknowledged_at_kill = judges.count()
            time.sleep(2.0)  # an outage the judges keep posting through
            cluster.start()  # crash recovery from the WAL, then accepting connections
            up_at = time.monotonic()
            assert_durable_settings(cluster)
            recovered = judges.wait_for(judges.count() + ACKNOWLEDGED_AFTER_RECOVERY, 30)
            recovered_at = time.monotonic()
        finally:
            judges.stop()
        assert server.poll() is None, f"the server died with PostgreSQL: {log.read_text(errors='replace')[-2000:]}"
        assert recovered, ("the server did not answer 2xx again within 30 s of PostgreSQL being back: "
                           f"{judges.failures[-3:]}")

        # Every outcome other than a 2xx was prompt (no hang, no timeout) and the contract's
        # "retry shortly": 503 `unavailable` with its JSON body (quality.contests.store maps a
        # database it cannot reach to it). No bare 500, no dropped connection.
        assert judges.failures, "no request failed while PostgreSQL was down: was it down?"
        outcomes = Counter()
        for failure in judges.failures:
            assert failure.seconds < CLIENT_TIMEOUT_S, f"{failure.seconds:.1f} s to fail: {failure}"
            assert failure.status == 503, failure
            try:
                error = json.loads(failure.body)["error"]
            except (ValueError, KeyError, TypeError):
                pytest.fail(f"an error without the contract's JSON body: {failure}")
            assert error.get("code") == "unavailable" and error.get("message"), failure
            outcomes[f"{failure.status} {error['code']}"] += 1
        print(f"\nPostgreSQL SIGKILLed with {len(backends)} child processes after {acknowledged_at_kill} "
              f"acknowledged; gone in {down_at - killed_at:.2f} s, back after {up_at - killed_at:.1f} s, "
              f"2xx again {recovered_at - up_at:.1f} s later. Failed requests: {dict(outcomes)}, slowest "
              f"{max(failure.seconds for failure in judges.failures):.2f} s; first: {judges.failures[0].body[:200]}")

        missing = set(judges.acknowledged) - stored_judgements(base, contest)
        assert not missing, f"{len(missing)} of {len(judges.acknowledged)} acknowledged judgements lost"
        with cluster.connect(database) as connection:
            in_table = {row[0] for row in connection.execute(
                "SELECT id FROM judgements WHERE contest_id = %s", (contest,))}
        missing = set(judges.acknowledged) - in_table
        assert not missing, f"{len(missing)} of {len(judges.acknowledged)} acknowledged judgements not in the table"
        assert httpx.get(f"{base}/contests/{contest}/ranking", timeout=30).status_code == 200
    finally:
        server.terminate()
        server.wait(30)


# --- member activities ----------------------------------------------------------------------

class Senders:
    """Threads storing batches of member activities (POST /members/{id}/activities) as fast as
    answers come; `acknowledged`: (member, activity id) of every batch answered 2xx."""

    def __init__(self, base: str, threads: int = 4, batch: int = 4):
        self.base, self.batch = base, batch
        self.acknowledged: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._send, args=(f"member-{i}",), daemon=True)
                        for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def _send(self, member: str) -> None:
        with httpx.Client(base_url=self.base, timeout=CLIENT_TIMEOUT_S) as client:
            n = 0
            while not self.stopping.is_set():
                ids = [f"{member}-{n + i}" for i in range(self.batch)]
                activities = [{"id": i, "at": f"2026-11-{1 + (n + k) % 28:02d}T20:15:00+08:00", "kind": "vote"}
                              for k, i in enumerate(ids)]  # one a day, over 28 days
                n += self.batch
                try:
                    answer = client.post(f"/members/{member}/activities", json={"activities": activities})
                except httpx.HTTPError:
                    return  # the server is gone
                if answer.status_code == 200:
                    assert answer.json() == {"stored": self.batch, "already_stored": 0}
                    with self.lock:
                        self.acknowledged |= {(member, i) for i in ids}

    def wait_for(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.acknowledged) >= n:
                    return
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S * 2)


@pytest.mark.slow
def test_no_acknowledged_member_activity_is_lost_when_the_server_is_killed(quality_entry_point, store_url, tmp_path):
    from quality.members.store import MemberStore
    from quality.settings import Settings

    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(tmp_path, port, log, store_url)
    try:
        senders = Senders(base)
        senders.wait_for(ACKNOWLEDGED_BEFORE_KILL * 4, 60)
        os.kill(server.pid, signal.SIGKILL)  # mid-stream: batches are in flight
        server.wait(10)
        senders.stop()
        assert len(senders.acknowledged) >= ACKNOWLEDGED_BEFORE_KILL * 4, log.read_text(errors="replace")[-2000:]
    finally:
        if server.poll() is None:
            server.kill()

    url = store_url or Settings(state_dir=tmp_path).contest_database_url
    with MemberStore.from_url(url) as store:
        stored = {(member, activity.id) for member in {m for m, _ in senders.acknowledged}
                  for activity in store.activities(member)}
    missing = senders.acknowledged - stored
    assert not missing, f"{len(missing)} of {len(senders.acknowledged)} acknowledged activities lost"
    server = start_server(tmp_path, port, log, store_url)
    try:
        member = sorted(senders.acknowledged)[0][0]
        answer = httpx.get(f"{base}/members/{member}", params={"as_of": "2026-11-30T00:00:00+08:00"}, timeout=30)
        assert answer.status_code == 200, answer.text
        acknowledged_votes = sum(1 for m, _ in senders.acknowledged if m == member)
        assert answer.json()["stages"]["participation"]["figures"]["active_days_100"] >= min(acknowledged_votes, 28)
        # One audit row per acknowledged batch of each member (a batch is 4 activities).
        audited = audited_targets(base)
        for sender in {m for m, _ in senders.acknowledged}:
            batches = sum(1 for m, _ in senders.acknowledged if m == sender) // senders.batch
            assert audited.count(sender) >= batches, sender
    finally:
        server.terminate()
        server.wait(30)
