"""Sponsored programmes: who pays for whose cover, where, for how many, and until when.

Cover is bought a **cycle** at a time: a year of the regional budget (APBD), or the term of a
company's CSR agreement, each with its own quota, budget, funder and agreement number. A worker
enrolled in one cycle is carried into the next by ``main.py renew``.

Operators describe them in a TOML file (``programmes.toml``); it is checked whole at start-up, and
every mistake is reported on a line of its own that names the programme and the field.
"""

import tomllib
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.occupations import OCCUPATION_LABELS
from bot.regions import regency, same_name

Benefit = Literal["JKK", "JKM"]


class Region(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    codes: tuple[str, ...] = Field(min_length=1)
    """Kemendagri regency/city codes (``bot.regions``): the first four digits of the NIKs of
    people living there."""
    name: str = Field(min_length=2)
    """Shown to workers; for one code, the regency's own name ("Kabupaten Sijunjung")."""

    @field_validator("codes")
    @classmethod
    def _codes(cls, codes: tuple[str, ...]) -> tuple[str, ...]:
        for code in codes:
            if regency(code) is None:
                raise ValueError(f"{code!r} is not a Kemendagri regency/city code (the first "
                                 f"four digits of a NIK, e.g. \"1371\" for Kota Padang)")
        return codes

    @model_validator(mode="after")
    def _name(self) -> "Region":
        if len(self.codes) == 1:
            official = regency(self.codes[0]).name
            if not same_name(self.name, official):
                raise ValueError(f"{self.name!r} is not the name of {self.codes[0]}: "
                                 f"Kemendagri calls it {official!r}")
        return self


UNLIMITED = 10**12
"""The places of a cycle without a quota (universal coverage): more than anyone can take."""


class Cycle(BaseModel):
    """One budget year (or agreement term) of a programme."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9./-]{0,19}$")
    """How staff name it on the command line (``renew --cycle 2027``): usually the year."""
    start: date
    end: date
    quota: int | None = Field(None, gt=0)
    """Most workers covered at once; None only in a programme with ``universal = true``."""
    budget: int | None = Field(None, ge=0)
    """Rupiah the funder set aside for the cycle's premiums (the bill counts against it)."""
    funder: str | None = Field(None, min_length=3)
    """Who pays this cycle, if not the programme's funder (a new CSR partner)."""
    agreement: str | None = Field(None, max_length=120)
    """The budget line or agreement number (DPA, PKS) the bill refers to."""

    @model_validator(mode="after")
    def _order(self) -> "Cycle":
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def places(self) -> int:
        return UNLIMITED if self.quota is None else self.quota


class Programme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    name: str = Field(min_length=3)
    region: Region
    funder: str = Field(min_length=3)
    benefits: tuple[Benefit, ...] = ("JKK", "JKM")
    monthly_contribution: int = Field(16_800, gt=0)
    universal: bool = False
    """Universal coverage: everyone eligible is covered, so cycles have no quota."""
    cycles: tuple[Cycle, ...] = Field(alias="cycle", min_length=1)
    """The ``[[programme.cycle]]`` tables, oldest first, none overlapping."""
    occupations: Literal["all"] | tuple[str, ...] = "all"
    dtsen_max_desil: int = Field(4, ge=1, le=10)
    verification: Literal["auto", "staff"] = "staff"
    """auto: enrolled on a DTSEN match within the cut-off; staff: a verifier approves each."""
    branch: str = Field(min_length=3)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data):
        if isinstance(data, dict) and ("period" in data or "quota" in data):
            raise ValueError("period and quota are now given per cycle: replace them with a "
                             "[[programme.cycle]] table (name = \"2026\", start, end, quota, "
                             "budget, agreement)")
        return data

    @model_validator(mode="after")
    def _cycles(self) -> "Programme":
        names = [c.name for c in self.cycles]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"cycle names must be unique: {', '.join(twice)}")
        for before, after in zip(self.cycles, self.cycles[1:], strict=False):
            if after.start <= before.end:
                raise ValueError(f"cycle {after.name} starts before cycle {before.name} ends: "
                                 f"list the cycles oldest first, none overlapping")
        for c in self.cycles:
            if c.quota is None and not self.universal:
                raise ValueError(f"cycle {c.name}: quota missing (only a programme with "
                                 f"universal = true has none)")
            if c.quota is not None and self.universal:
                raise ValueError(f"cycle {c.name}: a universal programme has no quota")
        return self

    @field_validator("benefits")
    @classmethod
    def _benefits(cls, benefits: tuple[str, ...]) -> tuple[str, ...]:
        if not benefits or len(set(benefits)) != len(benefits):
            raise ValueError("list each of JKK, JKM at most once, at least one")
        return benefits

    @field_validator("occupations")
    @classmethod
    def _occupations(cls, occupations):
        if occupations == "all":
            return occupations
        unknown = [o for o in occupations if o not in OCCUPATION_LABELS]
        if unknown or not occupations:
            raise ValueError(f"unknown occupation(s) {unknown}; use \"all\" or some of "
                             + ", ".join(OCCUPATION_LABELS))
        return occupations

    def admits(self, occupation: str) -> bool:
        return self.occupations == "all" or occupation in self.occupations

    def cycle_on(self, day: date) -> Cycle | None:
        """The cycle running on ``day``: None between cycles, or past the last."""
        return next((c for c in self.cycles if c.covers(day)), None)

    def running(self, day: date) -> bool:
        return self.cycle_on(day) is not None

    def shown_cycle(self, day: date) -> Cycle:
        """The cycle to tell a worker of on ``day``: the running one, else the next to start,
        else the last."""
        return self.cycle_on(day) or next((c for c in self.cycles if c.start > day),
                                          self.cycles[-1])

    def cycle_named(self, name: str) -> Cycle | None:
        return next((c for c in self.cycles if c.name == name), None)

    def before(self, cycle: Cycle) -> Cycle | None:
        """The cycle before ``cycle``, whose members ``renew`` carries into it."""
        index = self.cycles.index(cycle)
        return self.cycles[index - 1] if index else None

    def funder_of(self, cycle: Cycle) -> str:
        return cycle.funder or self.funder


class Programmes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    programme: tuple[Programme, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_ids(self) -> "Programmes":
        ids = [p.id for p in self.programme]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"programme ids must be unique: {', '.join(twice)}")
        return self

    def for_worker(self, nik: str, occupation: str, on: date) -> list[Programme]:
        """The programmes running on ``on`` in the region of this NIK that admit the
        occupation: the suggestion a worker confirms or corrects."""
        return [p for p in self.programme
                if nik[:4] in p.region.codes and p.running(on) and p.admits(occupation)]

    def by_id(self, programme_id: str) -> Programme | None:
        return next((p for p in self.programme if p.id == programme_id), None)


class BadProgrammes(ValueError):
    """The programmes file cannot be used; the message has one line per problem."""


def parse_programmes(text: str, source: str = "programmes.toml") -> Programmes:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadProgrammes(f"{source}: not valid TOML: {exc}") from None
    try:
        return Programmes.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        raise BadProgrammes("\n".join(_describe(error, data, source) for error in errors
                                      if not _follows(error, errors))) from None


def _follows(error: dict, errors: list[dict]) -> bool:
    """A list found too short only because its items failed: the items' errors say it."""
    loc = tuple(error["loc"])
    return error["type"] == "too_short" and any(
        tuple(other["loc"])[:len(loc)] == loc and len(other["loc"]) > len(loc)
        for other in errors)


def _describe(error: dict, data: dict, source: str) -> str:
    """``programmes.toml: programme 2 (padang): cycle 1 (2026): quota: Input should be greater
    than 0``."""
    location = list(error["loc"])
    where = source
    for table, key in (("programme", "id"), ("cycle", "name")):
        if location[:1] == [table] and len(location) > 1 and isinstance(location[1], int):
            index = location[1]
            entries = data.get(table) or []
            entry = entries[index] if index < len(entries) else None
            name = entry.get(key) if isinstance(entry, dict) else None
            where += f": {table} {index + 1}" + (f" ({name})" if name else "")
            location = location[2:]
            data = entry if isinstance(entry, dict) else {}
    field = ".".join(str(part) for part in location if not str(part).startswith(("literal",
                                                                                 "tuple")))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"
