"""The BPJS Ketenagakerjaan round trip as an operator runs it, in real processes: export the
enrolled, import their KPJ numbers, check the card the worker is sent."""

import asyncio
import contextlib
import csv
import json
import os
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from bot.quiet_hours import WIB
from models.store import Store
from models.vault import nik_index, vault
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
    exports = tmp_path / "exports"
    env = environment(DATABASE_URL=url, EXPORTS_DIR=str(exports))
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    today = datetime.now(WIB).date()
    until = today + timedelta(days=300)
    asyncio.run(seed(url, worker_row(1, coverage_start=today, coverage_end=until),
                     worker_row(2, status="waiting_verification")))

    exported = lindungi("export-enrolment", "--programme", "padang", env=env, cwd=tmp_path)
    batch = exports / f"enrolment-padang-batch-1-{today:%Y%m%d}.csv"
    assert (exported.returncode, exported.stdout) == (
        0, f"batch 1: 1 worker written to {batch}\n"), exported.stderr
    assert stat.S_IMODE(batch.stat().st_mode) == 0o600
    assert stat.S_IMODE(exports.stat().st_mode) == 0o700
    with batch.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["nik"], r["alamat"], r["selesai"]) for r in rows] == [
        (nik(1), "Air Tawar Barat, Padang Utara, Kota Padang", until.isoformat())]

    nothing = lindungi("export-enrolment", "--programme", "padang", env=env, cwd=tmp_path)
    assert (nothing.returncode, nothing.stdout) == (0, "nothing to send: every enrolled "
                                                       "worker of padang is in a batch already "
                                                       "(the last: batch 1)\n")
    again = lindungi("export-enrolment", "--programme", "padang", "--batch", "1", env=env,
                     cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f"lindungi: database {db}",
        f"lindungi: {batch} already exists: not overwritten (move it away, or choose another "
        "--output)"]
    copy = tmp_path / "batch-1-again.csv"
    remade = lindungi("export-enrolment", "--programme", "padang", "--batch", "1", "--output",
                      str(copy), env=env, cwd=tmp_path)
    assert remade.stdout == f"batch 1 again: 1 worker written to {copy}\n"
    assert copy.read_text() == batch.read_text()
    listed = lindungi("export-enrolment", "--programme", "padang", "--list", env=env,
                      cwd=tmp_path)
    [line] = listed.stdout.splitlines()
    assert line.startswith("batch 1: ") and line.endswith(
        f", 1 worker, cover from {today:%Y-%m-%d}, {batch.name}")
    unknown = lindungi("export-enrolment", "--programme", "padang", "--batch", "5", env=env,
                       cwd=tmp_path)
    assert unknown.stderr.splitlines()[-1] == ("lindungi: padang has no batch 5; its batches "
                                               "are 1 to 1")

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
        status = conn.execute("SELECT status, kpj FROM worker WHERE nik_index = ?",
                              (nik_index(nik(1)),)).fetchone()
    replies = vault().open(replies, "outbox.replies")  # sealed, as every stored reply
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
        ["worker.active", "LD-TEST-0001"],  # newest first: each export decrypted one NIK
        ["nik.revealed", "LD-TEST-0001"], ["enrolment.export", "padang"],
        ["nik.revealed", "LD-TEST-0001"], ["enrolment.export", "padang"]]
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
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    kept = tmp_path / "out.csv"
    kept.write_text("an earlier batch\n")
    done = lindungi("export-enrolment", "--programme", "padang", "--output", str(kept),
                    env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"lindungi: database {tmp_path / 'lindungi.db'}",
        f"lindungi: {kept} already exists: not overwritten (move it away, or choose another "
        "--output)"]
    assert kept.read_text() == "an earlier batch\n"
    missing = lindungi("import-kpj", str(tmp_path / "none.csv"), env=env, cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        1, f"lindungi: no such file: {tmp_path / 'none.csv'}\n")



def test_commands_that_read_never_create_a_database_and_say_which_they_opened(tmp_path):
    db = tmp_path / "elsewhere" / "lindungi.db"
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    for command in (("verify-card", "LD1.x.y"), ("broadcast-status", "1"), ("staff", "list"),
                    ("staff", "log"), ("export-enrolment", "--programme", "padang")):
        done = lindungi(*command, env=env, cwd=tmp_path)
        assert (done.returncode, done.stderr) == (1, (
            f"lindungi: no database at {db}: nothing has been registered there (set "
            "DATABASE_URL to the bot's database)\n")), command
    assert not db.parent.exists()

    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    nobody = lindungi("staff", "list", env=env, cwd=tmp_path)
    assert nobody.stderr == f"lindungi: database {db}\n"
    assert nobody.stdout.startswith("nobody is staff yet: add someone with python main.py "
                                    "staff add --telegram-id ID")
    added = lindungi("staff", "add", "--terminal", "--role", "admin", env=env, cwd=tmp_path)
    assert added.stdout == "added: terminal local as admin\n", added.stderr
    listed = lindungi("staff", "list", env=env, cwd=tmp_path).stdout
    assert listed.startswith("terminal local\tadmin")
    chat = subprocess.run([sys.executable, str(ROOT / "main.py"), "chat"], cwd=tmp_path,
                          env=env, input="/petugas\n", capture_output=True, text=True,
                          encoding="utf-8", timeout=START_TIMEOUT_S)
    assert chat.returncode == 0 and "/tinjau" in chat.stdout and "/klaim" in chat.stdout


def test_the_database_and_its_folders_are_the_bots_alone_whatever_the_umask(tmp_path):
    db = tmp_path / "new" / "deeper" / "lindungi.db"
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    upgraded = subprocess.run([sys.executable, str(ROOT / "main.py"), "db", "upgrade"],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              umask=0, timeout=START_TIMEOUT_S)
    assert upgraded.returncode == 0, upgraded.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for folder in (db.parent, db.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder

    old = os.umask(0)
    try:
        async def write() -> list[int]:
            store = Store.connect(f"sqlite+aiosqlite:///{db}")
            try:
                await store.secret("probe")  # a write: the -wal and -shm files now exist
                return [stat.S_IMODE(os.stat(f"{db}{end}").st_mode)
                        for end in ("-wal", "-shm")]
            finally:
                await store.close()

        assert asyncio.run(write()) == [0o600, 0o600]
    finally:
        os.umask(old)

    db.chmod(0o644)
    warned = lindungi("staff", "list", env=env, cwd=tmp_path)
    assert f"the database {db} can be read by other users of this machine: chmod 600" \
        in warned.stderr
