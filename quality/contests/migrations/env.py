"""Alembic environment of the contest store.

At run time `quality.contests.db.upgrade` passes its connection in
`config.attributes["connection"]`; no alembic.ini is needed. Run by hand (a new revision),
the database is `sqlalchemy.url` of the config, else the service's `contest_database_url`;
see `quality.contests.db.new_revision`.

All revisions run in one transaction, so a failed upgrade leaves the database as it was.
SQLite: batch mode (table copies) for ALTERs; foreign keys are switched off while the tables
are copied (otherwise dropping the old table could fail or, with ON DELETE, cascade) and
checked before the commit.
"""

from __future__ import annotations

from contextlib import nullcontext

from alembic import context
from sqlalchemy import Connection

from quality.contests.db import SQLITE_BEGIN_OPTION, make_engine
from quality.contests.tables import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata

# Any constant: PostgreSQL sessions migrating the same database wait for each other.
_PG_MIGRATION_LOCK = 0x71C0_2E57


def _render_item(type_: str, obj, autogen_context):
    # Revisions must not import the models (they change); store UTCDateTime as what it is.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs) -> None:
    context.configure(target_metadata=target_metadata, compare_type=True, render_item=_render_item, **kwargs)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from quality.settings import get_settings

    return get_settings().contest_database_url


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    # PRAGMA foreign_keys is a no-op inside a transaction: only switched when none is open.
    toggle_foreign_keys = sqlite and not connection.in_transaction()
    if toggle_foreign_keys:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        # Migrating takes SQLite's write lock at once: two processes upgrading wait in turn.
        connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        # One transaction around all revisions, begun before Alembic is configured: Alembic
        # then sees an external transaction and commits nothing itself (on SQLite it would
        # commit each revision). A caller's open transaction is the caller's to commit.
        with nullcontext() if connection.in_transaction() else connection.begin():
            # SQLite's DDL is transactional too (db.make_engine emits the BEGINs).
            _configure(connection=connection, render_as_batch=sqlite, transactional_ddl=True)
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
            with context.begin_transaction():
                context.run_migrations()
            if sqlite:
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows whose foreign keys point nowhere: {broken[:5]}")
    finally:
        if toggle_foreign_keys:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
