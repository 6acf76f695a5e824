"""The BPJS Ketenagakerjaan round trip as an operator runs it, in real processes: export the
enrolled, import their KPJ numbers, check the card the worker is sent."""

import asyncio
import contextlib
import csv
import json
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from bot.quiet_hours import WIB
from models.store import Store
from tests.test_e2e import START_TIMEOUT_S, environment
from tests.test_enrolment_io import add_workers, nik, worker_row

ROOT = Path(__file__).resolve().parent.parent


def lindungi(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``python main.py ARGS`` run from ``cwd`` (where files without a directory land)."""
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, encoding="utf-8",
                          timeout=START_TIMEOUT_S)


async def seed(url: str, *rows: dict) -> None:
    store = Store.connect(url)
    try:
        await add_workers(store, *rows)
    finally:
        await store.close()


def test_export_import_and_verify_a_card_from_the_command_line(tmp_path):
    db = tmp_path / "lindungi.db"
    url = f"sqlite+aiosqlite:///{db}"
    env = environment(DATABASE_URL=url)
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    today = datetime.now(WIB).date()
    until = today + timedelta(days=300)
    asyncio.run(seed(url, worker_row(1, coverage_start=today, coverage_end=until),
                     worker_row(2, status="waiting_verification")))

    exported = lindungi("export-enrolment", "--programme", "padang", env=env, cwd=tmp_path)
    name = f"enrolment-padang-{today:%Y%m%d}.csv"
    assert (exported.returncode, exported.stdout) == (0, f"1 workers written to {name}\n"), \
        exported.stderr
    batch = tmp_path / name
    assert stat.S_IMODE(batch.stat().st_mode) == 0o600
    with batch.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["nik"], r["alamat"], r["selesai"]) for r in rows] == [
        (nik(1), "Air Tawar Barat, Padang Utara, Kota Padang", until.isoformat())]

    again = lindungi("export-enrolment", "--programme", "padang", env=env, cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"lindungi: {name} already exists: not overwritten (move it away, or choose another "
        "--output)"]

    answer = tmp_path / "kpj.csv"
    answer.write_text("NIK;KPJ\n" + "".join(f"{r['nik']};12345678901\n" for r in rows)
                      + f"{nik(2)};12345678902\n")
    imported = lindungi("import-kpj", str(answer), env=env, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout == "2 rows: 1 activated, 0 unchanged, 1 bad\n"
    assert imported.stderr == "line 3: LD-TEST-0002 is waiting_verification, not enrolled\n"
    repeated = lindungi("import-kpj", str(answer), env=env, cwd=tmp_path)
    assert repeated.stdout == "2 rows: 0 activated, 1 unchanged, 1 bad\n"

    with contextlib.closing(sqlite3.connect(db)) as conn:
        [(replies,)] = conn.execute("SELECT replies FROM outbox").fetchall()
        status = conn.execute("SELECT status, kpj FROM worker WHERE nik = ?",
                              (nik(1),)).fetchone()
    assert status == ("active", "12345678901")
    token = json.loads(replies)[0]["card"]["token"]

    verified = lindungi("verify-card", token, env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == (
        "genuine: LD-TEST-0001, PEKERJA 1, NIK 1371********0001, KPJ 12345678901, Perlindungan "
        f"Pekerja Rentan Kota Padang, active until {until.isoformat()}\n")

    payload, signature = token.split(".")[1:]
    forged = lindungi("verify-card", f"LD1.{payload}.{signature[::-1]}", env=env, cwd=tmp_path)
    assert (forged.returncode, forged.stdout) == (1, "not a genuine Lindungi card\n")

    log = lindungi("staff", "log", env=env, cwd=tmp_path).stdout.splitlines()
    assert [line.split("\t")[2:4] for line in log] == [
        ["worker.active", "LD-TEST-0001"], ["enrolment.export", "padang"]]
    assert all(line.split("\t")[1].startswith("cli:") for line in log)


def test_an_unknown_programme_is_named_with_the_valid_ones(tmp_path):
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/lindungi.db")
    done = lindungi("export-enrolment", "--programme", "bukittinggi", "--output",
                    str(tmp_path / "out.csv"), env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "lindungi: unknown programme 'bukittinggi'; the programmes are: padang, padang-panjang, "
        "kendari-sertakan, jambi, jambi-keagamaan, sijunjung"]
    assert not (tmp_path / "out.csv").exists()


def test_an_existing_output_file_is_never_overwritten(tmp_path):
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/lindungi.db")
    kept = tmp_path / "out.csv"
    kept.write_text("an earlier batch\n")
    done = lindungi("export-enrolment", "--programme", "padang", "--output", str(kept),
                    env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"lindungi: {kept} already exists: not overwritten (move it away, or choose another "
        "--output)"]
    assert kept.read_text() == "an earlier batch\n"
    missing = lindungi("import-kpj", str(tmp_path / "none.csv"), env=env, cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        1, f"lindungi: no such file: {tmp_path / 'none.csv'}\n")

