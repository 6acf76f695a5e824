"""Three ``main.py run`` processes on one PostgreSQL database, Telegram by webhook behind one
address (the fake Bot API posts round-robin to their ports, 40 updates at once, a chat's next
update once its previous one was answered, as Telegram does), 300 users registering at once;
one process is SIGKILLed mid-run and started again. Every registration completes once, each
chat's replies come in order, a reply goes twice only if it was under way at the kill (counted),
and the channel's limits hold in aggregate: the fake refuses (429) and counts any send beyond
them, replies given in webhook answers as well as those sent by the API (few go in answers
here: they wait for room in the budget, which is full most of the run).

The bot is set under the fake's limits (80 a second against 100, 1.1 s a chat against
1 s), as an operator sets it under Telegram's: a send's slot is kept by the bot, its arrival is
measured by the fake, and three processes on a shared machine jitter in between."""

import asyncio
import json
import signal
import sys
from bisect import bisect_right
from collections import Counter
from dataclasses import dataclass, field

import httpx
from sqlalchemy import func, select

from bench.registration import registration
from models.schema import inbound, worker
from models.store import Store
from tests.conftest import empty_store
from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.test_e2e import ROOT, environment
from tests.test_whatsapp import free_port, until_healthy

PUBLIC = "https://bot.example.org"
PROCESSES = 3
USERS = 300
FAKE_RATE, FAKE_CHAT_S = 100, 1.0
BOT_RATE, BOT_CHAT_S = 80, 1.1
REPLY_TIMEOUT_S = 120
"""Long enough for a reply left by the killed process to be sent by another (a minute's
lease) if the killed one did not come back."""
FIRST_CHAT = 500_000


@dataclass
class User:
    chat_id: int
    accepted: list[str] = field(default_factory=list)
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)


async def drive(tg: FakeTelegram, user: User, number: int) -> None:
    """One user through a whole registration: each message once the previous one's reply came.
    A reply the chat was sent before is counted as a duplicate and skipped; any other reply
    than the one expected is an error (out of order, or wrong)."""
    for message in registration(number):
        if message.contact:
            tg.user_contact(user.chat_id, message.send)
        else:
            tg.user_text(user.chat_id, message.send)
        while True:
            try:
                reply = await tg.next_reply(user.chat_id, REPLY_TIMEOUT_S)
            except TimeoutError:
                user.errors.append(f"chat {user.chat_id}: no reply to {message.send!r}")
                return
            if message.accepts(reply):
                user.accepted.append(reply.text)
                break
            if reply.text in user.accepted:
                user.duplicates += 1
                continue
            user.errors.append(f"chat {user.chat_id}: {message.send!r} got {reply.text[:60]!r}")
            return


async def start(env: dict[str, str], log) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "main.py", "run", cwd=ROOT,
        env=env, stdout=log, stderr=asyncio.subprocess.STDOUT)


def most_in_a_second(times: list[float]) -> int:
    return max((bisect_right(times, t + 1.0 - 1e-9) - i for i, t in enumerate(times)),
               default=0)


async def test_three_webhook_processes_one_killed_lose_nothing_and_keep_the_limits(
        postgres_url, tmp_path, bot_log):
    await (await empty_store(postgres_url)).close()
    ports = [free_port() for _ in range(PROCESSES)]
    locals_ = [f"http://127.0.0.1:{port}" for port in ports]
    async with FakeTelegram(reach=(PUBLIC, locals_)) as tg:
        tg.enforce_limits(FAKE_RATE, FAKE_CHAT_S)
        envs = [environment(
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
            WEBHOOK_BASE_URL=PUBLIC, HOST="127.0.0.1", PORT=str(port), INSTANCE=f"bot-{n}",
            DATABASE_URL=postgres_url, DATABASE_POOL_SIZE="5", STORAGE_DIR=str(tmp_path),
            TELEGRAM_RATE=str(BOT_RATE), TELEGRAM_CHAT_INTERVAL_S=str(BOT_CHAT_S))
            for n, port in enumerate(ports, 1)]
        with bot_log.open("ab") as log:
            procs = [await start(env, log) for env in envs]
            try:
                async with httpx.AsyncClient() as http:
                    for local, proc in zip(locals_, procs, strict=True):
                        await until_healthy(http, local, proc)
                    users = [User(FIRST_CHAT + n) for n in range(USERS)]
                    expected = sum(len(registration(n)) for n in range(USERS))
                    driving = asyncio.gather(*(drive(tg, user, n)
                                               for n, user in enumerate(users)))
                    for _ in range(int(REPLY_TIMEOUT_S / 0.05)):
                        if len(tg.sent_at) >= expected // 3 or driving.done():
                            break
                        await asyncio.sleep(0.05)
                    procs[1].kill()  # mid-run, with replies under way
                    await procs[1].wait()
                    sent_at_kill = len(tg.sent_at)
                    await asyncio.sleep(1.0)
                    procs[1] = await start(envs[1], log)
                    await until_healthy(http, locals_[1], procs[1])
                    await driving
                    await asyncio.sleep(2.0)  # anything sent late or twice shows up
            finally:
                for proc in procs:
                    if proc.returncode is None:
                        proc.send_signal(signal.SIGTERM)
                stopped = [await asyncio.wait_for(proc.wait(), 60) for proc in procs]

    errors = [e for user in users for e in user.errors]
    duplicates = sum(user.duplicates for user in users)
    replies = sorted(tg.sent_at)
    by_chat: dict[int, list] = {user.chat_id: tg.replies(user.chat_id) for user in users}
    print(json.dumps({"users": USERS, "updates": expected, "replies": len(replies),
                      "sent_at_kill": sent_at_kill, "duplicates": duplicates,
                      "refused_429": tg.calls["429"],
                      "refused_per_chat": tg.calls["429 per chat"],
                      "most_in_a_second": most_in_a_second(replies),
                      "webhook_posts": sum(tg.webhook_posts.values()),
                      "webhook_answers": tg.calls["webhook answer"]}))
    assert errors == []
    assert stopped == [0] * PROCESSES
    # Every registration once: a number each, one worker row each.
    done = Counter(text.split("Nomor pendaftaran: ")[1][:12] for user in users
                   for text in user.accepted if "Nomor pendaftaran: LD-" in text)
    assert len(done) == USERS and set(done.values()) == {1}
    store = Store.connect(postgres_url)
    try:
        async with store.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(worker)) == USERS
            assert await conn.scalar(select(func.count()).select_from(inbound).where(
                inbound.c.handled.is_(False) | inbound.c.delivered.is_(False))) == 0
    finally:
        await store.close()
    # The limits held in aggregate, and per chat.
    assert tg.calls["429"] == 0
    assert most_in_a_second(replies) <= FAKE_RATE
    assert duplicates <= 10, f"{duplicates} replies went twice"
    assert len(replies) == expected + duplicates
    assert all(len(sent) == len(registration(0)) + user.duplicates
               for user, sent in zip(users, by_chat.values(), strict=True))
