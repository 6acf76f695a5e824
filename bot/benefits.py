"""What the heirs of a member are entitled to (PP 44/2015 as amended by PP 82/2019; see
shared/domain.md): the figures a claim shows as its estimate. BPJS Ketenagakerjaan decides the
amount paid; staff see how the estimate was made."""

from dataclasses import dataclass

JKM_LUMP_SUM = 20_000_000
JKM_PERIODIC = 24 * 500_000
"""24 monthly payments of Rp500.000, paid at once."""
FUNERAL = 10_000_000
JKK_DEATH_MONTHS = 48
"""A work-accident death pays 48 × the declared monthly income (at least the JKM lump sum)."""
SCHOLARSHIP_CHILDREN = 2
SCHOLARSHIP_PER_CHILD = 87_000_000
"""The most one child receives over the years of school (TK to university)."""
SCHOLARSHIP_MIN_MONTHS = 36
"""Outside a work accident, a scholarship needs three years of contributions."""

ILLNESS = "illness"
WORK_ACCIDENT = "work_accident"


@dataclass(frozen=True)
class Entitlement:
    lump_sum: int
    periodic: int
    funeral: int
    scholarship: int
    """The most the scholarship can reach, for up to two children (0: not eligible)."""
    work_accident: bool

    @property
    def total(self) -> int:
        """Paid at once; the scholarship comes year by year and is not in it."""
        return self.lump_sum + self.periodic + self.funeral


def entitlement(cause: str, months_covered: int, monthly_income: int) -> Entitlement:
    """The estimate for a death by ``cause`` after ``months_covered`` months of cover."""
    if cause == WORK_ACCIDENT:
        return Entitlement(max(JKK_DEATH_MONTHS * monthly_income, JKM_LUMP_SUM), JKM_PERIODIC,
                           FUNERAL, SCHOLARSHIP_CHILDREN * SCHOLARSHIP_PER_CHILD, True)
    scholarship = SCHOLARSHIP_CHILDREN * SCHOLARSHIP_PER_CHILD \
        if months_covered >= SCHOLARSHIP_MIN_MONTHS else 0
    return Entitlement(JKM_LUMP_SUM, JKM_PERIODIC, FUNERAL, scholarship, False)


def funeral_only() -> Entitlement:
    """No heir at all: whoever arranged the funeral receives its cost."""
    return Entitlement(0, 0, FUNERAL, 0, False)
