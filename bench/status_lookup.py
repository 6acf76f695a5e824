"""Status look-ups with a million workers stored: the wall time of one message through the
engine and the store, transaction included, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.status_lookup [--workers 1000000] [--lookups 2000]
                                            [--databases sqlite,postgresql]

For each database: a fresh, migrated database is filled with ``--workers`` synthetic workers
(SQLite: Core executemany in chunks of 50,000, one transaction per 250,000 rows; PostgreSQL:
asyncpg COPY in one transaction, then VACUUM ANALYZE as autovacuum would). Then a child
process, which imports and builds what the bot does (``Store``, ``Engine`` with
programmes.toml), times ``--lookups`` messages of each kind, shuffled together, each in its own
``store.transaction()`` as ``Conversations._process`` runs them, begin and commit included:

- ``status_own_chat``: "status" from the chat of a random stored worker (no session);
- ``lookup_other``: the last step of "cek nik" (session at lookup/birth_date with a random
  stored NIK) answered with the birth date: 80% right, 10% a wrong date, 10% an unknown NIK;
- ``status_waiting_list``: "status" from the chat of a random worker on a waiting list, whose
  position in line the reply shows (48,750 in line for "padang" at 1M workers).

The workers are a pure function of their number, so the child picks and checks them without
reading the database: every reply must show the right status and waiting-list position (or
"not found"). The parent then times the statements the store sends for a look-up alone and
prints their plans (EXPLAIN QUERY PLAN; EXPLAIN ANALYZE on PostgreSQL). Prints one JSON object.
PostgreSQL is taken from ``BENCH_POSTGRES_URL`` (default: the local server); the database
``lindungi_bench_status`` is created and dropped.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import make_url

import bench.registration as registration_bench

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
PG_DATABASE = "lindungi_bench_status"
GOAL_P99_MS = 20.0
NOW = datetime(2026, 11, 21, 5, 0, tzinfo=UTC)
"""The bot's clock during the look-ups (12:00 WIB): cover ends 2026-12-31, so it is current."""
WARMUP = 100
"""Untimed messages first, as a running bot has its statement caches filled."""
SEED = 20261121

# --- the synthetic workers ------------------------------------------------------------------

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
FIRST = ("Siti", "Ahmad", "Rina", "Budi", "Dewi", "Joko", "Nur", "Agus", "Sri", "Hendra",
         "Yulia", "Rudi", "Fitri", "Andi", "Wati", "Irwan", "Lestari", "Doni", "Ratna", "Eko")
LAST = ("Rahmawati", "Saputra", "Hasibuan", "Nasution", "Siregar", "Putri", "Pratama",
        "Wijaya", "Lubis", "Harahap", "Syahputra", "Handayani", "Kurniawan", "Sari", "Tanjung")
OCCUPATIONS = ("ojek", "nelayan", "pedagang", "petani", "penjahit", "tukang_bangunan",
               "pekerja_seni", "kuli_angkut", "pemulung", "other")
KENDARI_OCCUPATIONS = ("ojek", "pedagang", "nelayan", "pekerja_seni", "penjahit",
                       "tukang_bangunan")
OTHER_REGIONS = ("3171", "3172", "3273", "3374", "3578", "5171", "6371", "7371", "1271",
                 "1671", "6471", "3471")
UNKNOWN_REGION = "9471"
"""Never generated: look-ups of NIKs with this code find nobody."""


@dataclass(frozen=True)
class Group:
    """Workers whose ``i % 100`` falls in [start, start + width): one programme, or none."""

    start: int
    width: int
    programme: str | None
    region: str | None
    waiting_share: float = 0.0
    """Of the programme's workers, how many joined its waiting list (every LEAVE_EVERY-th of
    them has left it again from the middle: rejected while waiting)."""


GROUPS = (
    Group(0, 25, "padang", "1371", 0.20),
    Group(25, 5, "padang-panjang", "1374", 0.06),
    Group(30, 7, "kendari-sertakan", "7471", 0.12),
    Group(37, 10, "jambi", "1571", 0.20),
    Group(47, 2, "jambi-keagamaan", "1571", 0.10),
    Group(49, 6, "sijunjung", "1303", 0.15),
    Group(55, 45, None, None),
)
GROUP_OF = [g for g in GROUPS for _ in range(g.width)]
QUOTAS = {"padang": 3000, "padang-panjang": 5000, "kendari-sertakan": 1500, "jambi": 3000,
          "jambi-keagamaan": 1316, "sijunjung": 16590}
"""As in programmes.toml's cycles of 2026 (checked against it when the engine is built);
Padang Panjang's universal programme has none: its holders are capped the same for the data."""
LEAVE_EVERY = 40
"""Of those who joined a line, every 40th was rejected while waiting: a gap in the line."""
OTHER_STATUSES = ("waiting_verification",) * 8 + ("rejected",) * 3 + ("not_eligible",) * 6 \
    + ("lapsed",) * 2 + ("ended",)
"""Past the holders and the line, by j % 20."""

FIRST_BORN = date(1961, 1, 1)
BIRTH_DAYS = (date(2006, 12, 31) - FIRST_BORN).days + 1
DISTRICTS = 20
COMBOS = DISTRICTS * BIRTH_DAYS * 2
"""(district, birth date, sex): with the serial, an NIK nobody else has."""
SCATTER = 1_000_003
"""A prime not dividing COMBOS: row i gets combination i * SCATTER % COMBOS."""
REGISTERED_FROM = datetime(2026, 1, 5, tzinfo=UTC)
REGISTERED_UNTIL = datetime(2026, 11, 20, tzinfo=UTC)
WORKER_COLUMNS = ("reference", "nik", "full_name", "birth_date", "phone", "occupation",
                  "occupation_other", "kelurahan", "kecamatan", "monthly_income", "status",
                  "channel", "chat_key", "locale", "consent_version", "consented_at",
                  "created_at", "programme_id", "dtsen_desil", "status_reason", "queued_at",
                  "coverage_start", "coverage_end", "kpj", "queue_ticket")
"""What a row may hold; filled are those the migrated database has (``queue_ticket`` is new)."""


def mix(i: int) -> int:
    """A cheap deterministic scramble of i, for the fields that only need to look varied."""
    i = (i * 0x9E3779B1 + 0x7F4A7C15) & 0xFFFFFFFF
    i ^= i >> 15
    return (i * 0x85EBCA6B) & 0xFFFFFFFF


def group_size(group: Group, workers: int) -> int:
    full, rest = divmod(workers, 100)
    return group.width * full + max(0, min(group.width, rest - group.start))


@dataclass(frozen=True)
class Shape:
    """Where each programme's workers stand: the first ``holding`` hold a place, the next
    ``joined`` joined the line (in order of registration; tickets 1, 2, …, every LEAVE_EVERY-th
    rejected while waiting), the rest as OTHER_STATUSES."""

    workers: int

    def holding(self, group: Group) -> int:
        return min(QUOTAS[group.programme], group_size(group, self.workers) // 10)

    def joined(self, group: Group) -> int:
        return round(group_size(group, self.workers) * group.waiting_share)

    def waiting(self, group: Group) -> int:
        """How many are in line now."""
        return self.joined(group) - self.joined(group) // LEAVE_EVERY

    def step_s(self) -> int:
        return max(1, int((REGISTERED_UNTIL - REGISTERED_FROM).total_seconds()) // self.workers)

    def row(self, i: int) -> dict:
        """Worker number i (0-based; stored with id i + 1)."""
        group = GROUP_OF[i % 100]
        j = i // 100 * group.width + i % 100 - group.start
        h = mix(i)
        combo, serial = i * SCATTER % COMBOS, i // COMBOS + 1
        district, combo = combo % DISTRICTS + 1, combo // DISTRICTS
        woman, days = combo % 2, combo // 2
        born = FIRST_BORN + timedelta(days=days)
        region = group.region or OTHER_REGIONS[h % len(OTHER_REGIONS)]
        nik = (f"{region}{district:02d}{born.day + 40 * woman:02d}{born.month:02d}"
               f"{born.year % 100:02d}{serial:04d}")
        created = REGISTERED_FROM + timedelta(seconds=i * self.step_s())
        chat = i - 1 if i % 25 == 24 else i  # every 25th registered by the previous one's chat
        if group.programme == "jambi-keagamaan":
            occupation = "petugas_keagamaan"
        elif group.programme == "kendari-sertakan":
            occupation = KENDARI_OCCUPATIONS[h % len(KENDARI_OCCUPATIONS)]
        else:
            occupation = OCCUPATIONS[h % len(OCCUPATIONS)]
        row = dict(
            reference=reference(i), nik=nik,
            full_name=f"{FIRST[h % len(FIRST)]} {LAST[h // 20 % len(LAST)]}", birth_date=born,
            phone=f"628{h % 10**9 + 10**9:010d}"[:13], occupation=occupation,
            occupation_other="tukang parkir" if occupation == "other" else None,
            kelurahan=f"Kelurahan {h % 97}", kecamatan=f"Kecamatan {h % 11}",
            monthly_income=(h % 40 + 5) * 100_000, status="self_paid", channel="telegram",
            chat_key=f"telegram:{500_000_000 + chat}", locale="en" if h % 10 == 0 else "id",
            consent_version="2026-01", consented_at=created, created_at=created,
            programme_id=group.programme, dtsen_desil=None, status_reason=None,
            queued_at=None, queue_ticket=None, coverage_start=None, coverage_end=None,
            kpj=None)
        if group.programme is None:
            return row
        holding, joined = self.holding(group), self.joined(group)
        row["dtsen_desil"] = h % 4 + 1
        if j < holding:
            row.update(status="active" if j % 5 else "enrolled",
                       coverage_start=max(created.date(), date(2026, 1, 1)),
                       coverage_end=date(2026, 12, 31), kpj=f"26{i:09d}" if j % 5 else None)
        elif j < holding + joined:
            ticket = j - holding + 1
            row.update(status="waiting_list", queued_at=created, queue_ticket=ticket)
            if ticket % LEAVE_EVERY == 0:
                row.update(status="rejected", status_reason="Data tidak sesuai DTSEN")
        else:
            status = OTHER_STATUSES[j % 20]
            row["status"] = status
            if status == "not_eligible":
                row["dtsen_desil"] = 5 + h % 6
            elif status == "waiting_verification":
                row["dtsen_desil"] = None
            elif status in ("rejected", "ended"):
                row["status_reason"] = "Tidak berdomisili di wilayah program"
            elif status == "lapsed":
                row.update(coverage_start=date(2025, 1, 1), coverage_end=date(2025, 12, 31),
                           kpj=f"25{i:09d}")
        return row

    def position(self, i: int) -> int | None:
        """Worker i's place on its programme's waiting list (None: not on one)."""
        group = GROUP_OF[i % 100]
        if group.programme is None:
            return None
        j = i // 100 * group.width + i % 100 - group.start
        ticket = j - self.holding(group) + 1
        if not 1 <= ticket <= self.joined(group) or ticket % LEAVE_EVERY == 0:
            return None
        return ticket - ticket // LEAVE_EVERY

    def waiting_indices(self, group: Group) -> tuple[int, int]:
        """The first and last row on the group's waiting list."""
        def index(j: int) -> int:
            return j // group.width * 100 + group.start + j % group.width
        holding, joined = self.holding(group), self.joined(group)
        last = holding + joined - (1 if joined % LEAVE_EVERY else 2)
        return index(holding), index(last)

    def summary(self) -> dict:
        return {"programmes": {g.programme: {"workers": group_size(g, self.workers),
                                             "holding_a_place": self.holding(g),
                                             "waiting_list": self.waiting(g),
                                             "left_the_line": self.joined(g) // LEAVE_EVERY}
                               for g in GROUPS if g.programme},
                "self_paid": group_size(GROUPS[-1], self.workers),
                "chats_with_two_workers": self.workers // 25}


def reference(i: int) -> str:
    """LD-XXXX-XXXX, distinct for every i below 2**40 (an odd multiplier permutes them)."""
    n = (i * 0x5DEECE66D + 0xB) % 2**40
    code = "".join(REFERENCE_ALPHABET[n >> (5 * k) & 31] for k in range(8))
    return f"LD-{code[:4]}-{code[4:]}"


# --- filling a database -----------------------------------------------------------------------

async def fill(url: str, shape: Shape) -> dict:
    from models.migrate import upgrade
    from models.store import Store

    store = Store.connect(url)
    try:
        await upgrade(store.engine)
        async with store.engine.connect() as conn:
            columns = {table: set((await conn.exec_driver_sql(
                f"SELECT * FROM {table} WHERE 1 = 0")).keys())
                for table in ("worker", "programme_place")}
    finally:
        await store.close()
    workers = [c for c in WORKER_COLUMNS if c in columns["worker"]]
    places = [{k: v for k, v in {"programme_id": g.programme, "taken": shape.holding(g),
                                 "waiting": shape.waiting(g), "tickets": shape.joined(g)}.items()
               if k in columns["programme_place"]} for g in GROUPS if g.programme]
    started = time.perf_counter()
    if url.startswith("sqlite"):
        await fill_sqlite(url, shape, workers, places)
    else:
        await fill_postgres(url, shape, workers, places)
    loaded = time.perf_counter() - started
    result = {"seconds": round(loaded, 1), "rows_per_s": round(shape.workers / loaded),
              "worker_columns": len(workers)}
    if not url.startswith("sqlite"):
        started = time.perf_counter()
        conn = await _pg_connect(url)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
        result["vacuum_analyze_s"] = round(time.perf_counter() - started, 1)
    return result


async def fill_sqlite(url: str, shape: Shape, columns: list[str], places: list[dict],
                      chunk: int = 50_000, per_transaction: int = 250_000) -> None:
    """Core executemany: the statements and type conversions the store itself writes with."""
    from sqlalchemy import insert

    from models.db import create_engine
    from models.schema import place, worker

    engine = create_engine(url)
    try:
        for start in range(0, shape.workers, per_transaction):
            async with engine.begin() as conn:
                # A bigger page cache for the load only (the bot's connections keep 2 MB).
                await conn.exec_driver_sql("PRAGMA cache_size=-400000")
                for first in range(start, min(start + per_transaction, shape.workers), chunk):
                    rows = [{c: row[c] for c in columns} for row in
                            map(shape.row, range(first, min(first + chunk, shape.workers)))]
                    await conn.execute(insert(worker), rows)
        async with engine.begin() as conn:
            await conn.execute(insert(place), places)
    finally:
        await engine.dispose()


SEALED = ("nik", "birth_date", "phone")
"""What the store seals (``models.vault``): COPY bypasses SQLAlchemy, so it is sealed here."""


def _text(value) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


async def _pg_connect(url: str):
    import asyncpg

    parsed = make_url(url)
    return await asyncpg.connect(host=parsed.host, port=parsed.port or 5432,
                                 user=parsed.username, password=parsed.password,
                                 database=parsed.database)


async def fill_postgres(url: str, shape: Shape, columns: list[str], places: list[dict],
                        chunk: int = 50_000) -> None:
    """asyncpg COPY, in one transaction, the personal fields sealed as the store seals them."""
    from models.vault import vault

    box = vault()
    conn = await _pg_connect(url)
    try:
        async with conn.transaction():
            for first in range(0, shape.workers, chunk):
                records = [(*(box.seal(_text(row[c]).encode(), f"worker.{c}")
                              if c in SEALED else row[c] for c in columns),
                            box.index(row["nik"]))
                           for row in map(shape.row, range(first, min(first + chunk,
                                                                      shape.workers)))]
                await conn.copy_records_to_table("worker", records=records,
                                                 columns=[*columns, "nik_index"])
            await conn.copy_records_to_table(
                "programme_place", columns=list(places[0]),
                records=[tuple(p.values()) for p in places])
    finally:
        await conn.close()


# --- the look-ups (in a child process: a process that is only the bot's engine and store) ----

def percentiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"count": 0}

    def pct(p: float) -> float:
        return round(values[min(len(values) - 1, math.ceil(p / 100 * len(values)) - 1)], 2)

    return {"count": len(values), "p50": pct(50), "p95": pct(95), "p99": pct(99),
            "max": round(values[-1], 2), "mean": round(statistics.fmean(values), 2)}


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def plan_lookups(shape: Shape, lookups: int, rng: random.Random) -> list[tuple[str, int, str]]:
    """(kind, worker index, variant) for every timed message, shuffled."""
    ops = [("status_own_chat", rng.randrange(shape.workers), "") for _ in range(lookups)]
    for _ in range(lookups):
        variant = "stored_nik" if rng.random() < 0.9 else "unknown_nik"
        ops.append(("lookup_other", rng.randrange(shape.workers), variant))
    lines = [shape.waiting_indices(g) for g in GROUPS if g.programme and shape.waiting(g)]
    weights = [shape.waiting(g) for g in GROUPS if g.programme and shape.waiting(g)]
    for _ in range(lookups):
        first, last = rng.choices(lines, weights)[0]
        while True:
            i = rng.randint(first, last)
            if shape.position(i) is not None:
                break
        ops.append(("status_waiting_list", i, ""))
    rng.shuffle(ops)
    return ops


def expected(shape: Shape, i: int, variant: str) -> list[tuple[str, int | None]]:
    """What the replies should say: per worker shown, its status and waiting-list position."""
    if variant in ("stored_nik", "unknown_nik"):
        return []  # a code is sent to the worker's chats, or seems to be: nothing shown
    chat = i - 1 if i % 25 == 24 else i
    same = [chat] + ([chat + 1] if (chat + 1) % 25 == 24 and chat + 1 < shape.workers else [])
    return [(shape.row(k)["status"], shape.position(k)) for k in same]


async def measure(url: str, workers: int, lookups: int) -> dict:
    from bot.context import Context
    from bot.engine import Engine
    from bot.i18n import Catalogs
    from bot.messages import Inbound
    from bot.programmes import parse_programmes
    from bot.quiet_hours import WIB
    from bot.rules import Rules
    from bot.session import Session
    from bot.status import STATE
    from handlers.conversations import new_reference
    from models.store import Store

    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    for programme in programmes.programme:
        quota = programme.cycle_on(NOW.date()).quota
        assert quota in (QUOTAS[programme.id], None), programme.id
    engine = Engine(Catalogs(), Rules(), programmes, b"k" * 32)
    store = Store.connect(url)
    shape = Shape(workers)
    rng = random.Random(SEED)
    ops = plan_lookups(shape, lookups, rng)
    warmup = [(kind, rng.randrange(workers), variant)
              for kind, _, variant in rng.sample(ops, min(WARMUP, len(ops)))]
    ctx_today = NOW.astimezone(WIB).date()
    rss_before = rss_mb()

    def message(kind: str, i: int, variant: str) -> tuple[Session | None, Inbound]:
        row = shape.row(i)
        if kind == "lookup_other":  # each from a chat of its own: the NIKs a chat may try
            nik = row["nik"] if variant == "stored_nik" else UNKNOWN_REGION + row["nik"][4:]
            session = Session(locale="id", flow="lookup", step="nik",
                              updated_at=NOW.isoformat())
            return session, Inbound("telegram", str(900_000_000 + i), str(i), "text", nik)
        return None, Inbound("telegram", row["chat_key"].split(":", 1)[1], str(i), "text",
                             "status")

    async def one(kind: str, i: int, variant: str) -> tuple[float, list]:
        session, inbound = message(kind, i, variant)
        started = time.perf_counter()
        async with store.transaction() as tx:
            ctx = Context(now=NOW, today=ctx_today, lookup=tx, new_reference=new_reference)
            outcome = await engine.handle(session, inbound, ctx)
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, outcome.replies

    status_of_msgid = {msgid: status for status, msgid in STATE.items()}

    def shown(replies) -> list[tuple[str, int | None]]:
        out = []
        for reply in replies:
            if reply.msgid == "status.worker":
                state = reply.params["state"]
                out.append((status_of_msgid[state.msgid], state.params.get("position")))
        return out

    try:
        for kind, i, variant in warmup:
            await one(kind, i, variant)
        times: dict[str, list[float]] = {}
        by_group: dict[str, dict[str, list[float]]] = {}
        errors, examples = 0, []
        started = time.perf_counter()
        for kind, i, variant in ops:
            elapsed, replies = await one(kind, i, variant)
            want = expected(shape, i, variant)
            got = shown(replies)
            if kind == "lookup_other":  # the same answer whether the NIK is stored or not
                ok = [r.msgid for r in replies] == ["lookup.code_prompt"]
            else:
                ok = got == want
            if not ok:
                errors += 1
                if len(examples) < 5:
                    examples.append({"kind": kind, "worker": i, "variant": variant,
                                     "expected": want, "got": got,
                                     "msgids": [r.msgid for r in replies]})
            times.setdefault(kind, []).append(elapsed)
            group = ("not_found" if not want else
                     "waiting_list" if any(s == "waiting_list" for s, _ in want) else "other")
            by_group.setdefault(kind, {}).setdefault(group, []).append(elapsed)
        wall = time.perf_counter() - started
    finally:
        await store.close()
    kinds = {}
    for kind, values in times.items():
        figures = percentiles(values)
        figures["p99_below_goal"] = figures["p99"] < GOAL_P99_MS
        figures["by_worker"] = {g: percentiles(v) for g, v in sorted(by_group[kind].items())}
        kinds[kind] = figures
    return {"kinds": kinds, "messages": len(ops), "warmup_messages": len(warmup),
            "messages_per_s": round(len(ops) / wall, 1), "errors": errors,
            "error_examples": examples, "rss_before_lookups_mb": rss_before,
            "rss_after_lookups_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}


# --- the store's queries alone, and their plans -----------------------------------------------

async def explain(url: str, shape: Shape, repeat: int = 20) -> dict:
    """The statements the store sends for a status look-up, caught on their way to the driver
    (so they stay the store's own): each one's median time alone (``repeat`` runs, caches warm)
    and its plan. The waiting-list position is asked for the last in the longest line."""
    from sqlalchemy import event

    from models.store import Store

    store = Store.connect(url)
    sent: list[tuple[str, str, object]] = []
    current = {"name": ""}

    def catch(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((current["name"], statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", catch)
    padang = GROUPS[0]
    try:
        async with store.transaction() as tx:
            current["name"] = "workers_of_chat"
            await tx.workers_of_chat(shape.row(0)["chat_key"])
            current["name"] = "worker_by_nik"
            last = await tx.worker_by_nik(shape.row(shape.waiting_indices(padang)[1])["nik"])
            current["name"] = "waiting_position_last_of_padang"
            position = await tx.waiting_position(last)
        event.remove(store.engine.sync_engine, "before_cursor_execute", catch)
        assert position == shape.waiting(padang), (position, shape.waiting(padang))
        out = {}
        async with store.engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            prefix = "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
            for n, (name, statement, parameters) in enumerate(sent):
                if sum(other == name for other, _, _ in sent) > 1:
                    name = f"{name}.{sum(other == name for other, _, _ in sent[:n]) + 1}"
                runs = []
                for _ in range(repeat):
                    started = time.perf_counter()
                    (await conn.exec_driver_sql(statement, parameters)).all()
                    runs.append((time.perf_counter() - started) * 1000)
                plan = await conn.exec_driver_sql(prefix + statement, parameters)
                out[name] = {"median_ms": round(statistics.median(runs), 2),
                             "max_ms": round(max(runs), 2), "sql": " ".join(statement.split()),
                             "plan": [" | ".join(str(v) for v in row) if len(row) > 1
                                      else str(row[0]) for row in plan]}
            await conn.rollback()
        return out
    finally:
        await store.close()


# --- running it -------------------------------------------------------------------------------

def machine() -> dict:
    return {**registration_bench.machine(), "python": platform.python_version()}


def versions() -> dict:
    from importlib.metadata import version

    return {"sqlalchemy": version("sqlalchemy"), "aiosqlite": version("aiosqlite"),
            "asyncpg": version("asyncpg"), "sqlite": sqlite3.sqlite_version}


async def _admin(sql: str) -> str | None:
    conn = await _pg_connect(POSTGRES_URL)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def run_database(database: str, shape: Shape, lookups: int, workdir: Path) -> dict:
    if database == "sqlite":
        path = workdir / "lindungi_bench_status.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        asyncio.run(_admin(f'CREATE DATABASE "{PG_DATABASE}"'))
        url = make_url(POSTGRES_URL).set(database=PG_DATABASE).render_as_string(False)
    try:
        result: dict = {"fill": asyncio.run(fill(url, shape))}
        if database == "sqlite":
            result["database_mb"] = round(sum(
                p.stat().st_size for p in workdir.glob("lindungi_bench_status.db*")) / 2**20)
            result["sqlite_version"] = sqlite3.sqlite_version
        else:
            result["database_mb"] = round(asyncio.run(_admin(
                f"SELECT pg_database_size('{PG_DATABASE}')")) / 2**20)
            result["server_version"] = asyncio.run(_admin("SHOW server_version"))
            result["shared_buffers"] = asyncio.run(_admin("SHOW shared_buffers"))
        child = subprocess.run(
            [sys.executable, "-m", "bench.status_lookup", "--measure", url,
             "--workers", str(shape.workers), "--lookups", str(lookups)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True)
        result["lookups"] = json.loads(child.stdout)
        result["queries_alone"] = asyncio.run(explain(url, shape))
        return result
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)'))
        else:
            for p in workdir.glob("lindungi_bench_status.db*"):
                p.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.status_lookup")
    parser.add_argument("--workers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2000,
                        help="timed messages of each kind")
    parser.add_argument("--databases", type=lambda s: s.split(","),
                        default=["sqlite", "postgresql"])
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    registration_bench.use_bench_keys()  # the child measuring inherits them
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.measure, args.workers, args.lookups))))
        return
    shape = Shape(args.workers)
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench_status_") as tmp:
        databases = {db: run_database(db, shape, args.lookups, Path(tmp))
                     for db in args.databases}
    verdict = {db: {kind: figures["p99_below_goal"]
                    for kind, figures in result["lookups"]["kinds"].items()}
               for db, result in databases.items()}
    print(json.dumps({
        "date": started.isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench.status_lookup", *sys.argv[1:]]),
        "machine": machine(), "versions": versions(),
        "workers": args.workers, "lookups_per_kind": args.lookups,
        "data": shape.summary(),
        "goal": f"p99 under {GOAL_P99_MS:g} ms per look-up, transaction included",
        "databases": databases,
        "goal_met": verdict,
        "all_met": all(all(v.values()) for v in verdict.values()),
    }, indent=2, default=str))


if __name__ == "__main__":
    main()
