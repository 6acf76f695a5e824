"""``main.py report``: the figures of a compliance meeting (Padang Panjang's Rapat Kepatuhan)
for one programme: its target, and per kecamatan, kelurahan and occupation how many registered,
are enrolled, active or lapsed, and the death claims filed and paid for its members.

Counted in the database (a few grouped queries, whatever the number of workers); the CSV keeps
every line, the chart (``handlers.report_chart``) the kecamatan.
"""

import csv
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import case, func, select

from bot import claims, enrolment
from bot.programmes import Programme
from models.enrolment_io import create_private
from models.schema import claim, worker
from models.store import Store

FIGURES = ("registered", "enrolled", "active", "lapsed", "claims_filed", "claims_paid")
CSV_COLUMNS = ("by", "kecamatan", "kelurahan", "occupation", *FIGURES)
UNKNOWN = "(not given)"
"""The place of a member imported without one."""


@dataclass
class Line:
    kecamatan: str = ""
    kelurahan: str = ""
    occupation: str = ""
    figures: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIGURES, 0))


@dataclass
class Report:
    programme: Programme
    today: date
    target: int | None
    """The running cycle's quota; None: universal coverage, or no cycle running."""
    total: Line
    by_place: list[Line]
    by_kecamatan: list[Line]
    by_occupation: list[Line]

    @property
    def target_text(self) -> str:
        if self.target is not None:
            return str(self.target)
        return "universal" if self.programme.universal else "no cycle running"

    def write_csv(self, path: Path) -> None:
        with create_private(path) as out:
            rows = csv.writer(out)
            rows.writerow(CSV_COLUMNS)
            rows.writerow(("target", "", "", "", self.target_text, "", "", "", "", ""))
            for by, lines in (("total", [self.total]), ("kecamatan", self.by_kecamatan),
                              ("kelurahan", self.by_place), ("occupation", self.by_occupation)):
                for line in lines:
                    rows.writerow((by, line.kecamatan, line.kelurahan, line.occupation,
                                   *(line.figures[f] for f in FIGURES)))


def _place(value: str) -> str:
    return " ".join(value.split()) or UNKNOWN


async def report(store: Store, programme: Programme, today: date) -> Report:
    status = worker.c.status

    def count(*states: str):
        return func.sum(case((status.in_(states), 1), else_=0))

    figures = (func.count().label("registered"), count(enrolment.ENROLLED).label("enrolled"),
               count(enrolment.ACTIVE).label("active"), count(enrolment.LAPSED).label("lapsed"))
    claimed = (func.count(claim.c.id).label("claims_filed"),
               func.sum(case((claim.c.status == claims.PAID, 1), else_=0)).label("claims_paid"))
    mine = worker.c.programme_id == programme.id
    groups = {"place": (worker.c.kecamatan, worker.c.kelurahan),
              "occupation": (worker.c.occupation,)}
    found: dict[str, dict[tuple, Line]] = {"place": {}, "occupation": {}}
    async with store.engine.connect() as conn:
        for name, columns in groups.items():
            for row in await conn.execute(select(*columns, *figures).where(mine)
                                          .group_by(*columns)):
                line = _line(found[name], name, row)
                for f in FIGURES[:4]:
                    line.figures[f] += row._mapping[f] or 0
            for row in await conn.execute(
                    select(*columns, *claimed).join(claim, claim.c.worker_reference ==
                                                    worker.c.reference)
                    .where(mine, claim.c.status != claims.REJECTED).group_by(*columns)):
                line = _line(found[name], name, row)
                for f in FIGURES[4:]:
                    line.figures[f] += row._mapping[f] or 0
    by_place = sorted(found["place"].values(), key=lambda x: (x.kecamatan, x.kelurahan))
    by_kecamatan: dict[str, Line] = {}
    for line in by_place:
        total = by_kecamatan.setdefault(line.kecamatan.casefold(),
                                        Line(kecamatan=line.kecamatan))
        for f in FIGURES:
            total.figures[f] += line.figures[f]
    total = Line()
    for line in by_place:
        for f in FIGURES:
            total.figures[f] += line.figures[f]
    cycle = programme.cycle_on(today)
    return Report(programme, today, cycle.quota if cycle else None, total, by_place,
                  list(by_kecamatan.values()),
                  sorted(found["occupation"].values(), key=lambda x: x.occupation))


def _line(lines: dict[tuple, Line], name: str, row) -> Line:
    """The line a group adds to: places typed in other cases or spacing are one."""
    if name == "place":
        shown = (_place(row.kecamatan), _place(row.kelurahan))
        return lines.setdefault(tuple(p.casefold() for p in shown),
                                Line(kecamatan=shown[0], kelurahan=shown[1]))
    return lines.setdefault((row.occupation,), Line(occupation=row.occupation))
