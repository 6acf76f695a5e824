"""Shared fixtures: the catalogs, and a migrated store on SQLite and on PostgreSQL.

PostgreSQL is taken from ``TEST_POSTGRES_URL`` (default: the local server, database ``test``);
each test run works in a database of its own, created here and dropped at the end. Without a
reachable server the PostgreSQL cases are skipped, except under CI (``CI`` set), where that
is a failure.
"""

import asyncio
import base64
import json
import os
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import models.tables  # noqa: F401 - every table in SQLModel.metadata
from bot.i18n import Catalogs
from models.keys import parse
from models.migrate import current_revision, upgrade
from models.store import Store
from models.vault import install

TEST_KEYS = {"current": "t1", "keys": {"t1": base64.b64encode(b"t" * 32).decode()},
             "index": base64.b64encode(b"i" * 32).decode()}
"""The data keys of the tests (``models.keys``), for this process and the ``main.py`` it
starts (``DATA_KEYS``), so both read what the other sealed."""
install(parse(json.dumps(TEST_KEYS), "the tests' keys"))
os.environ["LINDUNGI_ENV_FILE"] = ""  # a .env in the checkout changes nothing here (bot.config)
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
TABLES = tuple(table.name for table in SQLModel.metadata.sorted_tables)
"""Every table, emptied between PostgreSQL tests (a new one cannot be forgotten)."""


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    return Catalogs()


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                 user=url.username, password=url.password,
                                 database=url.database, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this test run."""
    name = f"lindungi_test_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no server here
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required under CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}")
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/lindungi.db"
    return request.getfixturevalue("postgres_url")


async def empty_store(url: str) -> Store:
    """A migrated store with nothing in it (the PostgreSQL database is shared by the run)."""
    store = Store.connect(url)
    if store.engine.dialect.name == "postgresql" and await current_revision(store.engine):
        # emptied first: what an earlier test sealed with other keys is not for these
        async with store.engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
    await upgrade(store.engine)
    return store


@pytest.fixture
async def store(database_url):
    """A migrated, empty store on each database."""
    store = await empty_store(database_url)
    yield store
    await store.close()


@pytest.fixture
async def sqlite_store(tmp_path):
    store = Store.connect(f"sqlite+aiosqlite:///{tmp_path}/lindungi.db")
    await upgrade(store.engine)
    yield store
    await store.close()


@pytest.fixture
def environ(monkeypatch, tmp_path):
    """No .env and no setting from the developer's environment; returns a setter."""
    from bot.config import Settings

    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)

    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


@pytest.fixture
def bot_log(tmp_path):
    """Where the bot processes write; printed when a test fails, to see why."""
    path = tmp_path / "bot.log"
    path.touch()
    yield path
    print(path.read_text(encoding="utf-8", errors="replace"))


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the expected part of tests/conversations/*.json")
