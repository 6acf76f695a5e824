"""How fast a DTSEN extract is imported, and whether memory grows with the file.

    .venv/bin/python -m bench.dtsen_import [--rows 1000000] [--databases sqlite,postgresql]

Writes a synthetic extract of valid rows, then runs ``python main.py import-dtsen`` as a
subprocess on a fresh database, twice (the second import finds every row unchanged), and once
more with a tenth of the rows to compare peak memory. Prints one JSON object. PostgreSQL is
taken from ``BENCH_POSTGRES_URL`` (default: the local server); a fresh database is created and
dropped.
"""

import argparse
import asyncio
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psutil
from sqlalchemy.engine import make_url

from bench.registration import environment

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
GOAL_SECONDS = 60


def write_extract(path: Path, rows: int) -> None:
    """Valid, distinct NIKs: district, day and serial vary (born in August 1985)."""
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["nik", "kk", "desil", "alamat"])
        for i in range(rows):
            serial, rest = i % 9999 + 1, i // 9999
            day, district = rest % 28 + 1, rest // 28 % 99 + 1
            nik = f"1371{district:02d}{day:02d}0885{serial:04d}"
            out.writerow([nik, f"1371{i:012d}", i % 10 + 1, f"Jl. Contoh No. {i % 500}"])


def run_import(path: Path, database_url: str) -> dict:
    """One import as a subprocess: wall seconds, peak RSS (sampled every 50 ms), its summary."""
    env = environment(DATABASE_URL=database_url, DTSEN_HMAC_KEY="b" * 64)
    started = time.perf_counter()
    proc = psutil.Popen([sys.executable, "main.py", "import-dtsen", str(path)], cwd=ROOT,
                        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    summary = proc.stdout.read().strip()
    if proc.returncode:
        raise SystemExit(f"import failed ({proc.returncode}): {summary}")
    return {"seconds": round(seconds, 1), "rows_per_s": round(int(summary.split()[0]) / seconds),
            "peak_rss_mb": round(peak / 2**20, 1), "summary": summary}


async def _admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username,
                                 password=url.password, database=url.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def measure(database: str, big: Path, small: Path, workdir: Path) -> dict:
    results = {}
    for label, extract in (("small", small), ("big", big)):
        name = f"bench_dtsen_{uuid.uuid4().hex[:8]}"
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
        else:
            asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
            url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
        try:
            results[f"{label}_first"] = run_import(extract, url)
            if label == "big":
                results["big_again"] = run_import(extract, url)
        finally:
            if database == "postgresql":
                asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    results["memory_growth"] = round(
        results["big_first"]["peak_rss_mb"] / results["small_first"]["peak_rss_mb"], 2)
    results["goal_met"] = (results["big_first"]["seconds"] < GOAL_SECONDS
                           and results["memory_growth"] < 1.2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dtsen_import")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--databases", type=lambda s: s.split(","),
                        default=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        big, small = workdir / "big.csv", workdir / "small.csv"
        write_extract(big, args.rows)
        write_extract(small, max(args.rows // 10, 1))
        print(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.dtsen_import " + " ".join(sys.argv[1:]),
            "machine": {"nproc": os.cpu_count(),
                        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                        "python": platform.python_version()},
            "rows": args.rows, "file_mb": round(big.stat().st_size / 2**20, 1),
            "goal": f"first import under {GOAL_SECONDS} s, peak memory growing < 1.2x "
                    "from a tenth of the rows",
            "databases": {db: measure(db, big, small, workdir) for db in args.databases},
        }, indent=2))


if __name__ == "__main__":
    main()
