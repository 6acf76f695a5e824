"""The channels a chat can be on, named by the first part of its chat key
(``telegram:123``, ``whatsapp:6281234567890``, ``terminal:local``)."""

TELEGRAM, WHATSAPP, TERMINAL = "telegram", "whatsapp", "terminal"
NAMES = {TELEGRAM: "Telegram", WHATSAPP: "WhatsApp", TERMINAL: "terminal"}
BROADCAST = (TELEGRAM, WHATSAPP)
"""The channels broadcasts and reminders go out on; the terminal chat is for trying the bot on
one machine, and nobody reads it later."""


def channel_of(chat_key: str) -> str:
    return chat_key.split(":", 1)[0]


def name_of(chat_key: str) -> str:
    """How people call the channel of a chat: "WhatsApp"."""
    channel = channel_of(chat_key)
    return NAMES.get(channel, channel)
