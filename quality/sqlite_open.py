"""Opening a SQLite database that other processes may be opening at the same moment.

A busy timeout makes SQLite wait for another connection's lock instead of failing, but not
always: a connection that already holds a read lock and then needs the write lock is answered
SQLITE_BUSY at once, without calling the busy handler (waiting could deadlock with the holder
of the write lock, who may be waiting for this reader to go). `PRAGMA journal_mode=WAL` on a
database not yet in WAL mode -- every new file -- is such a statement: it reads the header
under a read lock, then takes the write lock to mark the file WAL. Two workers opening a new
file together both read it, one gets the write lock, and the other fails at once with
"database is locked", whatever its busy timeout.

Such a statement holds no lock once it has failed, so running it again is safe; `open_wal`
and `retry_while_busy` do so, with a growing, jittered pause, until the busy timeout has passed.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# The first pause after a BUSY answer and the longest one (seconds); pauses double in between
# and are jittered, so processes that collided do not retry in lockstep.
_FIRST_PAUSE_S = 0.002
_LONGEST_PAUSE_S = 0.1


def is_busy(error: BaseException) -> bool:
    """Whether `error` is SQLite's SQLITE_BUSY ("database is locked"), raised by `sqlite3` or
    wrapped by a library that keeps the driver's error as `orig` (SQLAlchemy)."""
    error = getattr(error, "orig", None) or error
    if not isinstance(error, sqlite3.OperationalError):
        return False
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF == sqlite3.SQLITE_BUSY  # extended codes too (SQLITE_BUSY_SNAPSHOT, ...)
    return str(error).startswith("database is locked")


def retry_while_busy(operation: Callable[[], T], timeout_s: float) -> T:
    """`operation()`, run again while it fails with SQLITE_BUSY, until `timeout_s` has passed
    since the first try (then its error is raised). Only for operations that leave nothing
    behind when they fail: one statement in autocommit mode, or one whole transaction."""
    deadline = time.monotonic() + timeout_s
    pause = _FIRST_PAUSE_S
    while True:
        try:
            return operation()
        except Exception as error:  # noqa: BLE001 - anything but BUSY is raised at once
            if not is_busy(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause * random.uniform(0.5, 1.0))
        pause = min(2 * pause, _LONGEST_PAUSE_S)


def open_wal(connection: sqlite3.Connection, timeout_s: float, database: object = "the database") -> None:
    """Set `connection`'s busy timeout, then switch its database to WAL mode, retrying while
    another connection holds the lock the switch needs. `connection` must be in autocommit
    mode (no transaction open). RuntimeError if SQLite keeps another journal mode."""
    connection.execute(f"PRAGMA busy_timeout={int(timeout_s * 1000)}")  # first: every later statement waits
    mode = retry_while_busy(lambda: connection.execute("PRAGMA journal_mode=WAL").fetchone()[0], timeout_s)
    if str(mode).lower() != "wal":
        raise RuntimeError(f"SQLite refused WAL mode for {database} (journal_mode={mode})")
