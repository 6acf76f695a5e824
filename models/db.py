"""Creating the database engine, with the SQLite settings that make it safe under concurrency."""

from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from models.private_files import private_file

SQLITE_BUSY_TIMEOUT_MS = 10_000


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite database URL; None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    database = parsed.database
    if parsed.query.get("uri") == "true":  # sqlite+aiosqlite:///file:PATH?mode=ro&uri=true
        database = database.removeprefix("file:")
    return Path(database).resolve()


def describe(url: str) -> str:
    """The database as an operator reads it: the SQLite file, or the PostgreSQL address
    without its password."""
    path = sqlite_path(url)
    return str(path) if path else make_url(url).render_as_string(hide_password=True)


READ_ONLY = "lindungi_read_only"
"""The execution option of a read-only transaction (``Store.reading``)."""


def create_engine(url: str, pool_size: int = 10) -> AsyncEngine:
    """An async engine for ``url`` (on PostgreSQL, ``pool_size`` connections kept and as many
    more under load); on SQLite: WAL, busy timeout, foreign keys, and every
    transaction opened with ``BEGIN IMMEDIATE`` so a read-then-write can never lose an update."""
    parsed = make_url(url)
    # hide_parameters: database errors are logged, and their parameters hold NIKs and names.
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size,
                                   pool_pre_ping=True, hide_parameters=True)
    if (path := sqlite_path(url)) is not None:
        private_file(path)
    engine = create_async_engine(url, hide_parameters=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL + NORMAL survives a killed process (not a power cut) and keeps commits cheap.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection):
        # A reader (``Store.reading``) takes WAL's snapshot and never waits for the writer.
        reading = connection.get_execution_options().get(READ_ONLY)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine
