"""Many processes opening the same NEW SQLite file at the same moment (server workers starting
together on a fresh machine): every one must open it, and every row written must be there.

Switching a new file to WAL upgrades a read lock to a write lock, and SQLite answers BUSY to
that at once instead of waiting (`quality/sqlite_open.py`). Without the retry, a worker failed
with "database is locked" in 1 to 8 of the 20 photo-store rounds and in about 1 of 20 contest
rounds (the contest store does more before it opens the file, so the workers collide less);
the last tests below make the same collision certain.

The workers are forked (a spawned worker spends ~0.6 s importing the contest store; forked, a
photo-store round takes ~0.1 s, a contest round ~0.3 s), each opening its own connection after
the fork -- but not from the pytest process: by the time these tests run it carries threads of
earlier tests (Ray's router loop and gRPC threads, an AnyIO portal, thread pools), and a child
forked while one of them holds a lock can hang before it reaches the database (CI saw one
worker never report, 2026-12-06). They are forked from `clean_parent`, a spawned process with
one thread that has imported the stores and opened one contest database first.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import tempfile
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from quality.contests.db import current_revision, head_revision, make_engine
from quality.contests.schemas import ContestCreate
from quality.contests.store import ContestStore
from quality.image.photo_store import PhotoHashStore
from quality.sqlite_open import retry_while_busy

WORKERS = 8
ROUNDS = 20  # a fresh file each


def _worker(open_and_write, path: Path, worker: int, barrier, results) -> None:
    try:
        barrier.wait(timeout=60)  # all forked and waiting: open at the same moment
        open_and_write(path, worker)
        results.put((worker, None))
    except BaseException:  # noqa: BLE001 - reported to the parent, which fails the test
        results.put((worker, traceback.format_exc()))


def _all_at_once(open_and_write, path: Path) -> dict[int, str]:
    """Run `open_and_write(path, worker)` in WORKERS forked processes released together;
    the failures, by worker. Runs in `clean_parent`."""
    assert threading.active_count() == 1, "forking from a process with threads can hang the children"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [context.Process(target=_worker, args=(open_and_write, path, worker, barrier, results))
                 for worker in range(WORKERS)]
    for process in processes:
        process.start()
    try:
        outcomes = dict(results.get(timeout=120) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
                process.join()
    assert [process.exitcode for process in processes] == [0] * WORKERS
    return {worker: error for worker, error in outcomes.items() if error is not None}


def _photo_hash(worker: int) -> str:
    return f"{0x9E3779B97F4A7C15 * (worker + 1) % 2**64:016x}"


def _add_photo(path: Path, worker: int) -> None:
    with PhotoHashStore(path) as store:
        assert store.add([_photo_hash(worker)], post_id=f"worker-{worker}") == 1


def _create_contest(path: Path, worker: int) -> None:
    # As the service opens it (ContestService.from_settings): a new engine, migrated at start.
    with ContestStore.from_url(f"sqlite:///{path}") as store:
        store.create_contest(ContestCreate(name=f"worker-{worker}", theme="我的第一次长途旅行"))


def _warm_up() -> None:
    """One contest store opened and written first, so the forked workers start with SQLAlchemy's
    dialect and Alembic's migration scripts loaded: what is left is opening the database, and
    they reach it together (loading them first, ~50 ms of CPU each on two cores, spreads the
    workers out and hides the race)."""
    with tempfile.TemporaryDirectory() as folder:
        _create_contest(Path(folder) / "contests.db", -1)


@pytest.fixture(scope="module")
def clean_parent():
    """A spawned process with a single thread, warmed up, that forks each round's workers."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_warm_up) as pool:
        yield pool


def _round(parent: ProcessPoolExecutor, open_and_write, path: Path) -> dict[int, str]:
    return parent.submit(_all_at_once, open_and_write, path).result(timeout=300)


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_opening_a_new_photo_store_at_once_all_write(tmp_path, round_, clean_parent):
    path = tmp_path / "state" / "photos.sqlite"  # neither the folder nor the file exists yet
    failures = _round(clean_parent, _add_photo, path)
    assert not failures, f"{len(failures)} of {WORKERS} workers failed:\n" + "\n".join(failures.values())
    with PhotoHashStore(path) as store:
        assert len(store) == WORKERS
        for worker in range(WORKERS):
            assert [m.post_id for m in store.find(_photo_hash(worker), max_bits=0)] == [f"worker-{worker}"]


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_processes_opening_a_new_contest_database_at_once_all_write(tmp_path, round_, clean_parent):
    path = tmp_path / "state" / "contests.db"
    failures = _round(clean_parent, _create_contest, path)
    assert not failures, f"{len(failures)} of {WORKERS} workers failed:\n" + "\n".join(failures.values())
    with ContestStore.from_url(f"sqlite:///{path}", migrate=False) as store:
        assert sorted(contest.name for contest in store.list_contests()) == sorted(
            f"worker-{worker}" for worker in range(WORKERS))
        assert current_revision(store.engine) == head_revision()
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        engine.dispose()


# --- the same race, made certain ------------------------------------------------------------
# Another connection holds the write lock of the new file (another worker switching it to WAL);
# the store reads the file's header (a read lock), then needs the write lock: SQLite answers
# BUSY at once, not after the busy timeout. The store must wait for the other to finish.


def _hold_the_write_lock(path: Path, seconds: float) -> threading.Thread:
    path.parent.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # a new file, not in WAL mode yet

    def release() -> None:
        time.sleep(seconds)
        other.execute("COMMIT")
        other.close()

    thread = threading.Thread(target=release)
    thread.start()
    return thread


@pytest.mark.parametrize("open_and_write", [_add_photo, _create_contest], ids=["photo-store", "contests"])
def test_opening_a_new_file_waits_for_another_connection_s_lock(tmp_path, open_and_write):
    path = tmp_path / "state" / "store.sqlite"
    holder = _hold_the_write_lock(path, 0.3)
    started = time.monotonic()
    try:
        open_and_write(path, 0)
    finally:
        holder.join()
    assert time.monotonic() - started >= 0.25  # it waited for the lock, and then it opened


def test_a_lock_held_past_the_timeout_still_fails_in_about_the_timeout(tmp_path):
    path = tmp_path / "busy.sqlite"
    holder = _hold_the_write_lock(path, 1.0)
    connection = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    started = time.monotonic()
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            retry_while_busy(lambda: connection.execute("PRAGMA journal_mode=WAL").fetchone(), 0.3)
        assert 0.2 <= time.monotonic() - started <= 0.8
    finally:
        connection.close()
        holder.join()
