"""The entitlement estimate against shared/domain.md (PP 44/2015 as amended by PP 82/2019),
and the order of heirs (Pasal 40(2)), as tables."""

import pytest

from bot.benefits import ILLNESS, WORK_ACCIDENT, entitlement, funeral_only
from bot.claims import documents_for, masked_name
from bot.heirs import groups_before


@pytest.mark.parametrize("cause, months, income, lump, periodic, funeral, scholarship, total", [
    # JKM: Rp20 jt lump sum + 24 × Rp500.000 + Rp10 jt funeral = Rp42 jt
    (ILLNESS, 0, 1_000_000, 20_000_000, 12_000_000, 10_000_000, 0, 42_000_000),
    (ILLNESS, 35, 5_000_000, 20_000_000, 12_000_000, 10_000_000, 0, 42_000_000),
    # three years of contributions: scholarship for two children, at most Rp87 jt each
    (ILLNESS, 36, 1_000_000, 20_000_000, 12_000_000, 10_000_000, 174_000_000, 42_000_000),
    # JKK death: 48 × declared income, never below the JKM lump sum; scholarship at once
    (WORK_ACCIDENT, 0, 1_000_000, 48_000_000, 12_000_000, 10_000_000, 174_000_000, 70_000_000),
    (WORK_ACCIDENT, 2, 300_000, 20_000_000, 12_000_000, 10_000_000, 174_000_000, 42_000_000),
    (WORK_ACCIDENT, 50, 5_000_000, 240_000_000, 12_000_000, 10_000_000, 174_000_000,
     262_000_000),
])
def test_entitlement(cause, months, income, lump, periodic, funeral, scholarship, total):
    found = entitlement(cause, months, income)
    assert (found.lump_sum, found.periodic, found.funeral, found.scholarship, found.total) == (
        lump, periodic, funeral, scholarship, total)
    assert found.work_accident == (cause == WORK_ACCIDENT)


def test_with_no_heir_the_funeral_cost_only():
    assert (funeral_only().total, funeral_only().scholarship) == (10_000_000, 0)


@pytest.mark.parametrize("relation, asked_about", [
    ("spouse", 0), ("child", 0), ("parent", 1), ("grandchild", 1), ("grandparent", 1),
    ("sibling", 2), ("parent_in_law", 3), ("will", 4), ("other", 5),
])
def test_heirs_of_a_later_group_are_asked_about_the_groups_before(relation, asked_about):
    assert len(groups_before(relation)) == asked_about


@pytest.mark.parametrize("relation, marriage_book", [("spouse", True), ("child", False),
                                                      ("other", False)])
def test_only_a_spouse_sends_the_marriage_book(relation, marriage_book):
    kinds = documents_for(relation)
    assert ("marriage_book" in kinds) == marriage_book
    assert len(kinds) == 6 + marriage_book


@pytest.mark.parametrize("name, masked", [("BUDI SANTOSO", "B*** S******"), ("ANI", "A**"),
                                          ("SITI NUR AISYAH", "S*** N** A*****")])
def test_names_are_masked(name, masked):
    assert masked_name(name) == masked
