"""Applying the Alembic migrations from inside the running program.

Alembic (with Mako) costs about 14 MB that stay resident once imported, so it is imported only
when the database is not already at ``HEAD``.
"""

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from models.seal import seal_all
from models.vault import installed

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
HEAD = "0020"
"""The newest revision under migrations/versions (a test keeps the two in step)."""


def alembic_config():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def current_revision(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as connection:
            return await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except DBAPIError:  # a new database: no alembic_version table yet
        return None


MIGRATION_LOCK = 0x4C494E44  # "LIND"
"""PostgreSQL: the advisory lock held while migrating (Alembic then finds the revision the
process that held it before left)."""


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision, then seal what is not sealed yet with the
    process's data keys (both do nothing when there is nothing to do).

    On SQLite, foreign keys are off while the migrations run, then checked: altering a column
    rebuilds the table, and dropping the old one would otherwise fail for the rows that refer
    to it (SQLite's documented procedure for schema changes)."""
    if await current_revision(engine) != HEAD:
        await _migrate(engine)
    if installed() is not None:  # a database from before encryption, or a run cut short
        await seal_all(engine, installed())


async def _migrate(engine: AsyncEngine) -> None:
    from alembic import command

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = (await connection.get_raw_connection()).driver_connection if sqlite else None
        if raw is not None:  # outside any transaction, where the pragma takes effect
            await raw.execute("PRAGMA foreign_keys=OFF")
        try:
            async with connection.begin():
                if not sqlite:  # processes starting together: one migrates, the others wait
                    await connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
                await connection.run_sync(run)
                if sqlite and (await connection.exec_driver_sql(
                        "PRAGMA foreign_key_check")).first() is not None:
                    raise RuntimeError("a migration left rows referring to missing ones")
        finally:
            if raw is not None:
                await raw.execute("PRAGMA foreign_keys=ON")


async def _upgrade_configured() -> None:
    from bot.config import load_settings
    from models.db import create_engine

    # The schema only: the bot seals what needs sealing once it runs (``open_store``), so this
    # child never loads the data keys nor the cipher (it runs beside the bot's start-up).
    engine = create_engine(load_settings().database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":  # the child of ``models.migrate_first``
    import asyncio

    try:
        asyncio.run(_upgrade_configured())
    except Exception:  # noqa: BLE001 - reported by the parent's own check
        raise SystemExit(1) from None
