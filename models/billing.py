"""``main.py billing``: the funder's statement of a programme's cycle through a month, from its
memberships (``bot.billing`` counts), as a CSV a finance office reads and a summary."""

import csv
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot import claims
from bot.billing import FunderBill, Member, bill, month_of, months, next_month, rupiah
from bot.programmes import Cycle, Programme
from models.enrolment_io import create_private
from models.schema import claim, membership
from models.store import Store
from models.workers import CONFIRMED, ENDED

CSV_COLUMNS = ("programme", "cycle", "agreement", "funder", "month", "members", "premium",
               "kind")
DIED = (select(func.min(claim.c.date_of_death))
        .where(claim.c.worker_reference == membership.c.worker_reference,
               claim.c.status != claims.REJECTED)
        .correlate(membership).scalar_subquery().label("died_on"))


class CannotBill(ValueError):
    """No statement for that month: the message says why."""


@dataclass
class Statement:
    programme: Programme
    cycle: Cycle
    month: date
    bills: dict[str, FunderBill]

    def member_months(self, forecast: bool = False) -> int:
        last = self.cycle.end if forecast else self.month
        return sum(b.member_months(month_of(self.cycle.start), last)
                   for b in self.bills.values())

    def premium(self, forecast: bool = False) -> int:
        return self.member_months(forecast) * self.programme.monthly_contribution

    def summary(self) -> list[str]:
        p, c = self.programme, self.cycle
        used, total = self.premium(), self.premium(forecast=True)
        lines = [f"{p.name}: cycle {c.name}" + (f" ({c.agreement})" if c.agreement else ""),
                 f"statement through {self.month:%B %Y}; cycle {c.start:%d %b %Y} to "
                 f"{c.end:%d %b %Y}; Rp{p.monthly_contribution:,} a member a month"
                 .replace(",", ".")]
        for funder in sorted(self.bills):
            b = self.bills[funder]
            due = b.member_months(month_of(c.start), self.month)
            lines.append(f"  {funder}: {b.by_month.get(self.month, 0):,} members in "
                         f"{self.month:%B}, {due:,} member-months to date = "
                         f"{rupiah(due * p.monthly_contribution)}")
        lines.append(f"premium to date: {self.member_months():,} member-months = "
                     f"{rupiah(used)}")
        lines.append(f"forecast to {c.end:%d %b %Y} (members now covered staying so): "
                     f"{self.member_months(forecast=True):,} member-months = {rupiah(total)}")
        if c.budget is not None:
            share = f" ({used / c.budget:.1%} used)" if c.budget else ""
            lines.append(f"budget {rupiah(c.budget)}: left {rupiah(c.budget - used)}{share}; "
                         f"after the forecast {rupiah(c.budget - total)}")
        return lines

    def write_csv(self, path: Path) -> None:
        """One row per funder and month of the cycle: ``due`` to the statement's month,
        ``forecast`` after it."""
        with create_private(path) as out:
            rows = csv.writer(out, quoting=csv.QUOTE_MINIMAL)
            rows.writerow(CSV_COLUMNS)
            for funder in sorted(self.bills):
                for month in months(self.cycle.start, self.cycle.end):
                    members = self.bills[funder].by_month.get(month, 0)
                    rows.writerow((self.programme.id, self.cycle.name,
                                   self.cycle.agreement or "", funder, f"{month:%Y-%m}",
                                   members, members * self.programme.monthly_contribution,
                                   "due" if month <= self.month else "forecast"))


async def statement(store: Store, programme: Programme, month: date) -> Statement:
    """The statement of the cycle running in ``month`` (its first day), through that month."""
    month = month_of(month)
    last_day = next_month(month) - timedelta(days=1)
    cycle = next((c for c in programme.cycles if c.start <= last_day and c.end >= month),
                 None)
    if cycle is None:
        raise CannotBill(f"no cycle of {programme.id} runs in {month:%Y-%m}; its cycles are: "
                         + ", ".join(f"{c.name} ({c.start:%Y-%m} to {c.end:%Y-%m})"
                                     for c in programme.cycles))
    members = []
    async with store.engine.connect() as conn:
        rows = await conn.stream(select(membership.c.funder, membership.c.starts_on,
                                        membership.c.ends_on, DIED).where(
            membership.c.programme_id == programme.id, membership.c.cycle == cycle.name,
            membership.c.state.in_((CONFIRMED, ENDED))))
        async for row in rows:
            members.append(Member(row.funder or programme.funder_of(cycle), row.starts_on,
                                  row.ends_on, row.died_on))
    return Statement(programme, cycle, month, bill(members, cycle.start, cycle.end))
