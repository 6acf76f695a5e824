"""Broadcast delivery, two figures (issue 6):

(a) ``worker``: the delivery worker itself, rate limits lifted: ``--recipients`` (20,000) workers
    on SQLite, one broadcast, delivered to a sender that answers at once (no network), so what
    is measured is leasing, sending through the pipeline and recording each recipient.
    Goal: at least 1,000 messages a second.
(b) ``paced``: ``--paced`` (600) recipients through ``python main.py broadcast`` at the default
    30 a second, against the fake Bot API refusing with 429 whatever goes beyond Telegram's
    limits (30 in any second, one a second per chat). Goal: at least 95% of 30 a second, and
    no 429.

    .venv/bin/python -m bench.broadcast [--recipients 20000] [--paced 600]

Prints one JSON object.
"""

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import insert

from bench.registration import use_bench_keys
from bot.broadcasting import Audience
from bot.i18n import Catalogs
from bot.render import Renderer
from handlers.broadcasts import BroadcastDelivery
from models.broadcasts import Broadcasts
from models.migrate import upgrade
from models.schema import worker
from models.store import Store
from tests.fakes.telegram_api import TOKEN, FakeTelegram

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def workers(count: int) -> list[dict]:
    return [{"reference": f"LD-B{n:07d}", "nik": f"1371011708{n:06d}", "full_name": f"PEKERJA {n}",
             "birth_date": date(1985, 8, 17), "phone": f"+62812{n:08d}", "occupation": "ojek",
             "occupation_other": None, "kelurahan": "Air Tawar Barat",
             "kecamatan": "Padang Utara", "monthly_income": 1_000_000, "status": "active",
             "channel": "telegram", "chat_key": f"telegram:{100_000 + n}", "locale": "id",
             "consent_version": "2026-11", "consented_at": NOW, "created_at": NOW,
             "programme_id": "padang", "dtsen_desil": 2, "status_reason": None,
             "queued_at": None, "coverage_start": date(2026, 1, 1),
             "coverage_end": date(2026, 12, 31), "kpj": None} for n in range(1, count + 1)]


async def seeded(url: str, count: int) -> Store:
    use_bench_keys()  # this process and the broadcast command it starts share them
    store = Store.connect(url)
    await upgrade(store.engine)
    rows = workers(count)
    async with store.transaction() as tx:
        for start in range(0, len(rows), 5000):
            await tx.conn.execute(insert(worker), rows[start:start + 5000])
    return store


class Instant:
    """A channel that takes every message at once."""

    sent = 0

    async def send(self, chat_id: str, message) -> None:
        Instant.sent += 1


async def bench_worker(folder: Path, count: int) -> dict:
    store = await seeded(f"sqlite+aiosqlite:///{folder}/worker.db", count)
    try:
        broadcasts = Broadcasts(store)
        made = await broadcasts.create(Audience(), "Rapat Kepatuhan 15 Desember", None,
                                       "bench", NOW)
        delivery = BroadcastDelivery(broadcasts, Renderer(Catalogs()), {"telegram": Instant()})
        started = time.perf_counter()
        await delivery.run_until_idle()
        elapsed = time.perf_counter() - started
        progress = await broadcasts.progress(made.broadcast_id)
    finally:
        await store.close()
    return {"recipients": count, "seconds": round(elapsed, 2),
            "messages_per_s": round(progress.sent / elapsed, 1), "sent": progress.sent,
            "sent_by_channel": Instant.sent, "pending": progress.pending,
            "goal_at_least_per_s": 1000, "met": progress.sent == count
            and progress.sent / elapsed >= 1000}


async def bench_paced(folder: Path, count: int) -> dict:
    url = f"sqlite+aiosqlite:///{folder}/paced.db"
    store = await seeded(url, count)
    await store.close()
    async with FakeTelegram() as tg:
        tg.enforce_limits(30, 1.0)
        env = {**os.environ, "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": TOKEN,
               "TELEGRAM_API_BASE_URL": tg.base_url, "QUIET_HOURS": "none"}
        for name in ("TELEGRAM_RATE", "TELEGRAM_CHAT_INTERVAL_S"):
            env.pop(name, None)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "main.py", "broadcast", "--text", "Rapat Kepatuhan", "--yes",
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = await proc.communicate()
        wall = time.perf_counter() - started
        times = tg.sent_at
        rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
        refused = tg.calls["429"]
    return {"recipients": count, "exit": proc.returncode,
            "last_line": out.decode().strip().splitlines()[-1] if out else err.decode()[-300:],
            "delivered": len(times), "achieved_per_s": round(rate, 2),
            "share_of_30": round(rate / 30, 3), "refused_429": refused,
            "command_wall_s": round(wall, 1),
            "goal": "at least 95% of 30/s, no 429",
            "met": len(times) == count and rate >= 0.95 * 30 and refused == 0}


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--paced", type=int, default=600)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        worker_figures = await bench_worker(Path(folder), args.recipients)
        paced = await bench_paced(Path(folder), args.paced)
    print(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.broadcast " + " ".join(sys.argv[1:]),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "os": platform.platform()},
        "worker": worker_figures, "paced": paced,
        "all_met": worker_figures["met"] and paced["met"]}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
