"""The edges: the message pipeline and the channel adapters (Telegram, terminal)."""
