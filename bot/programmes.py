"""Sponsored programmes: who pays for whose cover, where, for how many, and until when.

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


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start: date
    end: date

    @model_validator(mode="after")
    def _order(self) -> "Period":
        if self.end < self.start:
            raise ValueError("end is before start")
        return self

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


class Programme(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    name: str = Field(min_length=3)
    region: Region
    funder: str = Field(min_length=3)
    benefits: tuple[Benefit, ...] = ("JKK", "JKM")
    monthly_contribution: int = Field(16_800, gt=0)
    period: Period
    quota: int = Field(gt=0)
    occupations: Literal["all"] | tuple[str, ...] = "all"
    dtsen_max_desil: int = Field(4, ge=1, le=10)
    verification: Literal["auto", "staff"] = "staff"
    """auto: enrolled on a DTSEN match within the cut-off; staff: a verifier approves each."""
    branch: str = Field(min_length=3)

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
                if nik[:4] in p.region.codes and p.period.covers(on) and p.admits(occupation)]

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
        raise BadProgrammes("\n".join(_describe(error, data, source)
                                      for error in exc.errors())) from None


def _describe(error: dict, data: dict, source: str) -> str:
    """``programmes.toml: programme 2 (padang): quota: Input should be greater than 0``."""
    location = list(error["loc"])
    where = source
    if location[:1] == ["programme"] and len(location) > 1 and isinstance(location[1], int):
        index = location[1]
        entries = data.get("programme") or []
        name = entries[index].get("id") if index < len(entries) and isinstance(
            entries[index], dict) else None
        where += f": programme {index + 1}" + (f" ({name})" if name else "")
        location = location[2:]
    field = ".".join(str(part) for part in location if not str(part).startswith(("literal",
                                                                                 "tuple")))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {field}: {message}" if field else f"{where}: {message}"
