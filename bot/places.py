"""Kelurahan and kecamatan names, Kemendagri's, for the regencies the shipped programmes cover
(``bot/data/places.csv``): a name typed with a small slip ("Air Tawar Brat") is offered as the
official one ("did you mean Air Tawar Barat?"), one typed in other case or spacing is stored as
the official one, so that the office's reports by kelurahan add up. A name not on the list is
kept as typed: people live elsewhere than where their NIK was issued.
"""

import csv
import difflib
from functools import lru_cache
from pathlib import Path

from bot.areas import same_place

TABLE = Path(__file__).resolve().parent / "data" / "places.csv"
CLOSE = 0.8
"""How alike a typed name must be to an official one to be offered (difflib's ratio)."""
KINDS = ("kelurahan", "kecamatan")


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, tuple[str, ...]]]:
    """Regency code → kind → the official names."""
    found: dict[str, dict[str, set[str]]] = {}
    with TABLE.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            names = found.setdefault(row["regency"], {kind: set() for kind in KINDS})
            names["kecamatan"].add(row["kecamatan"])
            names["kelurahan"].add(row["kelurahan"])
    return {code: {kind: tuple(sorted(names)) for kind, names in kinds.items()}
            for code, kinds in found.items()}


def names(regency: str, kind: str) -> tuple[str, ...]:
    """The official names of ``kind`` in the regency (none where no list is shipped)."""
    return _table().get(regency, {}).get(kind, ())


def official(regency: str, kind: str, typed: str) -> str | None:
    """The official spelling of a name typed in another case or spacing, if it is one."""
    return next((n for n in names(regency, kind) if same_place(n, typed)), None)


def suggestion(regency: str, kind: str, typed: str) -> str | None:
    """The official name a typed one is a slip of, if one is close enough (and it is not
    itself an official name)."""
    known = names(regency, kind)
    if not known or official(regency, kind, typed):
        return None
    folded = {n.casefold(): n for n in known}
    close = difflib.get_close_matches(" ".join(typed.split()).casefold(), folded, n=1,
                                      cutoff=CLOSE)
    return folded[close[0]] if close else None
