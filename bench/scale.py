"""Lindungi by polling and by webhook, on one process and on several sharing PostgreSQL, against
python-telegram-bot's and aiogram's echo bots, all in one run on this machine.

    .venv/bin/python -m bench.scale [--users 300] [--rounds 3] [--setups ptb_echo,…]

Setups (each its own subprocesses, its own fake Bot API, a fresh PostgreSQL database):

- ``ptb_echo``: ``bench/echo_bot.py`` by long polling (PTB's ``run_polling``);
- ``aiogram_echo``, ``aiogram_echo_webhook``: ``bench/aiogram_echo.py`` by long polling, and
  by webhook with the reply in the webhook's answer;
- ``lindungi_polling``: ``main.py run`` by long polling, one process;
- ``lindungi_webhook_1``, ``_2``, ``_3``: ``main.py run`` by webhook, 1, 2 and 3 processes on
  one database, the fake posting to them in turn (100 at once, a chat's next update once its
  previous one was answered, as Telegram does).

Every user registers (14 messages, each sent once the previous one's reply came: see
``bench.registration``); the echo bots get the same texts back. Lindungi runs with
``TELEGRAM_RATE=0`` and ``TELEGRAM_CHAT_INTERVAL_S=0``, as the echo bots have no limits: what is
measured is the bot, not Telegram's 30 a second. Prints one JSON object: per setup updates/s,
latency percentiles, CPU ms per update (every process of the setup together; PostgreSQL's
processes apart), peak RSS per process, errors; then the ratios the goals are about. Setups
take turns round after round; each figure is the median of the rounds.
"""

import argparse
import asyncio
import contextlib
import json
import shlex
import socket
import statistics
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import asyncpg
import psutil
from sqlalchemy.engine import make_url

from bench.registration import (
    ROOT,
    START_TIMEOUT_S,
    Message,
    cpu_s,
    drive,
    echo,
    environment,
    machine,
    parse_run,
    peak_rss_mb,
    percentile,
    registration,
    run_parser,
    stop,
    until_polling,
)
from tests.fakes.telegram_api import TOKEN, FakeTelegram

PUBLIC = "https://bot.example.org"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CHATS_PER_RUN = 100_000
GRACE_S = 1.0
GOALS = {"webhook_over_polling_min": 1.5}


@dataclass(frozen=True)
class Setup:
    name: str
    argv: tuple[str, ...]
    script: Callable[[int], list[Message]]
    processes: int = 1
    webhook: bool = False
    lindungi: bool = False


SETUPS = {setup.name: setup for setup in [
    Setup("ptb_echo", ("bench/echo_bot.py",), echo),
    Setup("aiogram_echo", ("bench/aiogram_echo.py",), echo),
    Setup("aiogram_echo_webhook", ("bench/aiogram_echo.py", "--webhook", PUBLIC), echo,
          webhook=True),
    Setup("lindungi_polling", ("main.py", "run"), registration, lindungi=True),
    *(Setup(f"lindungi_webhook_{n}", ("main.py", "run"), registration, processes=n,
            webhook=True, lindungi=True) for n in (1, 2, 3)),
]}


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Database:
    """A fresh PostgreSQL database for one run, dropped after it."""

    def __init__(self, url: str, name: str):
        self.admin = make_url(url)
        self.name = name
        self.url = self.admin.set(database=name).render_as_string(hide_password=False)

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(host=self.admin.host, port=self.admin.port or 5432,
                                     user=self.admin.username, password=self.admin.password,
                                     database=self.admin.database)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def __aenter__(self) -> "Database":
        await self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        await self._execute(f'CREATE DATABASE "{self.name}"')
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def postgres_cpu() -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL process on this machine (the server the
    bots share, its backends one per connection): what a run adds is the database's share."""
    used = {}
    for process in psutil.process_iter(["name"]):
        if process.info["name"] == "postgres":
            with contextlib.suppress(psutil.Error):
                used[process.pid] = cpu_s(process)
    return used


async def until_listening(tg: FakeTelegram, procs: list, ports: list[int]) -> None:
    """Every process listens and has set the webhook."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    waiting = set(ports)
    while waiting or tg.calls["setwebhook"] < len(procs):
        if any(p.returncode is not None for p in procs) or loop.time() > deadline:
            raise RuntimeError("a bot process did not start listening: "
                               + ", ".join(str(p.returncode) for p in procs))
        for port in list(waiting):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                waiting.discard(port)
            except OSError:
                pass
        await asyncio.sleep(0.05)


async def measure(setup: Setup, first_chat: int, users: int, reply_timeout: float,
                  files: Path, database: str | None) -> dict:
    ports = free_ports(setup.processes)
    reach = (PUBLIC, [f"http://127.0.0.1:{port}" for port in ports]) if setup.webhook else None
    async with FakeTelegram(reach=reach) as tg:
        base = dict(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url)
        envs, argvs = [], []
        for n in range(setup.processes):
            settings = dict(base)
            if setup.lindungi:
                settings.update(DATABASE_URL=database, TELEGRAM_RATE="0",
                                TELEGRAM_CHAT_INTERVAL_S="0", STORAGE_DIR=str(files),
                                INSTANCE=f"bench-{n + 1}", LOG_LEVEL="WARNING",
                                HOST="127.0.0.1", PORT=str(ports[n]))
                if setup.webhook:
                    settings["WEBHOOK_BASE_URL"] = PUBLIC
            envs.append(environment(**settings))
            argvs.append([*setup.argv, *(("--port", str(ports[n]))
                                         if setup.webhook and not setup.lindungi else ())])
        tg.polled.clear()
        with files.with_suffix(".log").open("ab") as log:
            procs = [await asyncio.create_subprocess_exec(
                sys.executable, *argv, cwd=ROOT, env=env, stdout=log,
                stderr=asyncio.subprocess.STDOUT) for argv, env in zip(argvs, envs, strict=True)]
        try:
            if setup.webhook:
                await until_listening(tg, procs, ports)
            else:
                await until_polling(tg, procs[0])
            processes = [psutil.Process(p.pid) for p in procs]
            me = psutil.Process()
            scripts = {first_chat + user: setup.script(user) for user in range(users)}
            bot_cpu = sum(map(cpu_s, processes))
            my_cpu = cpu_s(me)
            postgres = postgres_cpu() if setup.lindungi else {}
            answered_before = tg.calls["webhook answer"]
            started = perf_counter()
            runs = await asyncio.gather(*(drive(tg, chat, script, reply_timeout)
                                          for chat, script in scripts.items()))
            wall = perf_counter() - started
            bot_cpu = sum(map(cpu_s, processes)) - bot_cpu
            my_cpu = cpu_s(me) - my_cpu
            postgres_cpu_s = (sum(cpu - postgres.get(pid, 0.0)
                                  for pid, cpu in postgres_cpu().items())
                              if setup.lindungi else 0.0)
            answered = tg.calls["webhook answer"] - answered_before
            await asyncio.sleep(GRACE_S)
            rss = [peak_rss_mb(p.pid) for p in procs]
        finally:
            stopped = [await stop(p) for p in procs]
        latencies = [s for run in runs for s in run.latencies]
        errors = [e for run in runs for e in run.errors]
        errors += [f"chat {chat}: {len(tg.replies(chat)) - len(script)} extra replies"
                   for chat, script in scripts.items()
                   if len(tg.replies(chat)) > len(script)]
    sent = sum(len(script) for script in scripts.values())
    return {
        "updates": sent,
        "wall_s": round(wall, 2),
        "updates_per_s": round(sent / wall, 1),
        "latency_ms": {f"p{p}": percentile(latencies, p) for p in (50, 95, 99)},
        "cpu_ms_per_update": round(bot_cpu * 1000 / sent, 3),
        "postgres_cpu_ms_per_update": round(postgres_cpu_s * 1000 / sent, 3),
        "bot_cpu_share": round(bot_cpu / wall, 2),
        "postgres_cpu_share": round(postgres_cpu_s / wall, 2),
        "peak_rss_mb_per_process": [round(r, 1) for r in rss],
        "replies_in_webhook_answers": answered,
        "driver_cpu_share": round(my_cpu / wall, 2),
        "errors": len(errors),
        "error_examples": errors[:5],
        "stopped_by_sigterm": all(stopped),
    }


def summary(rounds: list[dict]) -> dict:
    """One setup's rounds: the median of each figure (the worst for memory and errors)."""
    def median(get: Callable[[dict], float | None]) -> float | None:
        values = [v for v in map(get, rounds) if v is not None]
        return round(statistics.median(values), 2) if values else None

    return {
        "updates_per_s": median(lambda r: r["updates_per_s"]),
        "latency_ms": {p: median(lambda r, p=p: r["latency_ms"][p])
                       for p in ("p50", "p95", "p99")},
        "cpu_ms_per_update": median(lambda r: r["cpu_ms_per_update"]),
        "postgres_cpu_ms_per_update": median(lambda r: r["postgres_cpu_ms_per_update"]),
        "bot_cpu_share": median(lambda r: r["bot_cpu_share"]),
        "postgres_cpu_share": median(lambda r: r["postgres_cpu_share"]),
        "peak_rss_mb_per_process": max(max(r["peak_rss_mb_per_process"]) for r in rounds),
        "replies_in_webhook_answers": median(lambda r: r["replies_in_webhook_answers"]),
        "driver_cpu_share": median(lambda r: r["driver_cpu_share"]),
        "errors": sum(r["errors"] for r in rounds),
        "error_examples": [e for r in rounds for e in r["error_examples"]][:5],
        "stopped_by_sigterm": all(r["stopped_by_sigterm"] for r in rounds),
        "rounds": [{"updates_per_s": r["updates_per_s"], "p99_ms": r["latency_ms"]["p99"],
                    "cpu_ms_per_update": r["cpu_ms_per_update"]} for r in rounds],
    }


def verdict(results: dict) -> dict:
    """The issue's goals, from the figures of this run."""
    def ratio(a: str, b: str, figure: str) -> float | None:
        if a not in results or b not in results:
            return None
        return round(results[a][figure] / results[b][figure], 2)

    ratios = {
        "webhook_1_over_polling": ratio("lindungi_webhook_1", "lindungi_polling",
                                        "updates_per_s"),
        "cpu_webhook_1_over_aiogram_echo": ratio("lindungi_webhook_1", "aiogram_echo",
                                                 "cpu_ms_per_update"),
        "cpu_webhook_1_over_aiogram_echo_webhook": ratio(
            "lindungi_webhook_1", "aiogram_echo_webhook", "cpu_ms_per_update"),
        "webhook_2_over_1": ratio("lindungi_webhook_2", "lindungi_webhook_1", "updates_per_s"),
        "webhook_3_over_2": ratio("lindungi_webhook_3", "lindungi_webhook_2", "updates_per_s"),
        "aiogram_echo_over_ptb_echo": ratio("aiogram_echo", "ptb_echo", "updates_per_s"),
    }
    goals = {}
    if ratios["webhook_1_over_polling"] is not None:
        goals["webhook_at_least_1.5x_polling"] = (
            ratios["webhook_1_over_polling"] >= GOALS["webhook_over_polling_min"])
    if ratios["cpu_webhook_1_over_aiogram_echo"] is not None:
        goals["cpu_per_update_at_most_aiogram_echo"] = (
            ratios["cpu_webhook_1_over_aiogram_echo"] <= 1.0)
    if ratios["webhook_2_over_1"] is not None:
        goals["two_processes_faster_than_one"] = ratios["webhook_2_over_1"] > 1.0
    goals["no_errors"] = all(r["errors"] == 0 for r in results.values())
    return {"ratios": ratios, "goals": {**goals, "all_met": all(goals.values())}}


async def main(args: argparse.Namespace) -> dict:
    rounds: dict[str, list[dict]] = {name: [] for name in args.setups}
    with tempfile.TemporaryDirectory(prefix="lindungi-scale-") as workdir:
        for n in range(args.rounds):
            for m, name in enumerate(args.setups):
                setup = SETUPS[name]
                first_chat = (n * len(args.setups) + m + 1) * CHATS_PER_RUN
                files = Path(workdir) / f"{name}-{n}"
                print(f"round {n + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                if setup.lindungi:
                    async with Database(args.database_url, f"lindungi_scale_{m}") as db:
                        result = await measure(setup, first_chat, args.users,
                                               args.reply_timeout, files, db.url)
                else:
                    result = await measure(setup, first_chat, args.users,
                                           args.reply_timeout, files, None)
                rounds[name].append(result)
    results = {name: summary(runs) for name, runs in rounds.items()}
    import aiogram
    import telegram

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench.scale", *sys.argv[1:]]),
        "machine": machine(),
        "python_telegram_bot": telegram.__version__,
        "aiogram": aiogram.__version__,
        "users": args.users,
        "messages_per_user": len(registration(0)),
        "rounds": args.rounds,
        "setups": results,
        **verdict(results),
    }


def parse_args() -> argparse.Namespace:
    parser = run_parser("python -m bench.scale", __doc__, "setups", SETUPS, list(SETUPS))
    parser.add_argument("--database-url", default=POSTGRES,
                        help="a PostgreSQL server to make the runs' databases on")
    return parse_run(parser, "setups", SETUPS)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2, ensure_ascii=False))
