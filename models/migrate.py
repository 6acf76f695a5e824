"""Applying the Alembic migrations from inside the running program."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


async def upgrade(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision (does nothing when it is already there)."""

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def is_current(engine: AsyncEngine) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with engine.connect() as connection:
        current = await connection.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision())
    return current == head
