"""The edges: the message pipeline, the channel adapters (Telegram, WhatsApp, terminal) and
broadcast delivery.

httpx (under python-telegram-bot) imports its own command-line client, and with it click, rich
and pygments (about 4 MB resident), whenever those are installed: uvicorn needs click, and rich
draws the command line's progress bars. Nothing here runs that client, so it is never loaded
(``main.py`` imports Telegram through this package, so this comes first).
"""

import sys

sys.modules.setdefault("httpx._main", None)
