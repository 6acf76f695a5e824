"""How long ``main.py import-members`` takes for a list of 100,000 rows, and its peak memory.

    .venv/bin/python -m bench.members_import [--rows 100000] [--databases sqlite,postgresql]

Writes a synthetic list of Sijunjung members, each with two rows (cycles 2025 and 2026, as a
member since before the bot has), a phone each, then runs ``python main.py import-members`` as
a subprocess on a fresh database, and again (every row unchanged). Prints one JSON object.
PostgreSQL is taken from ``BENCH_POSTGRES_URL`` (default: the local server); a fresh database
is created and dropped.
"""

import argparse
import asyncio
import csv
import json
import platform
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from bench.dtsen_import import POSTGRES_URL, _admin
from bench.registration import environment, machine
from bench.renewal import ROOT, run


def nik(i: int) -> str:
    serial, rest = i % 9999 + 1, i // 9999
    return f"1303{rest % 99 + 1:02d}{rest // 99 % 28 + 1:02d}0885{serial:04d}"


def letters(i: int) -> str:
    """A name part for number ``i`` (names have no digits): AAAA, AAAB, …"""
    out = ""
    for _ in range(4):
        i, rest = divmod(i, 26)
        out = chr(65 + rest) + out
    return out


def write_list(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle, delimiter=";")
        out.writerow(["nik", "nama", "tanggal_lahir", "kpj", "program", "siklus", "mulai",
                      "no_hp", "kelurahan"])
        for row in range(rows):
            i, year = row // 2, 2025 + row % 2
            out.writerow([nik(i), f"ANGGOTA {letters(i)}", "1985-08-17", f"3{i:010d}", "sijunjung",
                          year, f"{year}-01-01", f"0813{i:08d}", "Muaro"])


def measure(database: str, path: Path, workdir: Path) -> dict:
    name = f"bench_members_{uuid.uuid4().hex[:8]}"
    if database == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
    else:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    env = environment(DATABASE_URL=url)
    try:
        subprocess.run([sys.executable, "main.py", "db", "upgrade"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        first = run(["import-members", str(path)], env)
        again = run(["import-members", str(path)], env)
    finally:
        if database == "postgresql":
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return {"import": first, "import_again": again,
            "rows_per_s": round(int(first["said"].split()[0]) / first["seconds"])}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.members_import")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--databases", type=lambda s: s.split(","),
                        default=["sqlite", "postgresql"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "anggota.csv"
        write_list(path, args.rows)
        print(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.members_import " + " ".join(sys.argv[1:]),
            "machine": {**machine(), "python": platform.python_version()},
            "rows": args.rows, "file_mb": round(path.stat().st_size / 2**20, 1),
            "databases": {db: measure(db, path, workdir) for db in args.databases},
        }, indent=2))


if __name__ == "__main__":
    main()
