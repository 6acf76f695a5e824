"""Stand-ins for the outside services the bot talks to, served on 127.0.0.1 by the tests."""
