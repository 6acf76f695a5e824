"""Matching what a user typed (or tapped) to the options of a question."""

from collections.abc import Callable, Iterable, Sequence

from bot.i18n import N_
from bot.messages import Choice
from bot.text import key

YES_WORDS = ("ya", "y", "iya", "iyo", "yes", "ok", "oke", "okay", "setuju", "boleh", "betul",
             "benar", "bener", "sudah benar", "inggih", "nggih", "muhun", "yoi", "siap", "agree")
NO_WORDS = ("tidak", "tdk", "tak", "no", "nggak", "ngga", "gak", "ga", "enggak", "ndak", "indak",
            "mboten", "henteu", "tidak setuju", "tdk setuju", "gak setuju", "nggak setuju",
            "ndak setuju", "indak setuju", "belum", "jangan")
NEGATIONS = frozenset({"tidak", "tdk", "tak", "no", "not", "nggak", "ngga", "gak", "ga", "enggak",
                       "ndak", "indak", "mboten", "henteu", "belum", "jangan", "don't", "dont"})


STATUS = Choice("status", N_("menu.status"), command=True)
"""Offered wherever a user may want their status instead of answering (e.g. a taken NIK)."""
LOOKUP = Choice("lookup", N_("status.check_other"), aliases=("nik", "orang lain", "lain"),
                command=True)
REGISTER = Choice("registration", N_("menu.register"), aliases=("daftar", "register"), command=True)
PHONE_CHANGE = Choice("phone_change", N_("rights.correct.phone_go"), command=True)
"""Where a number is to change: its own flow, as the new one must prove to be the worker's."""
COMMAND_CHOICES = {choice.value: choice for choice in (STATUS, LOOKUP, REGISTER, PHONE_CHANGE)}


MAX_NUMBER_DIGITS = 2
"""Options are picked by number up to "99": a longer number (a code, "000001") is an answer."""


def yes_no(yes_label: str, no_label: str) -> tuple[Choice, Choice]:
    return (Choice("yes", yes_label, aliases=YES_WORDS), Choice("no", no_label, aliases=NO_WORDS))




def match(
    text: str, choices: Sequence[Choice], labels: Callable[[Choice], Iterable[str]],
    whole: bool = False,
) -> Choice | None:
    """The option the text picks, or None if it picks none or more than one.

    An option is picked by its number, its label in any language, one of its aliases, or by the
    longest label or alias found word for word inside the text ("saya ojol" picks "Ojek / ojol").
    A "yes" option is never picked by a text with a negation in it ("tidak setuju"). With
    ``whole``, only the number or a whole name picks: where free text is also an answer (a
    broadcast that mentions "dokumen" is a text, not the documents reminder).
    """
    typed = key(text)
    if not typed:
        return None
    if typed.isdigit():
        number = int(typed) if len(typed) <= MAX_NUMBER_DIGITS else 0
        return choices[number - 1] if 1 <= number <= len(choices) else None
    typed_words = typed.split()
    negated = bool(NEGATIONS.intersection(typed_words))
    best: list[tuple[int, Choice]] = []
    for choice in choices:
        if choice.value == "yes" and negated:
            continue
        names = {key(name) for name in (*labels(choice), *choice.aliases)} - {""}
        if typed in names:
            return choice
        lengths = [len(n.split()) for n in names if _contains(typed_words, n.split())]
        if lengths and not whole:
            best.append((max(lengths), choice))
    if not best:
        return None
    best.sort(key=lambda pair: -pair[0])
    if len(best) > 1 and best[0][0] == best[1][0]:
        return None
    return best[0][1]


def _contains(haystack: list[str], needle: list[str]) -> bool:
    n = len(needle)
    return any(haystack[i:i + n] == needle for i in range(len(haystack) - n + 1))
