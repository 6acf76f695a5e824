"""Sealing what is stored in plain text, and resealing what an older key sealed, in place,
batch by batch: each batch is its own short transaction (the bot keeps serving between them),
and a run that stops (a crash, Ctrl-C) goes on where it stopped when run again, since each
batch chooses the rows not yet sealed with the current key.

Run by ``models.migrate.upgrade`` after the schema migrations (a database from before
encryption is sealed on its first start), and by ``main.py rotate-key``.
"""

from datetime import date

from sqlalchemy import and_, column, func, or_, select, table, update
from sqlalchemy.ext.asyncio import AsyncEngine

from models.vault import PREFIX, Vault, key_of

BATCH = 500

SEALED: dict[str, tuple[str, tuple[str, ...], dict[str, str]]] = {
    "worker": ("id", ("nik", "birth_date", "phone"), {"nik_index": "nik"}),
    "claim": ("id", ("deceased_nik", "heir_nik", "heir_phone", "account_number",
                     "guardian_nik"), {"deceased_nik_index": "deceased_nik",
                                       "heir_nik_index": "heir_nik"}),
    "rights_request": ("id", ("value",), {}),
    "conversation": ("chat_key", ("state",), {}),
    "inbound_message": ("id", ("replies", "message"), {}),
    "outbox": ("id", ("replies",), {}),
    "outgoing_message": ("sid", ("fallback",), {}),
}
"""Per table: its key, the sealed columns, and each blind index with the column it indexes.
(``models.tables`` declares the same columns ``Sealed``; a test keeps the two in step.)"""
SECRETS = ("app_secret", "name", "value")


def _plain(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


async def seal_all(engine: AsyncEngine, vault: Vault, batch: int = BATCH,
                   batches: int | None = None) -> dict[str, int]:
    """Seal (or reseal with the current key) every value that is not yet, and fill the blind
    indexes; returns how many rows changed per table. ``batches``: stop after that many (a
    test's interrupted run)."""
    counts: dict[str, int] = {}
    done = 0
    for name, (key, sealed, indexes) in SEALED.items():
        raw = table(name, column(key), *map(column, sealed), *map(column, indexes))
        current = f"{PREFIX}:{vault.current}:%"
        pending = or_(*(and_(raw.c[c].is_not(None), ~raw.c[c].like(current)) for c in sealed),
                      *(raw.c[i].is_(None) for i in indexes))
        counts[name] = 0
        while batches is None or done < batches:
            async with engine.begin() as conn:
                rows = (await conn.execute(select(raw).where(pending)
                                           .order_by(raw.c[key]).limit(batch))).all()
                for row in rows:
                    values, plain = {}, {}
                    for c in sealed:
                        stored = row._mapping[c]
                        if stored is None:
                            continue
                        held = key_of(stored)
                        plain[c] = vault.open(stored, f"{name}.{c}").decode() if held \
                            else _plain(stored)
                        if held != vault.current:
                            values[c] = vault.seal(plain[c].encode(), f"{name}.{c}")
                    for index, source in indexes.items():
                        if row._mapping[index] is None and plain.get(source) is not None:
                            values[index] = vault.index(plain[source])
                    await conn.execute(update(raw).where(raw.c[key] == row._mapping[key])
                                       .values(**values))
            counts[name] += len(rows)
            done += 1
            if len(rows) < batch:
                break
    counts["app_secret"] = await _seal_secrets(engine, vault)
    return counts


async def _seal_secrets(engine: AsyncEngine, vault: Vault) -> int:
    """The bot's own secrets: a handful of rows, each opened (so keys that do not go with
    the database stop the start, ``CannotOpen``, before anything else reads them)."""
    name, key, value = SECRETS
    raw = table(name, column(key), column(value))
    changed = 0
    async with engine.begin() as conn:
        for row in (await conn.execute(select(raw))).all():
            stored = bytes(row._mapping[value])
            held = key_of(stored)
            secret = vault.open(stored.decode(), f"{name}.{value}") if held else stored
            if held == vault.current:
                continue
            await conn.execute(update(raw).where(raw.c[key] == row._mapping[key]).values(
                {value: vault.seal(secret, f"{name}.{value}").encode()}))
            changed += 1
    return changed


async def keys_in_use(engine: AsyncEngine, key_ids: tuple[str, ...]) -> dict[str, int]:
    """How many stored values each of these keys seals, and how many are not sealed
    (``none``): for ``rotate-key`` to say when an old key may be removed."""
    counts = dict.fromkeys((*key_ids, "none"), 0)
    async with engine.connect() as conn:
        for name, (_, sealed, _) in SEALED.items():
            for c in sealed:
                raw = table(name, column(c))
                for key_id in key_ids:
                    counts[key_id] += await conn.scalar(select(func.count()).select_from(
                        raw).where(raw.c[c].like(f"{PREFIX}:{key_id}:%")))
                counts["none"] += await conn.scalar(select(func.count()).select_from(
                    raw).where(raw.c[c].is_not(None), ~raw.c[c].like(f"{PREFIX}:%")))
        name, _, value = SECRETS
        for (stored,) in (await conn.execute(select(table(name, column(value))))).all():
            held = key_of(bytes(stored)) or "none"
            counts[held] = counts.get(held, 0) + 1
    return counts
