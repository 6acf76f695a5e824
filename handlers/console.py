"""A chat in the terminal, through the same pipeline and engine as Telegram.

Choices are shown as numbers, as they will be on WhatsApp; type the number or the words. A
membership card can't be shown in a terminal: it is saved as a PNG, and its path printed; so
is a copy of someone's data (a PDF and its JSON).
"""

import asyncio
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from bot.cards import CardData
from bot.channels import TERMINAL
from bot.config import DATA_DIR
from bot.messages import DataCopy, Inbound, Rendered
from handlers.conversations import Conversations
from models.private_files import private_file, private_folder

CHANNEL = TERMINAL
LOCAL_CHAT = "local"
"""The one chat of the terminal: ``staff add --terminal`` makes it staff."""
CARDS_DIR = DATA_DIR / "cards"
COPIES_DIR = DATA_DIR / "copies"


class TerminalChannel:
    def __init__(self, conversations: Conversations, intro: str, chat_id: str = LOCAL_CHAT,
                 stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 cards_dir: Path = CARDS_DIR, copies_dir: Path = COPIES_DIR):
        self.conversations = conversations
        self.intro = intro
        self.chat_id = chat_id
        self.stdin = stdin
        self.stdout = stdout
        self.cards_dir = cards_dir
        self.copies_dir = copies_dir

    async def send(self, chat_id: str, message: Rendered) -> None:
        if message.card is not None:
            # Drawn and written off the event loop (~50 ms of CPU), as the Telegram channel does;
            # the path goes right under the text, so the numbered choices still come last.
            path = await asyncio.to_thread(self._save_card, message.card)
            message = replace(message, text=f"{message.text}\n🪪 {path}")
        if message.copy is not None:
            paths = await asyncio.to_thread(self._save_copy, message.copy)
            message = replace(message, text="\n".join([message.text, *(f"📄 {p}"
                                                                      for p in paths)]))
        if message.attachment is not None and message.attachment.path:
            message = replace(message, text=f"{message.text}\n📎 {message.attachment.path}")
        self.stdout.write(message.as_numbered_text() + "\n\n")
        self.stdout.flush()

    def _save_card(self, card: CardData) -> Path:
        """Write the card's PNG under ``cards_dir`` (a card issued again replaces the old file)."""
        private_folder(self.cards_dir)
        path = self.cards_dir / f"kartu-{card.reference}.png"
        from handlers.card_image import render_card  # Pillow and qrcode, only when needed

        private_file(path).write_bytes(render_card(card))
        return path

    def _save_copy(self, copy: DataCopy) -> list[Path]:
        """The PDF and the JSON under ``copies_dir`` (a copy asked again replaces them)."""
        from handlers.data_copy import file_names, pdf_of

        pdf_name, json_name = file_names(copy)
        pdf, data = self.copies_dir / pdf_name, self.copies_dir / json_name
        private_file(pdf).write_bytes(pdf_of(copy))
        private_file(data).write_text(copy.data, encoding="utf-8")
        return [pdf, data]

    async def chat(self) -> None:
        """Read lines until end of input; each is one message from the local user."""
        loop = asyncio.get_running_loop()
        chat_key = f"{CHANNEL}:{self.chat_id}"
        self.stdout.write(self.intro + "\n\n")
        self.stdout.flush()
        while True:
            self.stdout.write("> ")
            self.stdout.flush()
            line = await loop.run_in_executor(None, self.stdin.readline)
            if not line:
                self.stdout.write("\n")
                return
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            await self.conversations.submit([Inbound(
                CHANNEL, self.chat_id, external_id=str(time.time_ns()), text=text)])
            await self.conversations.delivered(chat_key)
