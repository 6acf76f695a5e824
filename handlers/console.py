"""A chat in the terminal, through the same pipeline and engine as Telegram.

Choices are shown as numbers, as they will be on WhatsApp; type the number or the words.
"""

import asyncio
import sys
import time
from typing import TextIO

from bot.messages import Inbound, Rendered
from handlers.conversations import Conversations

CHANNEL = "terminal"


class TerminalChannel:
    def __init__(self, conversations: Conversations, intro: str, chat_id: str = "local",
                 stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout):
        self.conversations = conversations
        self.intro = intro
        self.chat_id = chat_id
        self.stdin = stdin
        self.stdout = stdout

    async def send(self, chat_id: str, message: Rendered) -> None:
        self.stdout.write(message.as_numbered_text() + "\n\n")
        self.stdout.flush()

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
