"""Broadcasts on SQLite and PostgreSQL: the audience chosen once (a chat once, STOP skipped),
recipients leased so that no two senders take the same one, and delivery against the fake Bot
API with 429s and blocked users: the counts add up and nobody gets a message twice."""

import asyncio
import signal
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta

import pytest

from bot.broadcasting import Audience
from bot.engine import Engine
from bot.messages import OptOut
from bot.quiet_hours import WIB, parse_quiet_hours
from bot.render import Renderer
from handlers.broadcasts import MAX_ATTEMPTS, MAX_RATE_LIMITED, BroadcastDelivery
from handlers.conversations import Conversations, RetryLater
from handlers.telegram import TelegramChannel
from models.broadcasts import DONE, SENDING, Broadcasts
from models.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_e2e import ROOT, START_TIMEOUT_S, bot_process, environment, until_polling
from tests.test_enrolment_io import add_workers, worker_row

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def opt_out(store, *chat_keys: str) -> None:
    async with store.transaction() as tx:
        for chat_key in chat_keys:
            await tx.opt_out(OptOut(chat_key, True), NOW)


async def counts(broadcasts: Broadcasts, audience: Audience) -> tuple[int, int]:
    preview = await broadcasts.preview(audience)
    return preview.total, preview.opted_out


async def test_the_audience_is_chosen_by_every_filter_and_each_chat_once(store):
    await add_workers(
        store, worker_row(1), worker_row(2, status="active"),
        worker_row(3, programme_id="jambi"), worker_row(4, locale="en", kelurahan="Ulak Karang"),
        worker_row(5, channel="whatsapp", chat_key="whatsapp:6281200000005"),
        # a second registration from the first chat: one message all the same
        worker_row(6, chat_key="telegram:1001", status="active"))
    broadcasts = Broadcasts(store)
    assert await counts(broadcasts, Audience()) == (5, 0)
    assert await counts(broadcasts, Audience(programme="padang")) == (4, 0)
    assert await counts(broadcasts, Audience(status="active")) == (2, 0)
    assert await counts(broadcasts, Audience(kelurahan="ulak karang ")) == (1, 0)
    assert await counts(broadcasts, Audience(locale="en")) == (1, 0)
    assert await counts(broadcasts, Audience(channel="whatsapp")) == (1, 0)
    assert await counts(broadcasts, Audience(programme="padang", status="enrolled")) == (3, 0)
    await opt_out(store, "telegram:1002")
    assert await counts(broadcasts, Audience()) == (5, 1)
    assert (await broadcasts.preview(Audience())).by_channel == {"telegram": 3, "whatsapp": 1}

    made = await broadcasts.create(Audience(), "Rapat Kepatuhan 15 Desember",
                                   "Compliance meeting on 15 December", "cli:ani", NOW)
    assert (made.total, made.pending, made.skipped, made.status) == (5, 4, 1, SENDING)
    leased = await broadcasts.claim(NOW, 10)
    assert sorted(r.chat_key for r in leased) == [
        "telegram:1001", "telegram:1003", "telegram:1004", "whatsapp:6281200000005"]
    assert {r.chat_key: r.text for r in leased}["telegram:1004"].startswith("Compliance")
    assert {r.chat_key: r.text for r in leased}["telegram:1001"].startswith("Rapat")
    assert await broadcasts.claim(NOW, 10) == []  # leased: nobody else takes them
    assert len(await broadcasts.claim(NOW + timedelta(minutes=3), 10)) == 4  # lease ran out


async def test_no_broadcast_goes_to_the_terminal_nor_to_a_worker_whose_death_was_reported(
        store):
    from tests.test_claim_store import file, filing

    await add_workers(
        store, worker_row(1), worker_row(2, status="active"),
        worker_row(3, channel="terminal", chat_key="terminal:local"),
        worker_row(4, status="active"))
    await file(store, filing(worker_reference="LD-TEST-0002", deceased_nik=worker_row(2)["nik"]))
    await file(store, filing(reference="JKM-2026-000002", worker_reference="LD-TEST-0004",
                             deceased_nik=worker_row(4)["nik"], status="rejected"))
    broadcasts = Broadcasts(store)
    preview = await broadcasts.preview(Audience())
    assert (preview.total, preview.by_channel) == (2, {"telegram": 2})
    reminder = await broadcasts.preview(Audience(), "coverage_ending", NOW.date())
    assert reminder.total == 2  # workers 1 and 4 (a rejected claim is no death)
    made = await broadcasts.create(Audience(), "Halo", None, "cli:ani", NOW)
    assert made.total == 2
    assert sorted(r.chat_key for r in await broadcasts.claim(NOW, 10)) == [
        "telegram:1001", "telegram:1004"]


async def test_results_are_kept_and_the_broadcast_ends_when_nobody_is_left(store):
    await add_workers(store, *(worker_row(n) for n in range(1, 4)))
    broadcasts = Broadcasts(store)
    made = await broadcasts.create(Audience(), "Halo", None, "cli:ani", NOW)
    first, second, third = await broadcasts.claim(NOW, 10)
    await broadcasts.retry_after([third.id], NOW + timedelta(seconds=30))
    await broadcasts.finish([(first.id, "sent", None), (second.id, "failed", "blocked"),
                             (third.id, "pending", "rate limited")], NOW)
    progress = await broadcasts.progress(made.broadcast_id)
    assert (progress.sent, progress.failed, progress.pending, progress.status) == (
        1, 1, 1, SENDING)
    assert await broadcasts.claim(NOW + timedelta(seconds=10), 10) == []
    [again] = await broadcasts.claim(NOW + timedelta(seconds=31), 10)
    assert again.attempts == 2
    await broadcasts.finish([(again.id, "sent", None)], NOW)
    assert (await broadcasts.progress(made.broadcast_id)).status == DONE
    assert await broadcasts.progress(999) is None


async def test_two_senders_never_lease_the_same_recipient(store, database_url):
    await add_workers(store, *(worker_row(n) for n in range(1, 61)))
    await Broadcasts(store).create(Audience(), "Halo", None, "cli:ani", NOW)
    other = Store.connect(database_url)
    try:
        stores = [Broadcasts(store), Broadcasts(other)]
        leased = await asyncio.gather(*(stores[n % 2].claim(NOW, 7) for n in range(12)))
    finally:
        await other.close()
    ids = [r.id for batch in leased for r in batch]
    assert len(ids) == 60 and len(set(ids)) == 60


async def test_a_broadcast_reaches_everyone_once_through_429s_and_blocked_users(store,
                                                                                catalogs):
    workers = 300
    await add_workers(store, *(worker_row(n, nik=f"1371011708850{n:03d}")
                               for n in range(1, workers + 1)))
    await opt_out(store, "telegram:1010", "telegram:1020")
    broadcasts = Broadcasts(store)
    async with FakeTelegram() as tg:
        conversations = Conversations(store, Engine(catalogs), Renderer(catalogs))
        channel = TelegramChannel(TOKEN, tg.base_url, conversations)
        await channel.bot.initialize()
        for blocked in (1030, 1040, 1050):
            tg.fail_sends(blocked, 403)
        tg.fail_sends(1060, 429, retry_after=1)
        tg.fail_sends(1070, 429, retry_after=1)
        made = await broadcasts.create(Audience(), "Iuran Anda dibayar sampai 31 Desember.",
                                       None, "cli:ani", NOW)
        delivery = BroadcastDelivery(broadcasts, Renderer(catalogs), {"telegram": channel},
                                     batch=50)
        await delivery.run_until_idle()
        await asyncio.sleep(1.1)  # the 429s' retry_after
        await delivery.run_until_idle()
        await channel.close()
        progress = await broadcasts.progress(made.broadcast_id)
        assert (progress.sent, progress.failed, progress.skipped, progress.pending) == (
            workers - 5, 3, 2, 0)
        assert progress.status == DONE
        for n in range(1, workers + 1):
            chat = 1000 + n
            expected = 0 if chat in (1010, 1020, 1030, 1040, 1050) else 1
            assert len(tg.replies(chat)) == expected, chat
        reply = tg.replies(1001)[0]
        assert "Pesan dari petugas" in reply.text and "31 Desember" in reply.text
        assert "🏠 Menu" in reply.buttons
    for blocked in ("telegram:1030", "telegram:1040", "telegram:1050"):
        assert (await store.contact(blocked)).opted_out
    again = await broadcasts.create(Audience(), "Lagi", None, "cli:ani", NOW)
    assert (again.pending, again.skipped) == (workers - 5, 5)


@pytest.mark.parametrize(("failure", "failures", "sent", "failed", "calls"), [
    (ConnectionError("network down"), 2, 1, 0, 3),  # tried again, then through
    (ConnectionError("network down"), 10, 0, 1, MAX_ATTEMPTS),  # given up with why
    (RetryLater(0.0), 1000, 0, 1, MAX_RATE_LIMITED),  # 429s for ever: given up at last
])
async def test_failures_are_tried_again_then_given_up(store, catalogs, failure, failures, sent,
                                                      failed, calls):
    await add_workers(store, worker_row(1))
    broadcasts = Broadcasts(store)
    made = await broadcasts.create(Audience(), "Halo", None, "cli:ani", NOW)
    clock = {"now": NOW}
    tries = []

    class Failing:
        async def send(self, chat_id, message):
            tries.append(chat_id)
            if len(tries) <= failures:
                raise failure

    delivery = BroadcastDelivery(broadcasts, Renderer(catalogs), {"telegram": Failing()},
                                 clock=lambda: clock["now"])
    for _ in range(MAX_RATE_LIMITED + 5):
        await delivery.run_until_idle()
        clock["now"] += timedelta(minutes=1)
    progress = await broadcasts.progress(made.broadcast_id)
    assert (progress.sent, progress.failed, progress.pending, len(tries)) == (
        sent, failed, 0, calls)


async def test_the_command_line_previews_sends_and_reports(tmp_path):
    db = tmp_path / "cast.db"
    url = f"sqlite+aiosqlite:///{db}"
    async with FakeTelegram() as tg:
        env = environment(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN,
                          TELEGRAM_API_BASE_URL=tg.base_url, TELEGRAM_RATE="200",
                          QUIET_HOURS="none")  # whatever the hour the tests run at

        async def lindungi(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "main.py", *args, cwd=ROOT, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(stdin.encode()),
                                              START_TIMEOUT_S)
            return subprocess.CompletedProcess(args, proc.returncode, out.decode(),
                                               err.decode())

        assert (await lindungi("db", "upgrade")).returncode == 0
        store = Store.connect(url)
        try:
            await add_workers(store, *(worker_row(n) for n in range(1, 21)),
                              worker_row(21, programme_id="jambi"))
            await opt_out(store, "telegram:1005")
        finally:
            await store.close()
        declined = await lindungi("broadcast", "--programme", "padang", "--text", "Halo",
                                  stdin="n\n")
        assert declined.returncode == 0, declined.stderr
        assert declined.stdout.splitlines()[0] == (
            "20 recipients (1 said STOP and are skipped); about 1 s at 200/s on Telegram")
        assert "not sent" in declined.stdout and tg.calls["sendmessage"] == 0
        sent = await lindungi("broadcast", "--programme", "padang", "--text",
                              "Rapat Kepatuhan tanggal 15 Desember", "--yes")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.splitlines()[-1] == "broadcast 1: 19 sent, 0 failed, 1 skipped"
        assert sum(len(tg.replies(1000 + n)) for n in range(1, 22)) == 19
        assert tg.replies(1005) == [] and tg.replies(1021) == []
        status = await lindungi("broadcast-status", "1")
        assert status.stdout == "broadcast 1: done; 19 sent, 0 failed, 1 skipped, 0 waiting " \
                                "(of 20)\n"
        assert (await lindungi("broadcast-status", "7")).returncode == 1
        unknown = await lindungi("broadcast", "--programme", "none", "--text", "Halo", "--yes")
        assert unknown.returncode == 1 and unknown.stderr.startswith(
            "lindungi: unknown --programme 'none'; known: padang, padang-panjang")
        for flag, value in (("--status", "aktif"), ("--occupation", "ojol")):
            wrong = await lindungi("broadcast", flag, value, "--text", "Halo", "--yes")
            assert wrong.returncode == 1 and f"unknown {flag} '{value}'; known:" in wrong.stderr
        nobody = await lindungi("broadcast", "--programme", "kendari-sertakan", "--text",
                                "Halo", "--yes")
        assert nobody.returncode == 1 and nobody.stderr.splitlines() == [
            "lindungi: nobody matches these filters, so nothing would be sent: check "
            "--programme, --status, --occupation, --kelurahan, --language and --channel"]
        one = await lindungi("broadcast", "--programme", "jambi", "--text", "Halo",
                             stdin="n\n")
        assert one.stdout.startswith("1 recipient (0 said STOP"), one.stdout
        env["QUIET_HOURS"] = "21:00-07:00"
        quiet = await lindungi("broadcast", "--programme", "jambi", "--text", "Halo",
                               stdin="n\n")
        env["QUIET_HOURS"] = "none"
        assert quiet.stdout.splitlines()[1] == (
            "nothing goes out in the quiet hours (21:00–07:00 Jakarta time): what is left "
            "then waits for the running bot to send it at 07:00")
        long = await lindungi("broadcast", "--text", "Halo", "--text-en", "x" * 3001, "--yes")
        assert long.returncode == 1 and "3001 characters long (--text-en)" in long.stderr
        assert tg.calls["sendmessage"] == 19

        reminder = await lindungi("broadcast", "--template", "coverage_ending", "--programme",
                                  "jambi", "--yes")
        assert reminder.returncode == 0, reminder.stderr
        assert reminder.stdout.splitlines()[-1] == "broadcast 2: 1 sent, 0 failed, 0 skipped"
        [card] = tg.replies(1021)
        assert "PEKERJA 21" in card.text and "berakhir pada 31 Desember 2026" in card.text
        heirs = await lindungi("broadcast", "--template", "documents_missing", "--programme",
                               "padang", "--yes")
        assert heirs.returncode == 1
        assert "filter it by --language and --channel only (not programme)" in heirs.stderr
        both = await lindungi("broadcast", "--template", "coverage_ending", "--text", "Halo")
        assert both.returncode == 2 and "not allowed with argument" in both.stderr

        later = await lindungi("broadcast", "--text", "Rapat Kepatuhan", "--at",
                               "2099-12-15 08:00", "--yes")
        assert "broadcast 3: 20 to send" in later.stdout
        assert (await lindungi("broadcast-status", "3")).stdout == (
            "broadcast 3: sending; 0 sent, 0 failed, 1 skipped, 20 waiting (of 21); done "
            "around 2099-12-15 08:00 Jakarta time\n")
        stopped = await lindungi("broadcast-cancel", "3")
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stdout == "broadcast 3 cancelled: 0 sent, 20 not sent\n"
        assert (await lindungi("broadcast-status", "3")).stdout == (
            "broadcast 3: cancelled; 0 sent, 0 failed, 1 skipped, 20 cancelled, 0 waiting "
            "(of 21)\n")
        again = await lindungi("broadcast-cancel", "3")
        assert again.returncode == 1 and "already cancelled" in again.stderr
        assert (await lindungi("broadcast-cancel", "9")).returncode == 1


async def test_a_broadcast_killed_midway_is_finished_by_the_running_bot(tmp_path, bot_log):
    """SIGKILL the command line mid-broadcast: the bot takes over once the lease runs out,
    and every worker gets the message. Each recipient is recorded as soon as it is sent, so
    only a send under way at the kill could go twice; at 50 a second that is one at most."""
    workers = 150
    db = tmp_path / "cast.db"
    url = f"sqlite+aiosqlite:///{db}"
    async with FakeTelegram() as tg:
        env = environment(DATABASE_URL=url, TELEGRAM_BOT_TOKEN=TOKEN,
                          TELEGRAM_API_BASE_URL=tg.base_url, TELEGRAM_RATE="50",
                          BROADCAST_LEASE_S="3", QUIET_HOURS="none")
        upgrade = await asyncio.create_subprocess_exec(sys.executable, "main.py", "db",
                                                       "upgrade", cwd=ROOT, env=env)
        assert await upgrade.wait() == 0
        store = Store.connect(url)
        try:
            await add_workers(store, *(worker_row(n, nik=f"1371011708850{n:03d}")
                                       for n in range(1, workers + 1)))
        finally:
            await store.close()
        with bot_log.open("ab") as log:
            cli = await asyncio.create_subprocess_exec(
                sys.executable, "main.py", "broadcast", "--text", "Rapat Kepatuhan", "--yes",
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        chats = [1000 + n for n in range(1, workers + 1)]
        for _ in range(int(START_TIMEOUT_S / 0.05)):
            if sum(len(tg.replies(chat)) for chat in chats) >= 40:
                break
            await asyncio.sleep(0.05)
        cli.send_signal(signal.SIGKILL)
        await cli.wait()
        before = sum(len(tg.replies(chat)) for chat in chats)
        assert 40 <= before < workers
        async with bot_process(env, bot_log) as bot:
            await until_polling(tg, bot)
            for _ in range(int(START_TIMEOUT_S / 0.1)):
                if all(tg.replies(chat) for chat in chats):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)
            bot.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(bot.wait(), START_TIMEOUT_S) == 0
    counts = [len(tg.replies(chat)) for chat in chats]
    assert min(counts) == 1, "somebody was skipped"
    assert sum(counts) - workers <= 1, f"{sum(counts) - workers} sent twice"
    store = Store.connect(url)
    try:
        progress = await Broadcasts(store).progress(1)
    finally:
        await store.close()
    assert (progress.status, progress.sent, progress.pending) == ("done", workers, 0)


@pytest.mark.parametrize(("text", "quiet_at", "not_at"), [
    ("21:00-07:00", ["21:00", "23:59", "00:00", "06:59"], ["07:00", "12:00", "20:59"]),
    ("12:00-13:30", ["12:00", "13:29"], ["11:59", "13:30", "00:00"]),
    ("22.00 - 6.00", ["05:00"], ["06:00"]),
])
def test_quiet_hours_cover_their_hours_and_wrap_past_midnight(text, quiet_at, not_at):
    hours = parse_quiet_hours(text)
    assert all(hours.covers(time.fromisoformat(t)) for t in quiet_at)
    assert not any(hours.covers(time.fromisoformat(t)) for t in not_at)


@pytest.mark.parametrize("text", ["21-07", "25:00-07:00", "21:00-21:00", "malam"])
def test_quiet_hours_written_wrong_are_refused(text):
    with pytest.raises(ValueError):
        parse_quiet_hours(text)
    assert parse_quiet_hours("none") is None and parse_quiet_hours("") is None


async def test_nothing_goes_before_its_time_nor_in_quiet_hours(store, catalogs):
    await add_workers(store, worker_row(1), worker_row(2))
    broadcasts = Broadcasts(store)
    # 15 December 08:00 in Jakarta (as --at and the chat give it) is 01:00 UTC.
    at = datetime(2026, 12, 15, 1, 0, tzinfo=UTC)
    later = await broadcasts.create(Audience(), "Rapat Kepatuhan hari ini", None, "cli:ani",
                                    NOW, scheduled_at=at.astimezone(WIB))
    assert (await broadcasts.progress(later.broadcast_id)).scheduled_at == at
    sent: list[str] = []

    class Channel:
        async def send(self, chat_id, message):
            sent.append(chat_id)

    clock = {"now": NOW}  # 1 December, 10:00 in Jakarta
    delivery = BroadcastDelivery(broadcasts, Renderer(catalogs), {"telegram": Channel()},
                                 clock=lambda: clock["now"], quiet=parse_quiet_hours("21:00-07:00"))
    await delivery.run_until_idle()
    assert sent == []
    clock["now"] = datetime(2026, 12, 14, 23, 0, tzinfo=UTC)  # 06:00 in Jakarta: quiet
    await delivery.run_until_idle()
    assert sent == []
    clock["now"] = at
    await delivery.run_until_idle()
    assert sorted(sent) == ["1001", "1002"]
    assert (await broadcasts.progress(later.broadcast_id)).status == "done"


async def test_the_command_line_schedules_for_the_running_bot(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path}/at.db"
    env = environment(DATABASE_URL=url)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=START_TIMEOUT_S)

    assert run("db", "upgrade").returncode == 0
    store = Store.connect(url)
    try:
        await add_workers(store, worker_row(1))
    finally:
        await store.close()
    scheduled = run("broadcast", "--text", "Rapat", "--at", "2099-12-15 08:00", "--yes")
    assert scheduled.returncode == 0, scheduled.stderr
    assert "scheduled for 2099-12-15 08:00 Jakarta time" in scheduled.stdout
    assert "waiting (of 1)" in run("broadcast-status", "1").stdout
    past = run("broadcast", "--text", "Rapat", "--at", "2020-01-01 08:00", "--yes")
    assert past.returncode == 1 and "has passed" in past.stderr
    wrong = run("broadcast", "--text", "Rapat", "--at", "besok pagi", "--yes")
    assert wrong.returncode == 2 and "YYYY-MM-DD HH:MM" in wrong.stderr
