"""How fast the staff console renders its busiest pages at a province's scale.

    .venv/bin/python -m bench.console [--workers 100000] [--claims 5000] [--requests 60]
                                      [--databases sqlite,postgresql]

Seeds a fresh database with ``--workers`` Padang workers (sealed as the bot stores them; one
in twenty waiting for a verifier, the rest active, over 11 kecamatan and 104 kelurahan and
every occupation, registered over the last 60 days) and ``--claims`` death claims with their
seven documents, signs an admin in, then asks the app in this process (no network: the
render time of the server) for each page ``--requests`` times: the registration queue, a
claim's page, the claims queue, the dashboards (all programmes and Padang's) and the
programmes. Prints one JSON object with the first, the median and the p95 in milliseconds per
page (the dashboards count their figures at the first request, then reuse them a minute).
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from bench.dtsen_import import POSTGRES_URL, _admin
from bench.registration import machine, use_bench_keys
from bench.renewal import nik

CHUNK = 5_000
NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
KINDS = ("death_certificate", "kk", "ktp_deceased", "ktp_heir", "heir_letter",
         "marriage_book", "savings_book")
OCCUPATIONS = ("ojek", "nelayan", "pedagang", "penjahit", "buruh_bangunan", "petani",
               "marbot", "sopir")


async def seed(store, workers: int, claims: int) -> None:
    from sqlalchemy import insert

    from models.schema import claim, claim_document, place, worker

    for start in range(0, workers, CHUNK):
        numbers = range(start, min(start + CHUNK, workers))
        async with store.transaction() as tx:
            await tx.conn.execute(insert(worker), [{
                "reference": f"LD-BNCH-{i:06d}", "nik": nik(i), "full_name": f"PEKERJA {i}",
                "birth_date": date(1985, 8, 17), "phone": f"+6281{i:09d}",
                "occupation": OCCUPATIONS[i % len(OCCUPATIONS)],
                "kelurahan": f"Kelurahan {i % 104}", "kecamatan": f"Kecamatan {i % 104 % 11}",
                "monthly_income": 1_500_000,
                "status": "waiting_verification" if i % 20 == 0 else "active",
                "channel": "whatsapp", "chat_key": f"whatsapp:6281{i:09d}",
                "locale": "en" if i % 5 else "id", "consent_version": "2026-11",
                "consented_at": NOW, "created_at": NOW - timedelta(minutes=i * 60 * 24 * 60
                                                                    // workers),
                "programme_id": "padang", "dtsen_desil": 2,
                "coverage_start": date(2026, 1, 1), "coverage_end": date(2026, 12, 31),
                "kpj": None if i % 20 == 0 else f"{i:011d}"} for i in numbers])
    async with store.transaction() as tx:
        await tx.conn.execute(insert(place).values(programme_id="padang", taken=workers,
                                                   waiting=0, tickets=0))
    statuses = ("submitted", "in_review", "documents_incomplete", "approved", "paid",
                "rejected")
    for start in range(0, claims, CHUNK):
        numbers = range(start, min(start + CHUNK, claims))
        async with store.transaction() as tx:
            ids = (await tx.conn.execute(insert(claim).returning(claim.c.id), [{
                "reference": f"JKM-2026-{i + 1:06d}", "deceased_nik": nik(i * 7 % workers),
                "worker_reference": f"LD-BNCH-{i * 7 % workers:06d}",
                "status": statuses[i % len(statuses)], "date_of_death": date(2026, 11, 1),
                "cause": "illness", "heir_name": f"AHLI WARIS {i}", "heir_nik": nik(i + 1),
                "heir_phone": "+6281298765432", "relationship": "spouse", "bank_name": "BRI",
                "account_number": "123456789012", "account_holder": f"ahli waris {i}",
                "estimate": 42_000_000, "channel": "whatsapp",
                "chat_key": f"whatsapp:62813{i:08d}", "locale": "id",
                "consent_version": "2026-11", "consented_at": NOW,
                "created_at": NOW - timedelta(hours=i % 500), "complete_at": NOW,
                "changed_at": NOW} for i in numbers])).scalars().all()
            await tx.conn.execute(insert(claim_document), [{
                "claim_id": claim_id, "kind": kind, "status": "received",
                "path": f"{n:064x}"[:2] + f"/{n:064x}.jpg", "sha256": f"{n:064x}",
                "mime_type": "image/jpeg", "size": 200_000, "received_at": NOW}
                for n, claim_id in enumerate(ids) for kind in KINDS])


async def measure(url: str, workers: int, claims: int, requests: int, tmp: Path) -> dict:
    import httpx

    from bot.config import Settings
    from handlers.staff_console import ConsoleDeps
    from handlers.startup import build
    from handlers.web import web_app
    from models.console_access import ConsoleAccess
    from models.migrate import upgrade
    from models.staff import StaffDirectory
    from models.store import Store

    store = Store.connect(url)
    await upgrade(store.engine)
    started = time.perf_counter()
    await seed(store, workers, claims)
    seeded = time.perf_counter() - started
    settings = Settings(_env_file=None, database_url=url, storage_dir=tmp / "files")
    _, conversations = await build(settings, store)
    conversations.clock = lambda: NOW
    await StaffDirectory(store).add("telegram", "9001", "admin", "Bench", "cli:bench", NOW)
    access = ConsoleAccess(store)
    member = await access.find_staff("telegram", "9001")
    session = await access.redeem(await access.issue_link(member, NOW), "id", NOW)
    app = web_app(conversations, None, store, None, None, console=ConsoleDeps(
        conversations, "http://127.0.0.1:8080/console", conversations.media,
        clock=lambda: NOW))
    pages = {"registration queue": "/console/registrations",
             "claim page": f"/console/claims/JKM-2026-{claims // 2:06d}",
             "claims queue": "/console/claims",
             "dashboards": "/console/dashboards",
             "dashboards of a programme": "/console/dashboards?programme=padang",
             "programmes": "/console/programmes"}
    found = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://127.0.0.1:8080",
                                 cookies={"lindungi_console": session}) as client:
        for name, path in pages.items():
            times = []  # the first counts the dashboards; the next ones reuse them a minute
            for _ in range(requests):
                begun = time.perf_counter()
                answer = await client.get(path)
                times.append((time.perf_counter() - begun) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{path}: {answer.status_code}")
            first = round(times[0], 1)
            times.sort()
            found[name] = {"first_ms": first, "median_ms": round(statistics.median(times), 1),
                           "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
                           "bytes": len(answer.content)}
    await store.close()
    return {"seed_seconds": round(seeded, 1), "pages": found,
            "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1)}


def on(database: str, workers: int, claims: int, requests: int, tmp: Path) -> dict:
    name = f"bench_console_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp}/{name}.db"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    try:
        return asyncio.run(measure(url, workers, claims, requests, tmp))
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.console")
    parser.add_argument("--workers", type=int, default=100_000)
    parser.add_argument("--claims", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--databases", type=lambda s: s.split(","),
                        default=["sqlite", "postgresql"])
    args = parser.parse_args()
    use_bench_keys()
    os.environ["LINDUNGI_ENV_FILE"] = ""
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.console " + " ".join(sys.argv[1:]),
            "machine": {**machine(), "python": platform.python_version()},
            "workers": args.workers, "claims": args.claims, "requests": args.requests,
            "databases": {db: on(db, args.workers, args.claims, args.requests, Path(tmp))
                          for db in args.databases},
        }, indent=2))


if __name__ == "__main__":
    main()
