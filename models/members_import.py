"""``main.py import-members``: the members a programme enrolled before the bot (Padang's 3,000
cards, Jambi's 3,000 + 1,316, Sijunjung's 16,590 since 2022), from the office's list.

Each row is one member in one cycle (NIK, name, birth date, KPJ, programme, cycle, start date;
phone, kelurahan, kecamatan if the list has them), so a member's history across years is as
many rows. A member new to the bot becomes a registration holding that KPJ: active while the
latest cycle of theirs runs, lapsed after; every row is a membership of its cycle. The WhatsApp
chat of a phone given holds the registration (as for one registered in the chat: codes would
go there), so that member can write and see their status at once, and can be invited; one
without a phone proves their chat by a staff check of the KTP.

Rows are read and applied in batches, one transaction each; a bad row is reported with its line
and skipped; importing the same file again changes nothing. A NIK erased on its owner's request
re-creates nothing (the tombstone).
"""

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import bindparam, select, update

from bot import enrolment
from bot.channels import WHATSAPP
from bot.messages import WorkerInfo
from bot.places import official as official_place
from bot.programmes import Programmes
from bot.proof import whatsapp_chat
from bot.validators import (
    Err,
    mask_nik,
    parse_date,
    validate_name,
    validate_nik,
    validate_phone,
    validate_place,
)
from models.csvfile import Table
from models.dtsen import NIK_PROBLEMS
from models.enrolment_io import KPJ_HOLDERS
from models.schema import membership, worker
from models.store import Store, Tx
from models.workers import CONFIRMED, membership_row

BATCH = 500
COLUMNS = {
    "nik": ("nik",),
    "name": ("nama", "name", "full_name", "nama_lengkap"),
    "birth_date": ("tanggal_lahir", "tgl_lahir", "birth_date", "date_of_birth"),
    "kpj": ("kpj", "no_kpj", "nomor_kpj", "kpj_number"),
    "programme": ("program", "programme", "program_id"),
    "cycle": ("siklus", "cycle", "tahun", "periode"),
    "start": ("mulai", "start", "start_date", "tanggal_mulai", "tmt"),
}
OPTIONAL = {
    "phone": ("no_hp", "hp", "phone", "telepon", "nomor_hp", "whatsapp"),
    "kelurahan": ("kelurahan", "desa", "nagari"),
    "kecamatan": ("kecamatan",),
}
MEMBERS_OF = select(membership.c.worker_reference, membership.c.programme_id,
                    membership.c.cycle).where(
    membership.c.worker_reference.in_(bindparam("references", expanding=True)))


@dataclass
class MembersReport:
    rows: int = 0
    added: int = 0
    """Members new to the bot."""
    history: int = 0
    """Cycles added to a member already here."""
    unchanged: int = 0
    bad: int = 0


@dataclass(frozen=True)
class _Row:
    line: int
    nik: str = ""
    name: str = ""
    birth_date: date | None = None
    kpj: str = ""
    programme: str = ""
    cycle: str = ""
    start: date | None = None
    end: date | None = None
    phone: str | None = None
    kelurahan: str = ""
    kecamatan: str = ""
    bad: str | None = None


class MembersImporter:
    def __init__(self, store: Store, programmes: Programmes, new_reference: Callable[[], str],
                 actor: str, today: date, clock: Callable[[], datetime]):
        self.store = store
        self.programmes = programmes
        self.new_reference = new_reference
        self.actor = actor
        self.today = today
        self.clock = clock
        self._held: Counter[str] = Counter()
        self._rows: list[dict] = []
        """What the batch being applied adds: places taken per programme, memberships;
        written together at its end."""

    async def import_file(self, path: Path, on_bad: Callable[[int, str], None]
                          ) -> MembersReport:
        """Import ``path``; ``on_bad(line, reason)`` for each row skipped, once its batch is
        committed."""
        report = MembersReport()
        with path.open("rb") as raw:
            table = Table(raw, COLUMNS, OPTIONAL)
            for rows in table.batches(BATCH):
                await self._apply([self._read(line, fields, table.positions)
                                   for line, fields in rows], report, on_bad)
        if report.added or report.history:
            async with self.store.transaction() as tx:
                await tx.record(self.actor, "members.imported", path.name, {
                    "rows": report.rows, "added": report.added, "history": report.history,
                    "bad": report.bad}, self.clock())
        return report

    def _read(self, line: int, fields: list[str], at: dict[str, int]) -> _Row:
        """The row checked for form; whether its NIK and KPJ are free comes later."""
        wanted = max(at[c] for c in COLUMNS)
        if len(fields) <= wanted:
            return _Row(line, bad=f"expected at least {wanted + 1} columns, found {len(fields)}")

        def cell(column: str) -> str:
            index = at.get(column)
            return " ".join(fields[index].split()) if index is not None and index < len(
                fields) else ""

        nik = validate_nik(cell("nik"), self.today)
        if isinstance(nik, Err):
            return _Row(line, bad=NIK_PROBLEMS[nik.msgid])
        name = validate_name(cell("name"))
        if isinstance(name, Err):
            return _Row(line, bad="name must be 2-80 letters (spaces . , ' - allowed)")
        born = read_date(cell("birth_date"), self.today)
        if born is None:
            return _Row(line, bad=f"birth date {cell('birth_date')[:20]!r} is not a date "
                                  f"(YYYY-MM-DD or DD-MM-YYYY)")
        kpj = re.sub(r"\s", "", cell("kpj"))
        if len(kpj) != 11 or not kpj.isascii() or not kpj.isdigit():
            return _Row(line, bad=f"KPJ number must be 11 digits, not {kpj[:20]!r}")
        programme = self.programmes.by_id(cell("programme").lower())
        if programme is None:
            return _Row(line, bad=f"unknown programme {cell('programme')[:40]!r}; the "
                                  f"programmes are: "
                                  + ", ".join(p.id for p in self.programmes.programme))
        cycle = programme.cycle_named(cell("cycle"))
        if cycle is None:
            return _Row(line, bad=f"{programme.id} has no cycle {cell('cycle')[:20]!r}; its "
                                  f"cycles are: " + ", ".join(c.name for c in programme.cycles))
        start = read_date(cell("start"), self.today, future=True)
        if start is None or not cycle.covers(start):
            return _Row(line, bad=f"start date {cell('start')[:20]!r} is not a day of cycle "
                                  f"{cycle.name} ({cycle.start.isoformat()} to "
                                  f"{cycle.end.isoformat()})")
        phone = None
        if cell("phone"):
            checked = validate_phone(cell("phone"))
            if isinstance(checked, Err):
                return _Row(line, bad=f"phone {cell('phone')[:5]}… is not a mobile number")
            phone = checked.value
        places = {}
        for column in ("kelurahan", "kecamatan"):
            if cell(column):
                checked = validate_place(cell(column))
                if isinstance(checked, Err):
                    return _Row(line, bad=f"{column} {cell(column)[:30]!r} is not a place name")
                places[column] = self._official(programme, column, checked.value)
        return _Row(line, nik.value, name.value, born, kpj, programme.id, cycle.name, start,
                    cycle.end, phone, places.get("kelurahan", ""), places.get("kecamatan", ""))

    @staticmethod
    def _official(programme, kind: str, typed: str) -> str:
        """A place name in the official spelling where the programme's area list has it."""
        return next((found for code in programme.region.codes
                     if (found := official_place(code, kind, typed))), typed)

    async def _apply(self, batch: list[_Row], report: MembersReport,
                     on_bad: Callable[[int, str], None]) -> None:
        async with self.store.transaction() as tx:
            outcomes = await self._outcomes(tx, batch)
        for row, outcome in zip(batch, outcomes, strict=True):
            report.rows += 1
            if outcome in ("added", "history", "unchanged"):
                setattr(report, outcome, getattr(report, outcome) + 1)
            else:
                report.bad += 1
                on_bad(row.line, outcome)

    async def _outcomes(self, tx: Tx, batch: list[_Row]) -> list[str]:
        """Each row's outcome, in order: a NIK or KPJ repeated in the file meets what the
        rows before it did."""
        good = [row for row in batch if row.bad is None]
        await tx.prefetch_workers(row.nik for row in good)
        holders = dict((await tx.conn.execute(
            KPJ_HOLDERS, {"kpjs": sorted({row.kpj for row in good})})).all())
        known = {(await tx.worker_by_nik(row.nik)) for row in good} - {None}
        cycles = {(r.worker_reference, r.programme_id, r.cycle) for r in (
            await tx.conn.execute(MEMBERS_OF, {"references": sorted(
                w.reference for w in known)})).all()} if known else set()
        now = self.clock()
        outcomes = []
        self._held.clear()
        self._rows.clear()
        for row in batch:
            if row.bad is not None:
                outcomes.append(row.bad)
                continue
            info = await tx.worker_by_nik(row.nik)
            if info is None:
                erased = await tx.erased_on(row.nik)
                if erased:
                    outcomes.append(f"NIK {mask_nik(row.nik)} was erased on its owner's "
                                    f"request {erased}: nothing re-created")
                elif row.kpj in holders:
                    outcomes.append(f"KPJ {row.kpj} already belongs to {holders[row.kpj]}")
                else:
                    reference = await self._add(tx, row, now)
                    holders[row.kpj] = reference
                    cycles.add((reference, row.programme, row.cycle))
                    outcomes.append("added")
                continue
            problem = self._problem(info, row)
            if problem:
                outcomes.append(problem)
            elif (info.reference, row.programme, row.cycle) in cycles:
                outcomes.append("unchanged")
            else:
                await self._add_cycle(tx, info, row, now)
                cycles.add((info.reference, row.programme, row.cycle))
                outcomes.append("history")
        await tx.record_membership(*self._rows)
        for programme_id, count in self._held.items():
            await tx.hold_place(programme_id, count)
        return outcomes

    @staticmethod
    def _problem(info: WorkerInfo, row: _Row) -> str | None:
        """Why a row cannot be added to the registration its NIK has."""
        if info.kpj != row.kpj:
            now_holds = f"KPJ {info.kpj}" if info.kpj else "no KPJ yet"
            return (f"NIK {mask_nik(row.nik)} is registered as {info.reference} with "
                    f"{now_holds} ({info.status}), not {row.kpj}: check it with the branch")
        if info.programme_id != row.programme:
            return (f"{info.reference} is a member of {info.programme_id}, not "
                    f"{row.programme}")
        return None

    def _status(self, end: date) -> str:
        return enrolment.ACTIVE if end >= self.today else enrolment.LAPSED

    async def _add(self, tx: Tx, row: _Row, now: datetime) -> str:
        """A registration for a member new to the bot, holding a place while active (they
        are members already: the quota is not asked)."""
        reference = self.new_reference()
        status = self._status(row.end)
        chat = whatsapp_chat(row.phone) if row.phone else None
        tx.queue_worker(dict(
            reference=reference, nik=row.nik, full_name=row.name, birth_date=row.birth_date,
            phone=row.phone or "", occupation="other", occupation_other=None,
            kelurahan=row.kelurahan, kecamatan=row.kecamatan, monthly_income=0, status=status,
            channel=WHATSAPP if chat else enrolment.IMPORTED, chat_key=chat or "", locale="id",
            consent_version=enrolment.IMPORTED, consented_at=now, created_at=now,
            programme_id=row.programme, dtsen_desil=None, coverage_start=row.start,
            coverage_end=row.end, queued_at=None, queue_ticket=None, status_reason=None,
            kpj=row.kpj, dtsen_ok=True, messages_ok=True))
        if status == enrolment.ACTIVE:
            self._held[row.programme] += 1
        self._rows.append(self._membership(reference, row, now))
        return reference

    async def _add_cycle(self, tx: Tx, info: WorkerInfo, row: _Row, now: datetime) -> None:
        """Another cycle of a member's history; a later one than their cover moves its end
        (and an imported member lapsed at the earlier one's end is active again)."""
        self._rows.append(self._membership(info.reference, row, now))
        values: dict = {}
        if info.coverage_start is None or row.start < info.coverage_start:
            values["coverage_start"] = row.start
        if info.coverage_end is None or row.end > info.coverage_end:
            values["coverage_end"] = row.end
            if info.status == enrolment.LAPSED and self._status(row.end) == enrolment.ACTIVE:
                values["status"] = enrolment.ACTIVE
                self._held[row.programme] += 1
        if values:
            await tx.flush()  # the registration may be one this batch added
            await tx.conn.execute(update(worker).where(worker.c.reference == info.reference)
                                  .values(**values))
            tx.forget_worker(info.nik)

    def _membership(self, reference: str, row: _Row, now: datetime) -> dict:
        programme = self.programmes.by_id(row.programme)
        cycle = programme.cycle_named(row.cycle)
        return membership_row(reference, row.programme, row.cycle, programme.funder_of(cycle),
                              row.start, row.end, now, source=enrolment.IMPORTED, state=CONFIRMED)


def read_date(text: str, today: date, future: bool = False) -> date | None:
    """A date as an office's list has it: 2025-01-31, 31-01-2025, 31/01/2025."""
    try:
        value = date.fromisoformat(text)
    except ValueError:
        parsed = parse_date(text, today.replace(year=today.year + 10) if future else today)
        return None if isinstance(parsed, Err) else parsed.value
    return value if future or value <= today else None

