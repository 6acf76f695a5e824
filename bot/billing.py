"""The funder's bill (``main.py billing``): member-months and premium, budget used and left,
and the forecast to the cycle's end.

A month is billed for a member covered on any day of it (BPJS Ketenagakerjaan takes the premium
by the month), from the first day of their membership of the cycle to its last, and never for a
month after the one they died in. Those in line past the quota or kept for review are not
members of the cycle and cost nothing.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return month.replace(year=month.year + 1, month=1) if month.month == 12 \
        else month.replace(month=month.month + 1)


def months(first: date, last: date) -> list[date]:
    """The first days of the months from ``first``'s to ``last``'s, both included."""
    found, month = [], month_of(first)
    while month <= last:
        found.append(month)
        month = next_month(month)
    return found


def whole_months(first: date, last: date) -> int:
    """The whole months from ``first`` to ``last`` (both days covered): 1 Jan to 31 Dec is 12,
    15 Jan to 14 Mar is 2, 15 Jan to 13 Mar is 1."""
    after = last + timedelta(days=1)
    months = (after.year - first.year) * 12 + after.month - first.month
    return max(0, months - (after.day < first.day))


@dataclass(frozen=True)
class Member:
    """One membership of the cycle, as the bill counts it."""

    funder: str
    starts_on: date
    ends_on: date
    died_on: date | None = None

    def billed(self, cycle_start: date, cycle_end: date) -> list[date]:
        """The months this membership is paid for within the cycle."""
        last = min(self.ends_on, cycle_end)
        if self.died_on is not None:
            last = min(last, self.died_on)
        first = max(self.starts_on, cycle_start)
        return months(first, last) if first <= last else []


@dataclass
class FunderBill:
    funder: str
    by_month: dict[date, int] = field(default_factory=dict)
    """Members billed in each month of the cycle (all of it: forecast months too)."""

    def member_months(self, first: date, last: date) -> int:
        return sum(n for month, n in self.by_month.items() if first <= month <= last)


def bill(members: list[Member], cycle_start: date, cycle_end: date) -> dict[str, FunderBill]:
    """Each funder's members month by month over the whole cycle: up to the statement's month
    what was due, after it what is due if every member now covered stays so."""
    bills: dict[str, FunderBill] = {}
    for member in members:
        funder = bills.setdefault(member.funder, FunderBill(member.funder))
        for month in member.billed(cycle_start, cycle_end):
            funder.by_month[month] = funder.by_month.get(month, 0) + 1
    return bills


def rupiah(amount: int) -> str:
    """Rp3.053.299.200, as an Indonesian office writes it."""
    return "Rp" + f"{amount:,}".replace(",", ".")
