"""Dated prices: the self-paid (BPU) premium a worker is told, with PP 50/2025's discounts."""

from datetime import date

import pytest

from bot.rules import Rules


@pytest.mark.parametrize("income, occupation, on, price", [
    (None, "ojek", date(2025, 12, 31), 16_800),        # before PP 50/2025
    (None, "ojek", date(2026, 1, 1), 8_400),           # transport: January 2026 ...
    (None, "sopir", date(2027, 3, 31), 8_400),         # ... to March 2027
    (None, "kurir", date(2027, 4, 1), 16_800),
    (None, "pedagang", date(2026, 3, 31), 16_800),     # everyone else: April ...
    (None, "pedagang", date(2026, 4, 1), 8_400),
    (None, None, date(2026, 12, 31), 8_400),           # ... to December 2026
    (None, "nelayan", date(2027, 1, 1), 16_800),
    (2_000_000, "penjahit", date(2026, 6, 1), 13_400),  # half of 1% of 2 million + 6.800
])
def test_the_self_paid_price_follows_the_dated_discounts(income, occupation, on, price):
    assert Rules().bpu_contribution(income, occupation, on) == price
