"""What Lindungi costs on top of python-telegram-bot: the registration bot against a bare PTB echo
bot, both driven through the same fake Bot API by the same simulated users.

    .venv/bin/python -m bench.registration [--users 300] [--bots echo,echo_concurrent,registration]

Each bot runs as a subprocess (``bench/echo_bot.py``; ``main.py run`` on a fresh SQLite file)
polling the fake Bot API that this process serves (tests/fakes/telegram_api.py). Every user sends
a message, waits for its reply, checks it, then sends the next: a whole registration (13
messages, one reply each) for Lindungi, the same texts for the echo bots. Prints one JSON
object: per bot updates/s, reply latency percentiles, CPU ms per update, peak RSS and errors,
then the registration/echo ratios and whether the goals are met. Every wait is bounded.
"""

import argparse
import asyncio
import json
import math
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import psutil
import telegram

from bot.config import Settings
from tests.fakes.telegram_api import TOKEN, FakeTelegram, SentMessage

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
GRACE_S = 1.0
"""After the last reply, how long extra (unexpected) replies have to show up."""
CHATS_PER_BOT = 100_000
"""Each bot's users get chat ids of their own, so no reply can be taken for another bot's."""
GOALS = {"throughput_ratio_min": 1.0, "p99_ratio_max": 1.2, "rss_mb_max": 100}


@dataclass(frozen=True)
class Message:
    contact: bool
    send: str
    expect: str
    exact: bool = False
    """The reply must be ``expect`` itself, not merely contain it."""

    def accepts(self, reply: SentMessage) -> bool:
        return reply.text == self.expect if self.exact else self.expect in reply.text


def nik(user: int) -> str:
    """A valid NIK per user (born 17-08-1985, matching the birth date sent)."""
    return f"137101170885{user + 1:04d}"


def full_name(user: int) -> str:
    letters = "".join(chr(ord("A") + int(d)) for d in str(user))
    return f"Siti {letters}"


def registration(user: int) -> list[Message]:
    return [
        Message(False, "/start", "Halo!"),
        Message(False, "1", "Pilih bahasa"),
        Message(False, "1", "Persetujuan data pribadi"),
        Message(False, "1", "Langkah 1 dari 8"),
        Message(False, nik(user), "Langkah 2 dari 8"),
        Message(False, full_name(user), "Langkah 3 dari 8"),
        Message(False, "17-08-1985", "Langkah 4 dari 8"),
        Message(True, "6281234567890", "Langkah 5 dari 8"),
        Message(False, "1", "Langkah 6 dari 8"),
        Message(False, "Air Tawar Barat", "Langkah 7 dari 8"),
        Message(False, "Padang Utara", "Program daerah Anda"),
        Message(False, "1", "Langkah 8 dari 8"),
        Message(False, "1", "Periksa data Anda"),
        Message(False, "1", "Nomor pendaftaran: LD-"),
    ]


def echo(user: int) -> list[Message]:
    """The same texts (the phone typed, the echo bot reads text only), echoed back."""
    return [Message(False, m.send, m.send, exact=True) for m in registration(user)]


@dataclass(frozen=True)
class Bot:
    name: str
    argv: tuple[str, ...]
    script: Callable[[int], list[Message]]


BOTS = {
    "echo": Bot("echo", ("bench/echo_bot.py",), echo),
    "echo_concurrent": Bot("echo_concurrent", ("bench/echo_bot.py", "--concurrent"), echo),
    "registration": Bot("registration", ("main.py", "run"), registration),
}


@dataclass
class UserRun:
    latencies: list[float]
    errors: list[str]


async def drive(tg: FakeTelegram, chat_id: int, script: list[Message],
                reply_timeout: float) -> UserRun:
    """One user: each message once the previous one's reply came; gives up at a missing one."""
    run = UserRun([], [])
    for message in script:
        sent = perf_counter()
        if message.contact:
            tg.user_contact(chat_id, message.send)
        else:
            tg.user_text(chat_id, message.send)
        try:
            reply = await tg.next_reply(chat_id, reply_timeout)
        except TimeoutError:
            run.errors.append(f"chat {chat_id}: no reply to {message.send!r}")
            return run
        run.latencies.append(perf_counter() - sent)
        if not message.accepts(reply):
            run.errors.append(f"chat {chat_id}: {message.send!r} got {reply.text[:60]!r}")
    return run


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` in ms (None without values)."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)] * 1000, 1)


def use_bench_keys() -> None:
    """Data keys of this run (``models.keys``) for this process and the ones it starts (the
    environment), so nothing is written to the project's key file."""
    from models.keys import new_keys, parse
    from models.vault import install

    os.environ.setdefault("DATA_KEYS", json.dumps(new_keys()))
    install(parse(os.environ["DATA_KEYS"], "DATA_KEYS"))


def environment(**settings: str) -> dict[str, str]:
    """This environment without any Lindungi setting exported here, plus ``settings`` (and
    the run's data keys)."""
    use_bench_keys()
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    return {**env, "DATA_KEYS": os.environ["DATA_KEYS"], **settings}


def peak_rss_mb(pid: int) -> float:
    """The process's high-water mark of resident memory (Linux: VmHWM), over its whole life."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


async def sample_tree(pid: int, peak: list[float]) -> None:
    """Until cancelled, every 10 ms: the resident memory of the process and all its children
    together (the migration child included), its highest kept in ``peak[0]`` (MB)."""
    root = psutil.Process(pid)
    while True:
        try:
            tree = [root, *root.children(recursive=True)]
            total = sum(p.memory_info().rss for p in tree if p.is_running())
            peak[0] = max(peak[0], total / 2**20)
        except psutil.Error:
            pass
        await asyncio.sleep(0.01)


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def until_polling(tg: FakeTelegram, proc: asyncio.subprocess.Process) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    while not tg.polled.is_set():
        if proc.returncode is not None or loop.time() > deadline:
            raise RuntimeError(f"the bot did not start polling (exit code {proc.returncode})")
        await asyncio.sleep(0.05)


async def stop(proc: asyncio.subprocess.Process) -> bool:
    """SIGTERM, then SIGKILL if it does not exit in time; True if it stopped by itself."""
    if proc.returncode is not None:
        return False
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        return True
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False


async def measure(tg: FakeTelegram, bot: Bot, first_chat: int, users: int,
                  reply_timeout: float, files: Path) -> dict:
    """One run of one bot; its database and log are ``files`` + .db, .log."""
    # No send budget: the echo bots have none, and the bot, not Telegram's 30 a second, is
    # what is measured.
    env = environment(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=tg.base_url,
                      DATABASE_URL=f"sqlite+aiosqlite:///{files}.db", TELEGRAM_RATE="0",
                      TELEGRAM_CHAT_INTERVAL_S="0")
    tg.polled.clear()
    with files.with_suffix(".log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *bot.argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    tree_peak = [0.0]
    sampler = asyncio.create_task(sample_tree(proc.pid, tree_peak))
    try:
        await until_polling(tg, proc)
        process, me = psutil.Process(proc.pid), psutil.Process()
        scripts = {first_chat + user: bot.script(user) for user in range(users)}
        bot_cpu, my_cpu, polls = cpu_s(process), cpu_s(me), tg.calls["getupdates"]
        started = perf_counter()
        runs = await asyncio.gather(*(drive(tg, chat, script, reply_timeout)
                                      for chat, script in scripts.items()))
        wall = perf_counter() - started
        bot_cpu, my_cpu = cpu_s(process) - bot_cpu, cpu_s(me) - my_cpu
        polls = tg.calls["getupdates"] - polls
        await asyncio.sleep(GRACE_S)
        rss = peak_rss_mb(proc.pid)
    finally:
        sampler.cancel()
        stopped_cleanly = await stop(proc)
    latencies = [s for run in runs for s in run.latencies]
    by_step = [[run.latencies[i] for run in runs if len(run.latencies) > i]
               for i in range(max(len(script) for script in scripts.values()))]
    errors = [e for run in runs for e in run.errors]
    errors += [f"chat {chat}: {len(tg.replies(chat)) - len(script)} extra replies"
               for chat, script in scripts.items() if len(tg.replies(chat)) > len(script)]
    sent = sum(len(script) for script in scripts.values())
    return {
        "updates": sent,
        "replies": len(latencies),
        "wall_s": round(wall, 2),
        "updates_per_s": round(sent / wall, 1),
        "latency_ms": {f"p{p}": percentile(latencies, p) for p in (50, 95, 99, 100)},
        "p99_by_step_ms": [percentile(step, 99) for step in by_step],
        "cpu_ms_per_update": round(bot_cpu * 1000 / sent, 3),
        "bot_cpu_share": round(bot_cpu / wall, 2),
        "peak_rss_mb": round(rss, 1),
        "peak_tree_rss_mb": round(tree_peak[0], 1),
        "updates_per_get_updates": round(sent / max(polls, 1), 1),
        "driver_cpu_share": round(my_cpu / wall, 2),
        "errors": len(errors),
        "error_examples": errors[:5],
        "stopped_by_sigterm": stopped_cleanly,
    }


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip()
                  for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform()}


def verdict(results: dict) -> dict:
    if "echo" not in results or "registration" not in results:
        return {}
    echo_run, reg = results["echo"], results["registration"]
    ratios = {"throughput": round(reg["updates_per_s"] / echo_run["updates_per_s"], 2),
              "p99": round(reg["latency_ms"]["p99"] / echo_run["latency_ms"]["p99"], 2)}
    goals = {
        "throughput_ratio_at_least_1.0": ratios["throughput"] >= GOALS["throughput_ratio_min"],
        "p99_ratio_at_most_1.2": ratios["p99"] <= GOALS["p99_ratio_max"],
        "no_errors": reg["errors"] == 0 and echo_run["errors"] == 0,
        "rss_below_100_mb": reg["peak_rss_mb"] < GOALS["rss_mb_max"],
        "process_tree_below_100_mb": reg["peak_tree_rss_mb"] < GOALS["rss_mb_max"],
    }
    return {"ratios": ratios, "goals": {**goals, "all_met": all(goals.values())}}


def summary(rounds: list[dict]) -> dict:
    """One bot's rounds: the median of each figure (the worst for memory and errors)."""
    def median(get: Callable[[dict], float]) -> float:
        return round(statistics.median(get(r) for r in rounds), 2)

    return {
        "updates_per_s": median(lambda r: r["updates_per_s"]),
        "latency_ms": {p: median(lambda r, p=p: r["latency_ms"][p])
                       for p in ("p50", "p95", "p99", "p100")},
        "p99_by_step_ms": [median(lambda r, i=i: r["p99_by_step_ms"][i])
                           for i in range(len(rounds[0]["p99_by_step_ms"]))],
        "cpu_ms_per_update": median(lambda r: r["cpu_ms_per_update"]),
        "bot_cpu_share": median(lambda r: r["bot_cpu_share"]),
        "peak_rss_mb": max(r["peak_rss_mb"] for r in rounds),
        "peak_tree_rss_mb": max(r["peak_tree_rss_mb"] for r in rounds),
        "updates_per_get_updates": median(lambda r: r["updates_per_get_updates"]),
        "driver_cpu_share": median(lambda r: r["driver_cpu_share"]),
        "errors": sum(r["errors"] for r in rounds),
        "error_examples": [e for r in rounds for e in r["error_examples"]][:5],
        "stopped_by_sigterm": all(r["stopped_by_sigterm"] for r in rounds),
        "rounds": [{"updates_per_s": r["updates_per_s"], "p99_ms": r["latency_ms"]["p99"],
                    "cpu_ms_per_update": r["cpu_ms_per_update"]} for r in rounds],
    }


async def main(args: argparse.Namespace) -> dict:
    """The bots take turns, round after round, so a drift in the machine hits them alike."""
    rounds: dict[str, list[dict]] = {name: [] for name in args.bots}
    with tempfile.TemporaryDirectory(prefix="lindungi-bench-") as workdir:
        async with FakeTelegram() as tg:
            for n in range(args.rounds):
                for m, name in enumerate(args.bots):
                    first_chat = (n * len(args.bots) + m + 1) * CHATS_PER_BOT
                    rounds[name].append(await measure(
                        tg, BOTS[name], first_chat, args.users, args.reply_timeout,
                        Path(workdir) / f"{name}-{n}"))
    results = {name: summary(runs) for name, runs in rounds.items()}
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "-m", "bench.registration", *sys.argv[1:]]),
        "machine": machine(),
        "python": platform.python_version(),
        "python_telegram_bot": telegram.__version__,
        "users": args.users,
        "messages_per_user": len(registration(0)),
        "rounds": args.rounds,
        "bots": results,
        **verdict(results),
    }


def run_parser(prog: str, doc: str, name: str, choices: dict, default: list[str]
               ) -> argparse.ArgumentParser:
    """What every run of simulated users takes: how many users, which ``name`` (bots,
    setups) among ``choices``, how many rounds, how long a reply may take."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0])
    parser.add_argument("--users", type=int, default=300, help="simulated users (max 9999)")
    parser.add_argument(f"--{name}", type=lambda s: s.split(","), default=default,
                        help="which, comma-separated, in order: " + ",".join(choices))
    parser.add_argument("--rounds", type=int, default=3,
                        help="runs of each; the figures are the medians")
    parser.add_argument("--reply-timeout", type=float, default=30.0,
                        help="seconds a user waits for a reply before counting it missing")
    return parser


def parse_run(parser: argparse.ArgumentParser, name: str, choices: dict) -> argparse.Namespace:
    args = parser.parse_args()
    if not 1 <= args.users <= 9999 or args.rounds < 1 or not set(getattr(args, name)) <= set(
            choices):
        parser.error(f"--users must be 1-9999, --rounds at least 1, --{name} among "
                     + ",".join(choices))
    return args


def parse_args() -> argparse.Namespace:
    parser = run_parser("python -m bench.registration", __doc__, "bots", BOTS,
                        ["echo", "echo_concurrent", "registration"])
    return parse_run(parser, "bots", BOTS)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2, ensure_ascii=False))
