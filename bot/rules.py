"""Programme rules the engine needs, with the defaults of shared/domain.md.

Amounts confirmed by two sources are defaults here; every one can be overridden by the settings,
because a regulation may change before the code does.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from bot.channels import TELEGRAM, WHATSAPP
from bot.quiet_hours import QuietHours, parse_quiet_hours

"""Bumped whenever the consent text changes, so each stored consent says what was agreed to."""


TRANSPORT = frozenset({"ojek", "kurir", "sopir"})
"""The transport workers of PP 50/2025: ojek (online or not), couriers, drivers."""


@dataclass(frozen=True)
class BpuDiscount:
    """A dated cut of the self-paid (BPU) JKK + JKM premium, for some occupations or all."""

    start: date
    end: date
    percent: int
    occupations: frozenset[str] | None = None
    """None: every occupation."""

    def applies(self, occupation: str | None, on: date) -> bool:
        return self.start <= on <= self.end and (
            self.occupations is None or occupation in self.occupations)


PP_50_2025 = (BpuDiscount(date(2026, 1, 1), date(2027, 3, 31), 50, TRANSPORT),
              BpuDiscount(date(2026, 4, 1), date(2026, 12, 31), 50))
"""PP 50/2025 (in force 22 December 2025) halves the BPU premium, Rp16.800 to Rp8.400:
transport workers January 2026 to March 2027, everyone else April to December 2026. Not for
members a budget (APBD/APBN) pays for, who pay nothing themselves anyway."""


@dataclass(frozen=True)
class Rules:
    default_locale: str = "id"
    session_ttl: timedelta = timedelta(hours=24)
    income_brackets: tuple[int, ...] = (1_000_000, 2_000_000, 3_000_000, 5_000_000)
    """Declarable monthly incomes (the JKK base); the first is the lowest, and the default."""
    jkk_rate_percent: float = 1.0
    jkm_monthly: int = 6_800
    broadcast_rates: Mapping[str, float] = field(
        default_factory=lambda: {TELEGRAM: 30.0, WHATSAPP: 80.0})
    """Messages a second each channel sends broadcasts at: how long one takes."""
    whatsapp: bool = True
    """Whether the bot sends on WhatsApp: where it does not, nothing can be proven by a code
    to a WhatsApp number (a new phone number)."""
    quiet_hours: QuietHours | None = field(
        default_factory=lambda: parse_quiet_hours("21:00-07:00"))
    bpu_discounts: tuple[BpuDiscount, ...] = PP_50_2025
    """Dated discounts of the BPU premium, the first that applies taken."""

    def jkk_base(self, contribution: int) -> int:
        """The income a monthly premium insures for JKK: what a funder's Rp16.800 buys is the
        lowest base, Rp1.000.000, whatever the worker earns."""
        return round((contribution - self.jkm_monthly) * 100 / self.jkk_rate_percent)

    def contribution(self, monthly_income: int) -> int:
        """Monthly JKK + JKM premium: 1% of declared income + Rp6.800 (Rp16.800 at the minimum)."""
        return round(monthly_income * self.jkk_rate_percent / 100) + self.jkm_monthly

    def bpu_contribution(self, monthly_income: int | None, occupation: str | None,
                         on: date) -> int:
        """What a self-paid (BPU) member pays a month on ``on``: the premium of their income
        (the lowest, if not known), less a discount in force for their occupation then."""
        full = self.contribution(monthly_income or self.income_brackets[0])
        cut = next((d.percent for d in self.bpu_discounts if d.applies(occupation, on)), 0)
        return full - full * cut // 100
