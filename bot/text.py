"""Cleaning what people type before anything else looks at it."""

import re
import unicodedata

MAX_INPUT_CHARS = 1000
"""Longer inputs are never a valid answer; they are refused before any parsing."""

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


JOINERS = frozenset("\u00ad\u200c\u200d\u2060\ufeff")
"""Format characters that sit inside a word (soft hyphen, zero-width (non-)joiner, word joiner,
byte-order mark): removed. Every other control or format character (direction marks and
embeddings, zero-width space) stands between words: it becomes a space, so "Budi<RLM>Santoso"
stays two words."""


def clean(text: str) -> str:
    """NFKC-normalise, drop or space out control and format characters, collapse
    whitespace."""
    text = unicodedata.normalize("NFKC", text)
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if ch in JOINERS or category in ("Cs", "Co", "Cn"):
            continue
        kept.append(" " if category in ("Cc", "Cf") else ch)
    return _SPACES.sub(" ", "".join(kept)).strip()


def words(text: str) -> list[str]:
    """Lower-cased words, without punctuation or emoji, for matching choices and commands."""
    return _WORD.findall(text.casefold())


def key(text: str) -> str:
    """A comparison key: the words joined by single spaces."""
    return " ".join(words(text))
