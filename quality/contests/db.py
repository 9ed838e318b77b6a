"""Engines and migrations of the contest store: SQLite (embedded default) or PostgreSQL by URL.

SQLite connections run in WAL mode with `synchronous=FULL`, so a committed transaction is on
disk when `commit` returns (a SIGKILL or power cut loses nothing that was answered), and with
foreign keys enforced. Write transactions start with `BEGIN IMMEDIATE` (see `writer`): they
take the write lock before reading, so concurrent writers wait their turn (`busy_timeout`)
instead of failing on a stale snapshot.

The schema is Alembic's: `upgrade(engine)` runs the revisions under `migrations/versions/`
in one transaction, with no alembic.ini.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from quality.errors import Unavailable
from quality.sqlite_open import open_wal, retry_while_busy

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# How long a SQLite writer waits for another connection's write lock (seconds).
BUSY_TIMEOUT_S = 30.0
# Execution option: how a SQLite transaction begins ("DEFERRED" unless told "IMMEDIATE").
SQLITE_BEGIN_OPTION = "quality_sqlite_begin"
# Alembic keeps its running migration in module globals (`alembic.context`): one at a time
# per process. Processes wait for each other in the database (SQLite write lock, PostgreSQL
# advisory lock).
_ALEMBIC_LOCK = threading.Lock()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine for `url` (SQLAlchemy URL). SQLite: `~` expanded, parent folder created, WAL,
    synchronous=FULL, foreign keys on, busy timeout (an in-memory database is one per thread:
    for tools, not the service). PostgreSQL: pool_pre_ping; a bare `postgresql://` URL uses
    psycopg 3 (the driver the project installs)."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, echo=echo)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        database = str(Path(database).expanduser())
        parsed = parsed.set(database=database)
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        parsed,
        echo=echo,
        connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # The driver's own implicit BEGINs off: `_on_begin` emits them (documented SQLAlchemy
        # recipe), so PRAGMAs run outside a transaction and writers can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        if in_memory:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        else:
            # Busy timeout first; switching a new file to WAL can still fail at once while other
            # processes open it too (see quality.sqlite_open): `open_wal` retries.
            open_wal(dbapi_connection, BUSY_TIMEOUT_S, database)
        dbapi_connection.execute("PRAGMA synchronous=FULL")
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be DEFERRED, IMMEDIATE or EXCLUSIVE, not {mode!r}")
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions are for writing: on SQLite they begin
    IMMEDIATE. On other backends it changes nothing."""
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})


def alembic_config(connection=None) -> Config:
    """An Alembic config for the contest migrations, no alembic.ini needed. With
    `connection`, env.py migrates through it."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` (default: the newest). Idempotent; concurrent
    callers wait for each other; a failing revision leaves the database as it was."""
    known = {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    found = current_revision(engine)
    if found is not None and found not in known:
        raise RuntimeError(f"the contest database is at revision {found!r}, which this version of the "
                           f"service does not know (newest known: {head_revision()!r}): upgrade the service")
    with _ALEMBIC_LOCK, engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            command.upgrade(alembic_config(connection), revision)
        else:
            # The migration takes the write lock up front (BEGIN IMMEDIATE, waiting its busy
            # timeout), and a failed one rolls back whole: should SQLite still answer BUSY at
            # once (see quality.sqlite_open), it is run again.
            retry_while_busy(lambda: command.upgrade(alembic_config(connection), revision), BUSY_TIMEOUT_S)


def new_revision(message: str, *, url: str = "sqlite://") -> None:
    """Write the next revision file after a change to `tables.py`, autogenerated against a
    database migrated to head (default: an in-memory SQLite). Review it before committing:
    a revision must never drop data."""
    engine = make_engine(url)
    try:
        upgrade(engine)
        number = int(head_revision()) + 1
        with _ALEMBIC_LOCK, engine.connect() as connection:
            command.revision(alembic_config(connection), message=message, autogenerate=True,
                             rev_id=f"{number:04d}")
    finally:
        engine.dispose()


class Transactions:
    """`sessionmaker.begin()`, with a database that cannot be reached (down, restarting, connection
    lost, SQLite locked past its busy timeout) raised as `Unavailable` (503 + Retry-After) instead
    of an internal error. A write whose commit was cut off this way may or may not have landed:
    the caller was not told it did (no 2xx), and a retry may store it twice."""

    def __init__(self, maker: sessionmaker):
        self._maker = maker

    @contextmanager
    def begin(self) -> Iterator[Session]:
        try:
            with self._maker.begin() as session:
                yield session
        except (OperationalError, InterfaceError) as exc:
            raise Unavailable("the database cannot be reached right now; retry shortly") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise Unavailable("the connection to the database was lost; retry shortly") from exc
            raise


class Store:
    """A store on one database: migrated to the newest revision at start (unless told not to),
    with read and write transactions (`Transactions`; writes begin IMMEDIATE on SQLite), closed
    with its engine. The contest store and the member store are two of these on one database."""

    def __init__(self, engine: Engine, *, migrate: bool = True):
        """`engine` from `make_engine` (its SQLite settings matter). `migrate`: bring the schema
        to the newest revision first (idempotent)."""
        if migrate:
            upgrade(engine)
        self.engine = engine
        self._read = Transactions(sessionmaker(engine, expire_on_commit=False))
        self._write = Transactions(sessionmaker(writer(engine), expire_on_commit=False))

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> Self:
        """A store on a new engine for `url`, e.g. `Settings().contest_database_url`."""
        return cls(make_engine(url), migrate=migrate)

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
