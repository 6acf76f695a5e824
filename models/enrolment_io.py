"""The files exchanged with BPJS Ketenagakerjaan, and checking a card.

The branch registers the workers a programme enrolled from a CSV batch (``export_enrolment``),
and answers with each one's KPJ membership number (``KpjImporter``): importing that file makes
them active and sends each worker their card. ``verify_card`` tells staff whether a card shown
to them is one Lindungi issued and is still good.

Both files are read and written in chunks, each in a short transaction of its own: on SQLite
every transaction holds the write lock, and the running bot must not wait for an export.
"""

import csv
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import and_, bindparam, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError

from bot import enrolment
from bot.cards import read_card_token
from bot.i18n import Catalogs
from bot.occupations import OCCUPATION_LABELS
from bot.programmes import Programme, Programmes
from bot.render import Renderer
from bot.rights import REVEALED
from bot.status import activation
from bot.validators import Err, mask_nik, validate_nik
from models.csvfile import Table
from models.dtsen import NIK_PROBLEMS
from models.effects import apply_effects
from models.schema import (
    ALIVE,
    UNRESTRICTED,
    StaleChange,
    as_utc,
    batch,
    batch_worker,
    staff_action,
    worker,
)
from models.store import Store, Tx

EXPORT_COLUMNS = ("nik", "nama", "tanggal_lahir", "no_hp", "pekerjaan", "alamat", "program",
                  "mulai", "selesai")
EXPORT_CHUNK = 1_000
"""Workers read per query: memory stays flat, and no transaction lasts long."""
IMPORT_BATCH = 500
"""KPJ rows applied per transaction."""
BATCH_ATTEMPTS = 3
KPJ_COLUMNS = {
    "nik": ("nik",),
    "kpj": ("kpj", "no_kpj", "kpj_number", "no kpj", "nomor_kpj", "nomor kpj"),
}
FORMULA = re.compile(r"(^|[;,\r\n])(\s*)(?=[=+\-@\t\r])")
"""Where a spreadsheet would start reading a formula: at the start of a cell, or of a part of
it after a ``;`` or ``,`` (a spreadsheet set to split on either)."""
NUMBER = re.compile(r"^\+?\d+$")
"""A plain number (a NIK, a ``+62…`` phone number): no formula, kept as it is."""
"""A cell starting with one of these is run as a formula when the file is opened in a
spreadsheet; workers type their occupation (and names of places) themselves."""



def _paged(*where) -> tuple:
    """The first chunk of the workers ``where`` says, oldest registration first, and the next
    chunk after the last worker written (keyset paging: each query starts where the last one
    ended, however far into the list)."""
    first = (select(worker.c.id, worker.c.created_at, worker.c.reference, worker.c.nik,
                    worker.c.full_name, worker.c.birth_date, worker.c.phone,
                    worker.c.occupation, worker.c.occupation_other, worker.c.kelurahan,
                     worker.c.kecamatan, worker.c.coverage_start, worker.c.coverage_end)
             .where(*where).order_by(worker.c.created_at, worker.c.id)
             .limit(bindparam("chunk")))
    return first, first.where(or_(
        worker.c.created_at > bindparam("after_at"),
        and_(worker.c.created_at == bindparam("after_at"),
             worker.c.id > bindparam("after_id"))))


NOT_SENT = _paged(worker.c.programme_id == bindparam("programme"),
                  worker.c.status == enrolment.ENROLLED, ALIVE, UNRESTRICTED,
                  ~exists().where(batch_worker.c.worker_reference == worker.c.reference))
"""A new batch: the programme's enrolled workers (approved, no KPJ yet) in no batch before."""
SENT_IN = _paged(worker.c.reference.in_(select(batch_worker.c.worker_reference).where(
    batch_worker.c.batch_id == bindparam("batch"))))
"""A batch made again: its workers still registered, as their data are now."""
BATCHES = select(batch).where(batch.c.programme_id == bindparam("programme")).order_by(
    batch.c.number)
KPJ_HOLDERS = select(worker.c.kpj, worker.c.reference).where(
    worker.c.kpj.in_(bindparam("kpjs", expanding=True)))


# --- export -------------------------------------------------------------------------------

def create_private(path: Path):
    """Open a new file only its owner can read (it holds full NIKs); ``FileExistsError`` if
    there is one already, so an earlier batch is never overwritten by mistake."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "w", encoding="utf-8", newline="")


def _cell(text: str) -> str:
    """A cell as a spreadsheet shows it, never as a formula it runs: each place a formula
    could start gets a ``'`` before it."""
    return text if NUMBER.match(text) else FORMULA.sub(r"\1'\2", text)


def occupation_label(catalogs: Catalogs, occupation: str, other: str | None) -> str:
    """The occupation as the branch reads it: the Indonesian label, or the worker's own words
    for "other"."""
    if occupation == "other" and other:
        return other
    label = OCCUPATION_LABELS.get(occupation)
    return catalogs.text("id", label) if label else occupation


class BatchTaken(Exception):
    """Another export made a batch of that number meanwhile: run it again."""


@dataclass(frozen=True)
class Batch:
    number: int
    created_at: datetime
    created_by: str
    file_name: str
    workers: int
    starts_on: date | None
    id: int | None = None


async def batches(store: Store, programme_id: str) -> list[Batch]:
    """The programme's batches, the first first."""
    async with store.engine.connect() as conn:
        rows = await conn.execute(BATCHES, {"programme": programme_id})
        return [Batch(r.number, as_utc(r.created_at), r.created_by, r.file_name, r.workers,
                      r.starts_on, r.id) for r in rows]


async def next_batch(store: Store, programme_id: str) -> int:
    async with store.engine.connect() as conn:
        return (await conn.scalar(select(func.max(batch.c.number)).where(
            batch.c.programme_id == programme_id)) or 0) + 1


async def export_enrolment(store: Store, catalogs: Catalogs, programme: Programme, path: Path,
                           actor: str, now: datetime, number: int,
                           again: Batch | None = None) -> int:
    """Write batch ``number`` to a new file at ``path``: the programme's enrolled workers not
    sent before (or, ``again``, the workers of that earlier batch), oldest first. A new batch
    is recorded with who is in it (none written: no file, no batch); every export as a staff
    action, and on each worker's registration that ``actor`` had their NIK decrypted (the
    worker reads it under "Data saya"). Returns how many were written. A half-written file is
    removed, so a file that exists is always complete."""
    written = 0
    references: list[str] = []
    starts: list[date] = []
    with create_private(path) as out:
        try:
            rows = csv.writer(out, quoting=csv.QUOTE_ALL)
            rows.writerow(EXPORT_COLUMNS)
            first, after = SENT_IN if again else NOT_SENT
            params: dict = {"programme": programme.id, "chunk": EXPORT_CHUNK,
                            "batch": again.id if again else None}
            query = first
            while True:
                async with store.engine.connect() as conn:
                    chunk = (await conn.execute(query, params)).all()
                for w in chunk:
                    address = f"{w.kelurahan}, {w.kecamatan}, {programme.region.name}"
                    rows.writerow(_cell(value) for value in (
                        w.nik, w.full_name, w.birth_date.isoformat(), w.phone,
                        occupation_label(catalogs, w.occupation, w.occupation_other),
                        address, programme.name,
                        w.coverage_start.isoformat() if w.coverage_start else "",
                        w.coverage_end.isoformat() if w.coverage_end else ""))
                written += len(chunk)
                references += [w.reference for w in chunk]
                starts += [w.coverage_start for w in chunk if w.coverage_start]
                if len(chunk) < EXPORT_CHUNK:
                    break
                params.update(after_at=chunk[-1].created_at, after_id=chunk[-1].id)
                query = after
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            os.unlink(path)
            raise
    if not written and again is None:
        os.unlink(path)
        return 0
    why = json.dumps({"why": f"export to BPJS Ketenagakerjaan ({path.name})"})
    try:
        async with store.transaction() as tx:
            if again is None:
                batch_id = await tx.conn.scalar(insert(batch).values(
                    programme_id=programme.id, number=number, created_at=now,
                    created_by=actor, file_name=path.name, workers=written,
                    starts_on=min(starts, default=None)).returning(batch.c.id))
                for start in range(0, len(references), EXPORT_CHUNK):
                    await tx.conn.execute(insert(batch_worker), [
                        {"batch_id": batch_id, "worker_reference": reference}
                        for reference in references[start:start + EXPORT_CHUNK]])
            await tx.record(actor, "enrolment.export", programme.id,
                            {"batch": number, "again": again is not None, "workers": written,
                             "file": path.name, "decrypted": written}, now)
            for start in range(0, len(references), EXPORT_CHUNK):
                await tx.conn.execute(insert(staff_action), [
                    {"actor": actor, "action": REVEALED, "subject": reference, "detail": why,
                     "at": now} for reference in references[start:start + EXPORT_CHUNK]])
    except IntegrityError:
        os.unlink(path)
        raise BatchTaken(number) from None
    return written


# --- KPJ import ---------------------------------------------------------------------------

@dataclass
class KpjReport:
    rows: int = 0
    activated: int = 0
    unchanged: int = 0
    bad: int = 0


@dataclass(frozen=True)
class _Row:
    """One data row: what it asks (``nik``, ``kpj``), or why it cannot be read (``bad``)."""

    line: int
    nik: str = ""
    kpj: str = ""
    bad: str | None = None


class KpjImporter:
    """Applies the branch's answer file: each enrolled worker named becomes active with their
    KPJ number and is sent their card (by the running bot, from the outbox)."""

    def __init__(self, store: Store, renderer: Renderer, programmes: Programmes,
                 card_key: bytes, actor: str, today: date, clock: Callable[[], datetime]):
        self.store = store
        self.renderer = renderer
        self.programmes = programmes
        self.card_key = card_key
        self.actor = actor
        self.today = today
        self.clock = clock

    async def import_file(self, path: Path, on_bad: Callable[[int, str], None]) -> KpjReport:
        """Import ``path``; ``on_bad(line, reason)`` for each row skipped, in line order, once
        its batch is committed. Importing the same file again changes nothing."""
        report = KpjReport()
        with path.open("rb") as raw:
            table = Table(raw, KPJ_COLUMNS)
            for rows in table.batches(IMPORT_BATCH):
                await self._apply([self._read(line, fields, table.positions)
                                   for line, fields in rows], report, on_bad)
        return report

    def _read(self, line: int, fields: list[str], positions: dict[str, int]) -> _Row:
        """The row's NIK and KPJ, checked for form (whether they are known comes later)."""
        if len(fields) <= max(positions.values()):
            return _Row(line, bad=f"expected at least {max(positions.values()) + 1} columns, "
                                  f"found {len(fields)}")
        nik = validate_nik(fields[positions["nik"]].strip(), self.today)
        if isinstance(nik, Err):
            return _Row(line, bad=NIK_PROBLEMS[nik.msgid])
        kpj = re.sub(r"\s", "", fields[positions["kpj"]])
        if len(kpj) != 11 or not kpj.isascii() or not kpj.isdigit():
            return _Row(line, bad=f"KPJ number must be 11 digits, not {kpj[:20]!r}")
        return _Row(line, nik.value, kpj)

    async def _apply(self, batch: list[_Row], report: KpjReport,
                     on_bad: Callable[[int, str], None]) -> None:
        """One transaction for the batch, tried again from the start if another process took
        a KPJ or changed a worker meanwhile; reported only once committed."""
        for attempt in range(BATCH_ATTEMPTS):
            try:
                async with self.store.transaction() as tx:
                    outcomes = await self._outcomes(tx, batch)
                break
            except IntegrityError:  # a KPJ given to someone else by a concurrent import
                if attempt == BATCH_ATTEMPTS - 1:
                    raise
        for row, outcome in zip(batch, outcomes, strict=True):
            report.rows += 1
            if outcome == "activated":
                report.activated += 1
            elif outcome == "unchanged":
                report.unchanged += 1
            else:
                report.bad += 1
                on_bad(row.line, outcome)

    async def _outcomes(self, tx: Tx, batch: list[_Row]) -> list[str]:
        """Each row's outcome: "activated", "unchanged", or why it was skipped. Rows are
        taken in order, so a NIK or KPJ repeated in the file meets the first one's result."""
        good = [row for row in batch if row.bad is None]
        await tx.prefetch_workers(row.nik for row in good)
        holders = dict((await tx.conn.execute(
            KPJ_HOLDERS, {"kpjs": sorted({row.kpj for row in good})})).all())
        now = self.clock()
        outcomes = []
        for row in batch:
            if row.bad is not None:
                outcomes.append(row.bad)
                continue
            info = await tx.worker_by_nik(row.nik)
            if info is None:
                erased = await tx.erased_on(row.nik)
                outcomes.append(f"NIK {mask_nik(row.nik)} was erased on its worker's request "
                                f"{erased}: nothing re-created" if erased else
                                f"no registration with NIK {mask_nik(row.nik)}")
                continue
            if info.kpj == row.kpj:
                outcomes.append("unchanged")
                continue
            problem = self._problem(info, row.kpj, holders.get(row.kpj))
            if problem:
                outcomes.append(problem)
                continue
            effects = activation(info, row.kpj, self.programmes, self.card_key, self.actor)
            try:
                await apply_effects(tx, self.renderer, effects, now, send_here=False)
            except StaleChange:
                outcomes.append(f"{info.reference} changed while importing; import the file "
                                f"again")
                continue
            holders[row.kpj] = info.reference
            outcomes.append("activated")
        return outcomes

    def _problem(self, info, kpj: str, holder: str | None) -> str | None:
        """Why this worker cannot become active with this KPJ, if they cannot."""
        if holder is not None:
            return f"KPJ {kpj} already belongs to {holder}"
        if info.kpj is not None:
            return f"{info.reference} already has KPJ {info.kpj} ({info.status})"
        if info.died_on is not None:
            return f"{info.reference}: death reported ({info.died_on.isoformat()})"
        if info.status != enrolment.ENROLLED:
            return f"{info.reference} is {info.status}, not enrolled"
        if enrolment.effective_status(info, self.today) == enrolment.LAPSED:
            return f"{info.reference}: cover ended on {info.coverage_end.isoformat()}"
        if self.programmes.by_id(info.programme_id or "") is None:
            return f"{info.reference}: programme {info.programme_id} is not in the programmes file"
        return None


# --- cards --------------------------------------------------------------------------------

async def verify_card(store: Store, key: bytes, token: str, programmes: Programmes,
                      today: date) -> tuple[bool, str]:
    """Whether a card's QR token is genuine and its cover active today, and a line saying
    so: (True, "genuine: …") only for a signature made with our key, on a registration that
    still holds that KPJ and is active."""
    claim = read_card_token(key, token.strip())
    if claim is None:
        return False, "not a genuine Lindungi card"
    async with store.transaction() as tx:
        info = await tx.worker_by_reference(claim.reference)
    if info is None:
        return False, f"genuine but not active: {claim.reference} is no longer registered"
    programme = programmes.by_id(info.programme_id) if info.programme_id else None
    who = (f"{info.reference}, {info.full_name}, NIK {mask_nik(info.nik)}, KPJ {claim.kpj}, "
           f"{programme.name if programme else info.programme_id or 'no programme'}")
    if info.kpj != claim.kpj:
        now_holds = f"KPJ {info.kpj}" if info.kpj else "no KPJ"
        return False, f"genuine but not active: {who}: the registration now has {now_holds}"
    status = enrolment.effective_status(info, today)
    if status == enrolment.ACTIVE:
        return True, f"genuine: {who}, active until {info.coverage_end.isoformat()}"
    if status == enrolment.DECEASED:
        return False, f"genuine but not active: {who}: death reported ({info.died_on.isoformat()})"
    if status == enrolment.LAPSED:
        ended = info.coverage_end.isoformat() if info.coverage_end else "an unknown date"
        return False, f"genuine but not active: {who}: lapsed, cover ended on {ended}"
    reason = f" ({info.reason})" if info.reason else ""
    return False, f"genuine but not active: {who}: status {status}{reason}"
