"""Importing the city's DTSEN extract (NIK, KK number, desil, address) from a CSV file.

Files of a million rows are streamed in batches, so memory does not grow with the file; a bad
row is reported with its line number and skipped; importing the same file again changes
nothing. NIKs and KK numbers are stored only as keyed hashes (HMAC-SHA256 with a secret from the
settings): a registration is matched by hashing its NIK the same way.
"""

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import bindparam, insert, select, update

from bot import enrolment
from bot.programmes import Programmes
from bot.validators import Err, validate_nik
from models.csvfile import Table
from models.schema import worker
from models.store import Store
from models.tables import DtsenEntry

dtsen = DtsenEntry.__table__

BATCH_ROWS = 20_000
"""Keys are hashes, so rows land all over the index: the more rows a batch writes (in key
order), the more of them share each index page written."""
COLUMNS = {
    "nik": ("nik",),
    "kk": ("kk", "no_kk", "nomor_kk", "no kk", "nomor kk", "kk_number"),
    "desil": ("desil",),
    "address": ("alamat", "address"),
}
NIK_PROBLEMS = {
    "nik.length": "NIK must have 16 digits",
    "nik.not_digits": "NIK must be digits only",
    "nik.province": "NIK starts with an unknown province code",
    "nik.region": "NIK has regency or district code 00",
    "nik.date": "NIK digits 7-12 are not a date",
    "nik.serial": "NIK ends in 0000",
}


STORED = select(dtsen.c.nik_hash, dtsen.c.kk_hash, dtsen.c.desil, dtsen.c.address).where(
    dtsen.c.nik_hash.in_(bindparam("hashes", expanding=True)))
"""The stored entries of a batch. The values are passed at execution: a statement built with
them would keep a whole batch alive in SQLAlchemy's statement cache."""


WAITING = (select(worker.c.id, worker.c.nik, worker.c.programme_id, worker.c.dtsen_ok)
           .where(worker.c.status == enrolment.WAITING_VERIFICATION,
                  worker.c.id > bindparam("after")).order_by(worker.c.id)
           .limit(bindparam("chunk")))
DESILS = select(dtsen.c.nik_hash, dtsen.c.desil).where(
    dtsen.c.nik_hash.in_(bindparam("hashes", expanding=True)))
RECHECK_CHUNK = 1_000


@dataclass
class Recheck:
    """The registrations waiting for a verifier, against the extract just loaded."""

    waiting: int = 0
    eligible: int = 0
    """In it, within their programme's desil cut-off: a verifier may approve them."""
    above: int = 0
    missing: int = 0
    unchecked: int = 0
    """Refused the matching, or no programme to check for: staff check them by hand."""


async def recheck_waiting(store: Store, key: bytes, programmes: Programmes) -> Recheck:
    """How the registrations waiting for a decision stand in the DTSEN extract now (it is
    refreshed quarterly): nothing is decided here, the verifier decides with ``/tinjau``,
    which reads the extract the same way."""
    found = Recheck()
    after = 0
    while True:
        async with store.engine.connect() as conn:
            rows = (await conn.execute(WAITING, {"after": after, "chunk": RECHECK_CHUNK})).all()
            hashes = {keyed_hash(key, r.nik): r for r in rows if r.dtsen_ok}
            desils = dict((await conn.execute(DESILS, {"hashes": list(hashes)})).all()) \
                if hashes else {}
        for row in rows:
            found.waiting += 1
            programme = programmes.by_id(row.programme_id or "")
            if not row.dtsen_ok or programme is None:
                found.unchecked += 1
                continue
            desil = desils.get(keyed_hash(key, row.nik))
            if desil is None:
                found.missing += 1
            elif desil <= programme.dtsen_max_desil:
                found.eligible += 1
            else:
                found.above += 1
        if len(rows) < RECHECK_CHUNK:
            return found
        after = rows[-1].id


def keyed_hash(key: bytes, value: str) -> bytes:
    return hmac.digest(key, value.encode(), "sha256")


@dataclass
class Report:
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    bad: int = 0


class DtsenImporter:
    def __init__(self, store: Store, key: bytes, today: date,
                 clock: Callable[[], datetime]):
        self.store = store
        self.key = key
        self.today = today
        self.clock = clock

    async def import_file(self, path: Path, on_bad: Callable[[int, str], None],
                          on_progress: Callable[[int], None] = lambda done: None) -> Report:
        """Import ``path``; ``on_bad(line, reason)`` for each row skipped, ``on_progress``
        with the bytes read so far after each batch."""
        report = Report()
        with path.open("rb") as raw:
            table = Table(raw, COLUMNS)
            positions = table.positions
            batch: dict[bytes, dict] = {}
            for line, fields in table:
                if not any(field.strip() for field in fields):
                    continue
                report.rows += 1
                entry = self._entry(fields, positions)
                if isinstance(entry, str):
                    report.bad += 1
                    on_bad(line, entry)
                    continue
                batch[entry["nik_hash"]] = entry
                if len(batch) >= BATCH_ROWS:
                    await self._store(batch, report)
                    batch = {}
                    on_progress(raw.tell())
            if batch:
                await self._store(batch, report)
            on_progress(raw.tell())
        return report

    def _entry(self, fields: list[str], positions: dict[str, int]) -> dict | str:
        """The row as a table row, or why it cannot be one."""
        if len(fields) <= max(positions.values()):
            return f"expected at least {max(positions.values()) + 1} columns, found {len(fields)}"
        nik = validate_nik(fields[positions["nik"]].strip(), self.today)
        if isinstance(nik, Err):
            return NIK_PROBLEMS[nik.msgid]
        kk = fields[positions["kk"]].strip().replace(" ", "")
        if len(kk) != 16 or not kk.isascii() or not kk.isdigit():
            return "KK number must have 16 digits"
        desil = fields[positions["desil"]].strip()
        if not desil.isdigit() or not 1 <= int(desil) <= 10:
            return f"desil must be a whole number from 1 to 10, not {desil[:20]!r}"
        address = " ".join(fields[positions["address"]].split())
        if len(address) > 200:
            return "address is longer than 200 characters"
        return {"nik_hash": keyed_hash(self.key, nik.value), "kk_hash": keyed_hash(self.key, kk),
                "desil": int(desil), "address": address}

    async def _store(self, batch: dict[bytes, dict], report: Report) -> None:
        """One transaction: insert the new, update the changed, leave the rest untouched."""
        now = self.clock()
        async with self.store.transaction() as tx:
            found = await tx.conn.execute(STORED, {"hashes": list(batch)})
            stored = {row.nik_hash: (row.kk_hash, row.desil, row.address) for row in found}
            new, changed = [], []
            for nik_hash, entry in batch.items():
                old = stored.get(nik_hash)
                if old is None:
                    new.append({**entry, "updated_at": now})
                elif old != (entry["kk_hash"], entry["desil"], entry["address"]):
                    changed.append({"key": nik_hash, "kk": entry["kk_hash"],
                                    "level": entry["desil"], "place": entry["address"],
                                    "when": now})
            if new:
                new.sort(key=lambda row: row["nik_hash"])
                await tx.conn.execute(insert(dtsen), new)
            if changed:
                await tx.conn.execute(
                    update(dtsen).where(dtsen.c.nik_hash == bindparam("key")).values(
                        kk_hash=bindparam("kk"), desil=bindparam("level"),
                        address=bindparam("place"), updated_at=bindparam("when")),
                    changed)
        report.added += len(new)
        report.changed += len(changed)
        report.unchanged += len(batch) - len(new) - len(changed)
