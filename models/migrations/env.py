"""Alembic environment. ``models.migrate.upgrade`` hands in an open connection; the ``alembic``
command line (for new revisions) connects with ``DATABASE_URL`` itself."""

import asyncio

from alembic import context
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata


def run_with(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    from bot.config import Settings
    from models.db import create_engine

    engine = create_engine(Settings().database_url)
    async with engine.begin() as connection:
        await connection.run_sync(run_with)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    run_with(connection)
elif context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python main.py db upgrade`")
else:
    asyncio.run(run_standalone())
