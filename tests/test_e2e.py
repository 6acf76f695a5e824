"""``python main.py`` as an operator runs it: a real process, its settings from the environment,
Telegram played by the fake Bot API in this test's event loop, SQLite in a temporary file.

The processes are killed in ``finally`` blocks and every wait is bounded, so a hanging bot fails
its test instead of the run.
"""

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bot.config import Settings
from models.vault import vault
from tests.conftest import TEST_KEYS
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_telegram import NIK, registration, send, walk

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
NIK_2 = "1371011708850002"


SCRATCH = tempfile.mkdtemp(prefix="lindungi-tests-")
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)
"""Where a ``main.py`` a test starts keeps its database and files unless told otherwise:
never the project's own ``data/`` (a developer's database, sealed with their keys)."""


def environment(**settings: str) -> dict[str, str]:
    """This environment without any Lindungi setting a developer may have exported, plus
    ``settings``. Reminders are off unless asked for: when they fall due depends on the day
    the tests run."""
    env = {name: value for name, value in os.environ.items()
           if name.lower() not in Settings.model_fields}
    return {**env, "PYTHONIOENCODING": "utf-8", "REMINDER_COVERAGE_DAYS": "none",
            "REMINDER_DOCUMENTS_DAYS": "none", "DATA_KEYS": json.dumps(TEST_KEYS),
            "DATABASE_URL": f"sqlite+aiosqlite:///{SCRATCH}/lindungi.db",
            "STORAGE_DIR": f"{SCRATCH}/files", **settings}


def run_main(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, encoding="utf-8",
                          timeout=START_TIMEOUT_S)


@contextlib.asynccontextmanager
async def bot_process(env: dict[str, str], log: Path):
    with log.open("ab") as output:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "run", cwd=ROOT, env=env, stdout=output,
            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()


async def until_polling(tg: FakeTelegram, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not tg.polled.is_set():
        if proc.returncode is not None:
            pytest.fail(f"the bot exited with {proc.returncode} (its output is below)")
        if loop.time() > deadline:
            pytest.fail(f"the bot did not poll within {START_TIMEOUT_S}s")
        await asyncio.sleep(0.05)


async def test_registrations_survive_the_process_being_killed(tmp_path, bot_log):
    db = tmp_path / "e2e.db"
    second = registration(nik=NIK_2, name="Budi Santoso")
    async with FakeTelegram() as tg:
        env = environment(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                          DATABASE_URL=f"sqlite+aiosqlite:///{db}")
        async with bot_process(env, bot_log) as proc:
            await until_polling(tg, proc)
            assert "Rp16.800" in (await walk(tg, 1001, registration()))[-1].text
            answered = await walk(tg, 1002, second[:6])  # up to the name
            proc.kill()
            await proc.wait()

        tg.polled.clear()
        async with bot_process(env, bot_log) as proc:
            await until_polling(tg, proc)
            send(tg, 1002, second[6])  # the birth date
            reply = await tg.next_reply(1002)
            if reply.text == answered[-1].text:
                # Sent, but killed before recording that: replies are sent at least once.
                reply = await tg.next_reply(1002)
            assert second[6].expect in reply.text
            rest = await walk(tg, 1002, second[7:])
    assert "BUDI SANTOSO" in rest[-2].text  # the answers given before the kill were kept
    assert len(tg.replies(1002)) in (len(second), len(second) + 1)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT nik, chat_key FROM worker ORDER BY id").fetchall()
    assert [(vault().open(nik, "worker.nik").decode(), chat) for nik, chat in rows] == [
        (NIK, "telegram:1001"), (NIK_2, "telegram:1002")]


async def test_a_rejected_token_stops_start_up(tmp_path, bot_log):
    async with FakeTelegram() as tg:
        env = environment(TELEGRAM_BOT_TOKEN="654321:WRONG", TELEGRAM_API_BASE_URL=tg.base_url,
                          DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
        async with bot_process(env, bot_log) as proc:
            await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
    assert proc.returncode == 1
    last = bot_log.read_text().splitlines()[-1]
    assert last.startswith("lindungi: cannot reach Telegram (TELEGRAM_BOT_TOKEN")


async def test_a_token_revoked_while_running_stops_the_bot_with_one_line(tmp_path, bot_log):
    async with FakeTelegram() as tg:
        env = environment(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                          DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/e2e.db")
        async with bot_process(env, bot_log) as proc:
            await until_polling(tg, proc)
            tg.token = "654321:REVOKED"  # the long poll under way still answers
            tg.user_text(1001, "/start")
            await asyncio.wait_for(proc.wait(), START_TIMEOUT_S)
    assert proc.returncode == 1
    last = bot_log.read_text().splitlines()[-1]
    assert last == "lindungi: Telegram no longer accepts the bot token (TELEGRAM_BOT_TOKEN)"


def test_a_bad_setting_stops_start_up_with_one_line():
    done = run_main("run", env=environment(TELEGRAM_BOT_TOKEN=TOKEN, DATABASE_URL="mysql://x"))
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0], done.stderr


def test_mistakes_in_the_programmes_file_stop_start_up_one_line_each(tmp_path):
    shipped = (ROOT / "programmes.toml").read_text()
    broken = tmp_path / "programmes.toml"
    broken.write_text(shipped.replace("quota = 1_500", "quota = 0", 1).replace(
        'codes = ["1303"]', 'codes = ["1304"]').replace('codes = ["7471"]', 'codes = ["7400"]'))
    done = run_main("chat", env=environment(PROGRAMMES_FILE=str(broken)))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"lindungi: {broken}: programme 3 (kendari-sertakan): region.codes: '7400' is not a "
        'Kemendagri regency/city code (the first four digits of a NIK, e.g. "1371" for Kota '
        'Padang)',
        f"lindungi: {broken}: programme 3 (kendari-sertakan): cycle 1 (2025): quota: Input "
        "should be greater than 0",
        f"lindungi: {broken}: programme 6 (sijunjung): region: 'Kabupaten Sijunjung' is not "
        "the name of 1304: Kemendagri calls it 'Kabupaten Tanah Datar'"]
    missing = run_main("chat", env=environment(PROGRAMMES_FILE=str(tmp_path / "none.toml")))
    assert missing.returncode == 2 and "PROGRAMMES_FILE" in missing.stderr


def test_staff_are_managed_from_the_command_line(tmp_path):
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/staff.db")
    added = run_main("staff", "add", "--telegram-id", "5001", "--role", "verifier", "--name",
                     "Rina", env=env)
    assert (added.returncode, added.stdout) == (0, "added: telegram 5001 as verifier\n")
    assert run_main("staff", "add", "--telegram-id", "5001", "--role", "admin",
                    env=env).stdout == "updated: telegram 5001 as admin\n"
    listed = run_main("staff", "list", env=env).stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith("telegram 5001\tadmin\tRina\tsince ")
    missing = run_main("staff", "remove", "--telegram-id", "77", env=env)
    assert (missing.returncode, missing.stderr) == (1, "lindungi: telegram 77 is not staff\n")
    log = run_main("staff", "log", env=env).stdout.splitlines()
    assert [line.split("\t")[2:4] for line in log] == [
        ["staff.change", "telegram:5001"], ["staff.add", "telegram:5001"]]
    assert all(line.split("\t")[1].startswith("cli:") for line in log)
    bad = run_main("staff", "add", "--telegram-id", "abc", "--role", "admin", env=env)
    assert bad.returncode == 2 and "positive number" in bad.stderr
    lurah = run_main("staff", "add", "--telegram-id", "5003", "--role", "verifier", "--area",
                     "kelurahan:Air Tawar Barat", env=env)
    assert lurah.stdout == "added: telegram 5003 as verifier for kelurahan:Air Tawar Barat\n"
    assert run_main("staff", "list", env=env).stdout.splitlines()[1].endswith(
        "\tkelurahan:Air Tawar Barat")
    nowhere = run_main("staff", "add", "--telegram-id", "5004", "--role", "verifier", "--area",
                       "Air Tawar Barat", env=env)
    assert nowhere.returncode == 2 and "an area is kecamatan:NAME or kelurahan:NAME" in \
        nowhere.stderr


def test_staff_on_whatsapp_are_named_by_their_number(tmp_path):
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/staff.db")
    added = run_main("staff", "add", "--whatsapp", "0813-1111-2222", "--role", "verifier",
                     env=env)
    assert (added.returncode, added.stdout) == (0, "added: whatsapp 6281311112222 as verifier\n")
    listed = run_main("staff", "list", env=env).stdout.splitlines()
    assert len(listed) == 1 and listed[0].startswith("whatsapp 6281311112222\tverifier\t-")
    removed = run_main("staff", "remove", "--whatsapp", "+62 813 1111 2222", env=env)
    assert removed.stdout == "removed: whatsapp 6281311112222\n"
    for wrong in (["--whatsapp", "12"], ["--whatsapp", "0813", "--telegram-id", "5"], []):
        bad = run_main("staff", "add", *wrong, "--role", "admin", env=env)
        assert bad.returncode == 2, wrong
    assert "081234567890" in run_main("staff", "add", "--whatsapp", "12", "--role", "admin",
                                      env=env).stderr


def test_a_dtsen_extract_is_imported_from_the_command_line(tmp_path):
    extract = tmp_path / "dtsen.csv"
    extract.write_text("nik,kk,desil,alamat\n1371011708850001,1371010101100001,2,Padang\n"
                       "137101,1371010101100001,2,Padang\n")
    db = tmp_path / "dtsen.db"
    without_key = run_main("import-dtsen", str(extract),
                           env=environment(DATABASE_URL=f"sqlite+aiosqlite:///{db}"))
    assert without_key.returncode == 2 and "DTSEN_HMAC_KEY" in without_key.stderr
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{db}", DTSEN_HMAC_KEY="s" * 40)
    first = run_main("import-dtsen", str(extract), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "2 rows: 1 added, 0 changed, 0 unchanged, 1 bad\n"
    assert "line 3: NIK must have 16 digits" in first.stderr
    again = run_main("import-dtsen", str(extract), env=env)
    assert again.stdout == "2 rows: 0 added, 0 changed, 1 unchanged, 1 bad\n"
    missing = run_main("import-dtsen", str(tmp_path / "none.csv"), env=env)
    assert missing.returncode == 1 and "no such file" in missing.stderr


def test_db_upgrade_creates_the_tables(tmp_path):
    db = tmp_path / "new" / "fresh.db"
    env = environment(DATABASE_URL=f"sqlite+aiosqlite:///{db}")
    for _ in range(2):  # the second time, there is nothing to do
        done = run_main("db", "upgrade", env=env)
        assert done.returncode == 0, done.stderr
        assert "database is up to date" in done.stdout
    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"conversation", "inbound_message", "worker", "alembic_version"} <= tables


def test_a_chat_in_the_terminal(tmp_path):
    env = environment(TELEGRAM_BOT_TOKEN="", DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/c.db")
    done = run_main("chat", env=env, stdin="/start\n1\n1\n")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "1. 📝 Daftar" in out and "2. 🔎 Cek status" in out
    assert "Persetujuan data pribadi" in out and "1. ✅ Ya, setuju semuanya" in out
    assert out.index("1. 📝 Daftar") < out.index("Pilih bahasa") < out.index("Persetujuan")
