"""Cleaning what people type before anything else looks at it."""

import re
import unicodedata

MAX_INPUT_CHARS = 1000
"""Longer inputs are never a valid answer; they are refused before any parsing."""

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def clean(text: str) -> str:
    """NFKC-normalise, drop control and format characters, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text)
    kept = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if ch in "\t\r\n" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return _SPACES.sub(" ", kept).strip()


def words(text: str) -> list[str]:
    """Lower-cased words, without punctuation or emoji, for matching choices and commands."""
    return _WORD.findall(text.casefold())


def key(text: str) -> str:
    """A comparison key: the words joined by single spaces."""
    return " ".join(words(text))
