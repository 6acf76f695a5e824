"""For ``main.py run`` and ``chat``: bring the database up to date in a child process *before*
the bot imports its libraries, so the child (SQLAlchemy and Alembic, ~70 MB) and the bot
(~95 MB) are never in memory at once and the process tree stays under 100 MB.

Only the standard library is imported here (``main.py`` calls it before its own imports).
Nothing is reported: whatever fails, ``handlers.startup.open_store`` finds again and says in
one line.
"""

import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
LONG_RUNNING = (None, "run", "chat")
"""The commands that start the bot (none given: run, or the terminal chat)."""


def migrate_first(argv: list[str]) -> None:
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    if command not in LONG_RUNNING:
        return
    subprocess.run([sys.executable, "-m", "models.migrate"], cwd=PROJECT,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
