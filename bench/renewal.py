"""How long ``main.py renew`` and ``main.py billing`` take for Padang's five-year target, and
their peak memory.

    .venv/bin/python -m bench.renewal [--workers 37584] [--databases sqlite,postgresql]

Seeds a fresh database with ``--workers`` members active in Padang's 2026 cycle (sealed as the
bot stores them, a tenth of them no longer admitted by the DTSEN extract loaded), then runs
``python main.py renew --programme padang --cycle 2027 --yes`` as a subprocess (2027's quota of
7,500 carries the oldest, the rest go in line or to review, every member gets a notice), and
once more (nothing to change), then ``main.py billing --programme padang --month 2026-11``
over the 2026 memberships. Prints one JSON object. PostgreSQL is taken from
``BENCH_POSTGRES_URL`` (default: the local server); a fresh database is created and dropped.
"""

import argparse
import asyncio
import hmac
import json
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from bench.dtsen_import import POSTGRES_URL, _admin
from bench.registration import environment, machine

ROOT = Path(__file__).resolve().parent.parent
DTSEN_KEY = "b" * 64
CHUNK = 5_000


def nik(i: int) -> str:
    serial, rest = i % 9999 + 1, i // 9999
    return f"1371{rest % 99 + 1:02d}{rest // 99 % 28 + 1:02d}0885{serial:04d}"


async def seed(url: str, workers: int) -> None:
    from sqlalchemy import insert

    from models.schema import dtsen, membership, place, worker
    from models.store import Store

    store = Store.connect(url)
    key = DTSEN_KEY.encode()  # as bot.config.Settings.dtsen_key gives it
    created = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        for start in range(0, workers, CHUNK):
            numbers = range(start, min(start + CHUNK, workers))
            async with store.transaction() as tx:
                await tx.conn.execute(insert(worker), [{
                    "reference": f"LD-BNCH-{i:06d}", "nik": nik(i), "full_name": f"PEKERJA {i}",
                    "birth_date": date(1985, 8, 17), "phone": f"+6281{i:09d}",
                    "occupation": "ojek", "kelurahan": "Air Tawar Barat",
                    "kecamatan": "Padang Utara", "monthly_income": 1_500_000,
                    "status": "active", "channel": "whatsapp",
                    "chat_key": f"whatsapp:6281{i:09d}", "locale": "en" if i % 5 else "id",
                    "consent_version": "2026-11", "consented_at": created,
                    "created_at": created + timedelta(minutes=i), "programme_id": "padang",
                    "dtsen_desil": 2, "coverage_start": date(2026, 1, 1),
                    "coverage_end": date(2026, 12, 31), "kpj": f"{i:011d}"} for i in numbers])
                await tx.conn.execute(insert(membership), [{
                    "worker_reference": f"LD-BNCH-{i:06d}", "programme_id": "padang",
                    "cycle": "2026", "funder": "APBD Kota Padang",
                    "starts_on": date(2026, 1, 1), "ends_on": date(2026, 12, 31),
                    "state": "confirmed", "source": "chat", "created_at": created,
                    "changed_at": created} for i in numbers])
                await tx.conn.execute(insert(dtsen), [{
                    "nik_hash": hmac.digest(key, nik(i).encode(), "sha256"),
                    "kk_hash": hmac.digest(key, str(i).encode(), "sha256"),
                    "desil": 7 if i % 10 == 9 else 2, "address": "Padang",
                    "updated_at": created} for i in numbers])
        async with store.transaction() as tx:
            await tx.conn.execute(insert(place).values(programme_id="padang", taken=workers,
                                                       waiting=0, tickets=0))
    finally:
        await store.close()


def run(args: list[str], env: dict[str, str]) -> dict:
    """One command as a subprocess: wall seconds, peak RSS (sampled every 50 ms), its last
    line."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as said:  # the preview lists thousands: a pipe fills
        proc = psutil.Popen([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                            stdout=said, stderr=subprocess.DEVNULL, text=True)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, proc.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        said.seek(0)
        out = said.read().strip()
    if proc.returncode:
        raise SystemExit(f"{args[0]} failed ({proc.returncode}): {out}")
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(peak / 2**20, 1),
            "said": out.splitlines()[-1]}


def measure(database: str, workers: int, workdir: Path) -> dict:
    name = f"bench_renewal_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    env = environment(DATABASE_URL=url, DTSEN_HMAC_KEY=DTSEN_KEY)
    renew = ["renew", "--programme", "padang", "--cycle", "2027", "--yes"]
    try:
        subprocess.run([sys.executable, "main.py", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        started = time.perf_counter()
        asyncio.run(seed(url, workers))
        seeded = time.perf_counter() - started
        first = run(renew, env)
        again = run(renew, env)
        bill = run(["billing", "--programme", "padang", "--month", "2026-11", "--output",
                    str(workdir / f"{name}-billing.csv")], env)
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {"seed_seconds": round(seeded, 1), "renew": first, "renew_again": again,
            "workers_per_s": round(workers / first["seconds"]), "billing": bill}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.renewal")
    parser.add_argument("--workers", type=int, default=37_584)
    parser.add_argument("--databases", type=lambda s: s.split(","),
                        default=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.renewal " + " ".join(sys.argv[1:]),
            "machine": {**machine(), "python": platform.python_version()},
            "workers": args.workers,
            "databases": {db: measure(db, args.workers, Path(tmp)) for db in args.databases},
        }, indent=2))


if __name__ == "__main__":
    main()
