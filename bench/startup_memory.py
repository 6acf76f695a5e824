"""The memory of Lindungi's whole process tree while it starts on a new database: the bot and
the child that migrates it, sampled together every 5 ms, against the goal of 100 MB.

    .venv/bin/python -m bench.startup_memory [--rounds 3]

Each round starts ``main.py chat`` on a fresh SQLite file (the migration child runs), lets it
reach its prompt, closes its input, and records the highest sum of resident memory of the
process and all its children, and of the process alone. Prints one JSON object.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 100
RUN_S = 8.0


def one_round() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        env.update(DATABASE_URL=f"sqlite+aiosqlite:///{folder}/lindungi.db",
                   LINDUNGI_ENV_FILE="", DATA_KEYS_FILE=f"{folder}/keys.json")
        env.pop("DATA_KEYS", None)  # a key file made on first start, as on a fresh machine
        proc = subprocess.Popen([sys.executable, "main.py", "chat"], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        root = psutil.Process(proc.pid)
        tree = parent = 0
        started = time.monotonic()
        while proc.poll() is None:
            try:
                members = [root, *root.children(recursive=True)]
                tree = max(tree, sum(p.memory_info().rss for p in members))
                parent = max(parent, root.memory_info().rss)
            except psutil.Error:
                pass
            if time.monotonic() - started > RUN_S and not proc.stdin.closed:
                proc.stdin.close()  # end of input: the terminal chat stops
            time.sleep(0.005)
        return {"tree_peak_mb": round(tree / 2**20, 1),
                "parent_peak_mb": round(parent / 2**20, 1), "exit_code": proc.returncode}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = [one_round() for _ in range(parser.parse_args().rounds)]
    worst = max(r["tree_peak_mb"] for r in rounds)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench.startup_memory",
        "machine": {"nproc": len(os.sched_getaffinity(0)),
                    "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "os": platform.platform()},
        "rounds": rounds,
        "tree_peak_mb": worst,
        "goal_tree_below_100_mb": worst < GOAL_MB,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
