"""Kemendagri's regencies and cities, by the four digits that open a NIK (``13 03``: Kabupaten
Sijunjung; BPS numbers some differently, so only these codes are used here).

The table (``bot/data/regencies.csv``) is shipped with the code: programme regions are checked
against it at start-up, and a worker is told the name of the regency their NIK is from.
"""

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "regencies.csv"


@dataclass(frozen=True)
class Regency:
    code: str
    name: str
    """"Kabupaten Sijunjung", "Kota Padang"."""
    province: str


@cache
def regencies() -> dict[str, Regency]:
    with TABLE.open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(line for line in handle if not line.startswith("#"))
        return {row["code"]: Regency(row["code"], row["name"], row["province"])
                for row in rows}


def regency(code: str) -> Regency | None:
    """The regency or city of a code (a NIK's first four digits), if Kemendagri has one."""
    return regencies().get(code)


def same_name(given: str, official: str) -> bool:
    """Whether a name is the official one, written as people do: any case, ``Kab.`` for
    ``Kabupaten``."""
    def norm(text: str) -> str:
        words = text.casefold().replace(".", ". ").split()
        return " ".join("kabupaten" if w in ("kab.", "kab") else w for w in words)
    return norm(given) == norm(official)
