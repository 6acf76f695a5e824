"""What every command of ``main.py`` starts from: the store (migrated), the engine and the
conversations over it, Telegram reached; and the one-line error that stops a command.

A long-running bot never imports Alembic: a database behind the code is brought up to date by a
child ``python main.py db upgrade``.
"""

import asyncio
import logging
import sys
from pathlib import Path

from bot.channels import TELEGRAM, WHATSAPP
from bot.config import Settings
from bot.engine import Engine
from bot.i18n import Catalogs, MissingCatalog
from bot.render import Renderer
from handlers.conversations import Conversations
from handlers.media import MediaStore
from handlers.pacing import MemoryBook, Pacer
from handlers.telegram import TelegramChannel
from models.db import describe, sqlite_path
from models.keys import BadKeys, install_from
from models.migrate import HEAD, current_revision
from models.private_files import open_to_others
from models.seal import seal_all
from models.send_budget import SharedBook
from models.store import Store
from models.vault import CannotOpen, vault

log = logging.getLogger("lindungi")

MAIN = Path(__file__).resolve().parent.parent / "main.py"


class StartupError(Exception):
    """A problem that stops the bot (mostly at start-up), told in one line."""


def not_overwritten(path: Path) -> StartupError:
    """A file an operator asked for is there already: an earlier one is never written over."""
    return StartupError(f"{path} already exists: not overwritten (move it away, or choose "
                        f"another --output)")


def load_keys(settings: Settings) -> None:
    """The data keys (``models.keys``), installed for this process, or why not in one line."""
    try:
        install_from(settings)
    except BadKeys as exc:
        raise StartupError(f"bad setting {exc}") from None


async def open_store(settings: Settings, *, create: bool = True,
                     announce: bool = False) -> Store:
    """The store, migrated to the newest revision. Alembic stays resident once imported (about
    10 MB), so a long-running bot has ``db upgrade`` done by a child process.

    ``create`` False (a command that only reads, such as ``verify-card``): a SQLite database
    that does not exist is an error, not a new empty one. ``announce``: say on stderr which
    database was opened. A database file others may read is warned about."""
    path = sqlite_path(settings.database_url)
    if path is not None and not create and not path.exists():
        raise StartupError(f"no database at {path}: nothing has been registered there (set "
                           f"DATABASE_URL to the bot's database)")
    if path is not None and open_to_others(path):
        log.warning("the database %s can be read by other users of this machine: "
                    "chmod 600 %s %s-wal %s-shm", path, path, path, path)
    if announce:
        print(f"lindungi: database {describe(settings.database_url)}", file=sys.stderr)
    load_keys(settings)
    key = settings.dtsen_hmac_key.get_secret_value().encode() if settings.dtsen_hmac_key else None
    store = Store.connect(settings.database_url, key, settings.database_pool_size)
    try:
        if await current_revision(store.engine) != HEAD:
            child = await asyncio.create_subprocess_exec(
                sys.executable, str(MAIN), "db", "upgrade",
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
            _, errors = await child.communicate()
            if child.returncode:
                lines = errors.decode(errors="replace").strip().splitlines() or ["failed"]
                raise StartupError(lines[-1].removeprefix("lindungi: "))
        await seal_all(store.engine, vault())  # a sealing cut short goes on (models.seal)
    except StartupError:
        await store.close()
        raise
    except CannotOpen as exc:
        await store.close()
        raise StartupError(f"the database holds values sealed with other data keys ({exc}): "
                           f"set DATA_KEYS or DATA_KEYS_FILE to the keys that go with it"
                           ) from None
    except Exception as exc:
        await store.close()
        raise StartupError(f"cannot open the database (DATABASE_URL): {exc}") from exc
    return store


async def card_key(settings: Settings, store: Store) -> bytes:
    """CARD_SIGNING_KEY if set, else a key made once and kept in the database."""
    if settings.card_signing_key:
        return settings.card_signing_key.get_secret_value().encode()
    return await store.secret("card")


async def links_key(store: Store) -> bytes:
    """The key of the signed addresses media are served at (``handlers.links``): its own,
    made once and kept in the database, so the card key alone cannot make them."""
    return await store.secret("links")


async def build(settings: Settings, store: Store) -> tuple[Catalogs, Conversations]:
    catalogs = load_catalogs()
    engine = Engine(catalogs, settings.rules(), settings.programmes(),
                    await card_key(settings, store))
    conversations = Conversations(store, engine, Renderer(catalogs),
                                  journal_retention=settings.journal_retention,
                                  media=MediaStore(settings.storage_dir),
                                  instance=settings.instance_name())
    return catalogs, conversations


def load_catalogs() -> Catalogs:
    """The catalogs, or the one line that says which is missing."""
    try:
        return Catalogs()
    except MissingCatalog as exc:
        raise StartupError(str(exc)) from exc


async def start_telegram(telegram: TelegramChannel, webhook_url: str | None = None,
                         secret: str | None = None, *, receiving: bool = True,
                         connections: int | None = None) -> None:
    try:
        await telegram.start(webhook_url, secret, receiving=receiving,
                             connections=connections)
    except Exception as exc:
        where = " and WEBHOOK_BASE_URL" if webhook_url else ""
        raise StartupError(f"cannot reach Telegram (TELEGRAM_BOT_TOKEN, "
                           f"TELEGRAM_API_BASE_URL{where}): {exc}") from exc


def pacers(settings: Settings, store: Store) -> dict[str, Pacer]:
    """Each channel's budget of sends (``TELEGRAM_RATE``, ``TELEGRAM_CHAT_INTERVAL_S``,
    ``WHATSAPP_RATE``): shared through the database by every process on PostgreSQL; in this
    process on SQLite, where one process runs the bot."""
    book = SharedBook(store) if store.engine.dialect.name == "postgresql" else MemoryBook()
    return {TELEGRAM: Pacer(book, TELEGRAM, settings.telegram_rate,
                            settings.telegram_chat_interval_s),
            WHATSAPP: Pacer(book, WHATSAPP, settings.whatsapp_rate)}
