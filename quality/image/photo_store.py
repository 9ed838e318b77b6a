"""A persistent store of the perceptual hashes of photos already seen, so reposts are found.

Rows live in one SQLite file (durable, and safe when several processes write to it). Every
hash is also held in memory as one numpy uint64 array, so a search is a single vectorised
XOR + popcount over all of them: a few milliseconds for a million photos, no index needed.

Each store object sees the rows present when it was opened plus the rows it added itself;
rows another process adds later are not searched until the store is reopened.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quality.errors import InvalidInput
from quality.image.duplicates import NEAR_DUPLICATE_BITS
from quality.sqlite_open import open_wal, retry_while_busy

# A 64-bit pHash as `str(imagehash.phash(...))` writes it. Checked strictly: `int(x, 16)`
# would also take "0x…", "_" separators and non-ASCII digits.
_PHASH = re.compile(r"[0-9a-f]{16}", re.ASCII | re.IGNORECASE)
# How long a writer waits for another connection's write lock before failing (seconds).
BUSY_TIMEOUT_S = 30.0
# SQLite caps the parameters of one statement (32,766 since 3.32); rows are read back in chunks.
_ROWS_PER_QUERY = 500
# Rows turned into arrays at a time when opening: a million rows as Python tuples would take
# ~150 MB at once.
_LOAD_CHUNK = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS photos (
    phash    TEXT NOT NULL,  -- 16 lower-case hex chars
    post_id  TEXT,           -- NULL for photos not tied to a post (imported)
    source   TEXT NOT NULL,  -- "scored", "imported:<path>", ...
    added_at REAL NOT NULL   -- unix time
);
-- One row per (phash, post_id). Two partial indexes because a UNIQUE index treats NULLs as distinct.
CREATE UNIQUE INDEX IF NOT EXISTS photos_phash_post ON photos (phash, post_id) WHERE post_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS photos_phash_nopost ON photos (phash) WHERE post_id IS NULL;
"""


@dataclass(frozen=True)
class Match:
    """A stored photo within the asked Hamming distance of the query."""

    phash: str
    post_id: str | None
    source: str
    distance: int  # differing bits of the 64


def parse_phash(phash: str) -> int:
    """The 64-bit integer of a pHash hex string; anything else is `InvalidInput`."""
    if not isinstance(phash, str) or not _PHASH.fullmatch(phash):
        raise InvalidInput(f"not a 64-bit perceptual hash (16 hex characters): {phash!r:.40}",
                           field="phash", code="invalid_phash")
    return int(phash, 16)


def hashes_within(hashes: np.ndarray, query: int, max_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `hashes` (uint64) at Hamming distance <= `max_bits` from `query`, nearest
    first (ties in position order), and their distances."""
    distances = np.bitwise_count(hashes ^ np.uint64(query))
    positions = np.flatnonzero(distances <= max_bits)
    order = np.argsort(distances[positions], kind="stable")
    return positions[order], distances[positions][order]


class PhotoHashStore:
    """Perceptual hashes of photos seen before: `find` near ones, `add` new ones.

    Thread-safe: one lock guards the connection and the in-memory arrays (the API scores in a
    thread pool). `add` has committed when it returns.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Autocommit mode: transactions are opened explicitly (BEGIN IMMEDIATE) in `add`.
        self._conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                     check_same_thread=False)
        try:
            # WAL: readers never block the writer, nor it them. Switching a new file to it can
            # fail at once while other processes open it too: `open_wal` retries.
            open_wal(self._conn, BUSY_TIMEOUT_S, self.path)
            # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on a power cut, and a
            # photo that was answered "not a duplicate" and recorded must still be here afterwards,
            # or its reposts pass. The cost is one fsync per `add`, small next to scoring a photo.
            self._conn.execute("PRAGMA synchronous=FULL")
            retry_while_busy(self._create_schema, BUSY_TIMEOUT_S)
        except BaseException:
            self._conn.close()
            raise
        # Search arrays; only the first `_size` entries are used. Capacity grows by doubling,
        # so adding one post's photos does not copy a million hashes.
        self._hashes = np.zeros(1024, dtype=np.uint64)
        self._rowids = np.zeros(1024, dtype=np.int64)
        self._size = 0
        # One SELECT reads one consistent snapshot, even while other processes write.
        cursor = self._conn.execute("SELECT rowid, phash FROM photos ORDER BY rowid")
        while rows := cursor.fetchmany(_LOAD_CHUNK):
            rowids, hex_hashes = zip(*rows)
            self._append(np.array(rowids, dtype=np.int64),
                         np.frombuffer(bytes.fromhex("".join(hex_hashes)), dtype=">u8"))

    def _create_schema(self) -> None:
        """The table and its indexes, in one transaction: another process never sees the table
        without its unique indexes (its rows could then break them)."""
        try:
            self._conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def __len__(self) -> int:
        return self._size

    def __enter__(self) -> PhotoHashStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def find(self, phash: str, max_bits: int = NEAR_DUPLICATE_BITS,
             exclude_post_id: str | None = None) -> list[Match]:
        """Stored photos within `max_bits` of `phash`, nearest first (ties in the order stored).

        Rows of `exclude_post_id` are left out, so a post re-scored is not its own duplicate;
        rows without a post id are never left out.
        """
        query = parse_phash(phash)
        if not 0 <= max_bits <= 64:
            raise ValueError(f"max_bits must be in [0, 64], not {max_bits}")
        with self._lock:
            positions, distances = hashes_within(self._hashes[: self._size], query, max_bits)
            if positions.size == 0:
                return []
            rowids = self._rowids[positions].tolist()
            rows: dict[int, tuple[str, str | None, str]] = {}
            for start in range(0, len(rowids), _ROWS_PER_QUERY):
                chunk = rowids[start:start + _ROWS_PER_QUERY]
                rows.update((rowid, (stored, post_id, source)) for rowid, stored, post_id, source in
                            self._conn.execute(
                                "SELECT rowid, phash, post_id, source FROM photos WHERE rowid IN "
                                f"({','.join('?' * len(chunk))})", chunk))
        matches = (Match(*rows[rowid], distance=int(distance)) for rowid, distance in zip(rowids, distances))
        return [m for m in matches if exclude_post_id is None or m.post_id != exclude_post_id]

    def add(self, phashes: Iterable[str], post_id: str | None = None, source: str = "scored") -> int:
        """Store each hash for `post_id`; a (phash, post_id) pair already stored is skipped.

        Returns how many rows were new. All hashes are checked before anything is written.
        """
        normalised = [f"{parse_phash(phash):016x}" for phash in phashes]
        if not normalised:
            return 0
        now = time.time()
        with self._lock:
            rowids: list[int] = []
            values: list[int] = []
            # IMMEDIATE takes the write lock up front (waiting up to the busy timeout), rather
            # than failing when a read transaction has to be upgraded.
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for hex_hash in normalised:
                    cursor = self._conn.execute(
                        "INSERT OR IGNORE INTO photos (phash, post_id, source, added_at) VALUES (?, ?, ?, ?)",
                        (hex_hash, post_id, source, now))
                    if cursor.rowcount == 1:
                        rowids.append(cursor.lastrowid)
                        values.append(int(hex_hash, 16))
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._append(np.array(rowids, dtype=np.int64), np.array(values, dtype=np.uint64))
        return len(rowids)

    def _append(self, rowids: np.ndarray, hashes: np.ndarray) -> None:
        """Put committed rows in the search arrays (when opening, or holding the lock)."""
        end = self._size + len(rowids)
        if end > self._hashes.size:
            capacity = max(end, 2 * self._hashes.size)
            self._hashes = np.resize(self._hashes, capacity)
            self._rowids = np.resize(self._rowids, capacity)
        self._rowids[self._size:end] = rowids
        self._hashes[self._size:end] = hashes
        self._size = end
