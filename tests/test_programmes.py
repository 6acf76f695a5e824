"""The programmes file: the shipped example is valid, and every mistake is named plainly."""

from datetime import date
from pathlib import Path

import pytest

from bot.programmes import BadProgrammes, parse_programmes

ROOT = Path(__file__).resolve().parent.parent
GOOD = """
[[programme]]
id = "padang"
name = "Perlindungan Pekerja Rentan Kota Padang"
region = { codes = ["1371"], name = "Kota Padang" }
funder = "APBD Kota Padang"
branch = "BPJS Ketenagakerjaan Cabang Padang"

[[programme.cycle]]
name = "2026"
start = 2026-01-01
end = 2026-12-31
quota = 3000
budget = 604_800_000
"""
NEXT = """
[[programme.cycle]]
name = "2027"
start = 2027-01-01
end = 2027-12-31
quota = 7500
funder = "CSR Bank Nagari"
agreement = "PKS 12/2027"
"""


def test_the_shipped_example_holds_the_five_programmes_of_the_reports():
    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    assert [p.id for p in programmes.programme] == [
        "padang", "padang-panjang", "kendari-sertakan", "jambi", "jambi-keagamaan", "sijunjung"]
    quotas = {p.id: p.cycle_on(date(2026, 6, 1)).quota for p in programmes.programme}
    assert quotas == {"padang": 3000, "padang-panjang": None, "kendari-sertakan": 1500,
                      "jambi": 3000, "jambi-keagamaan": 1316, "sijunjung": 16590}
    assert all(p.monthly_contribution == 16_800 and p.benefits == ("JKK", "JKM")
               for p in programmes.programme)
    assert all(p.cycle_named("2027") for p in programmes.programme)  # renewal has a target
    sijunjung = programmes.by_id("sijunjung").cycle_named("2025")
    assert sijunjung.budget == 3_053_299_200 == 181_744 * 16_800  # the report's APBD line


def test_cycles_say_which_runs_when_and_who_pays_it():
    [programme] = parse_programmes(GOOD + NEXT).programme
    first, second = programme.cycles
    assert programme.cycle_on(date(2026, 12, 31)) == first
    assert programme.cycle_on(date(2027, 1, 1)) == second
    assert programme.cycle_on(date(2028, 1, 1)) is None and not programme.running(
        date(2028, 1, 1))
    assert programme.shown_cycle(date(2025, 6, 1)) == first       # the next to start
    assert programme.shown_cycle(date(2028, 6, 1)) == second      # the last
    assert programme.before(second) == first and programme.before(first) is None
    assert (programme.funder_of(first), programme.funder_of(second)) == (
        "APBD Kota Padang", "CSR Bank Nagari")
    assert (first.places, second.places, second.agreement) == (3000, 7500, "PKS 12/2027")


def test_a_universal_programme_has_no_quota_and_every_other_one_has():
    universal = GOOD.replace("quota = 3000\n", "").replace(
        'funder = "APBD Kota Padang"', 'funder = "APBD Kota Padang"\nuniversal = true')
    [programme] = parse_programmes(universal).programme
    assert programme.cycles[0].quota is None and programme.cycles[0].places >= 10**9
    with pytest.raises(BadProgrammes, match="cycle 2026: quota missing"):
        parse_programmes(GOOD.replace("quota = 3000\n", ""))
    with pytest.raises(BadProgrammes, match="cycle 2026: a universal programme has no quota"):
        parse_programmes(GOOD.replace('funder = "APBD Kota Padang"',
                                      'funder = "APBD Kota Padang"\nuniversal = true'))


def test_defaults_fill_what_a_programme_leaves_out():
    [programme] = parse_programmes(GOOD).programme
    assert (programme.benefits, programme.monthly_contribution, programme.occupations,
            programme.dtsen_max_desil, programme.verification) == (
        ("JKK", "JKM"), 16_800, "all", 4, "staff")


@pytest.mark.parametrize("nik, occupation, on, expected", [
    ("1371011708850001", "ojek", date(2026, 11, 21), ["padang"]),
    ("1571011708850001", "petugas_keagamaan", date(2026, 11, 21), ["jambi-keagamaan"]),
    ("1571011708850001", "pemulung", date(2026, 11, 21), ["jambi"]),
    ("7471011708850001", "petani", date(2026, 11, 21), []),       # not in Program Sertakan
    ("7471011708850001", "penjahit", date(2026, 11, 21), ["kendari-sertakan"]),
    ("3171011708850001", "ojek", date(2026, 11, 21), []),         # Jakarta: no programme
    ("1371011708850001", "ojek", date(2027, 1, 1), ["padang"]),   # the next cycle
    ("1371011708850001", "ojek", date(2028, 1, 1), []),           # after the last cycle
])
def test_a_workers_region_and_occupation_suggest_the_programme(nik, occupation, on, expected):
    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    assert [p.id for p in programmes.for_worker(nik, occupation, on)] == expected


@pytest.mark.parametrize("change, message", [
    (("quota = 3000", "quota = 0"),
     "programmes.toml: programme 1 (padang): cycle 1 (2026): quota: Input should be greater "
     "than 0"),
    (("budget = 604_800_000", "budget = -1"), "cycle 1 (2026): budget: Input should be greater"),
    (('name = "2026"', 'name = "tahun 2026"'), "cycle 1 (tahun 2026): name: String should match"),
    (('funder = "APBD Kota Padang"', 'funder = "APBD Kota Padang"\nquota = 3000'),
     "programme 1 (padang): period and quota are now given per cycle: replace them with a "
     "[[programme.cycle]] table"),
    (("start = 2027-01-01", "start = 2026-12-01"),
     "programme 1 (padang): cycle 2027 starts before cycle 2026 ends"),
    (('name = "2027"', 'name = "2026"'), "cycle names must be unique: 2026"),
    (('codes = ["1371"]', 'codes = ["9971"]'),
     "programmes.toml: programme 1 (padang): region.codes: '9971' is not a Kemendagri "
     "regency/city code"),
    (('codes = ["1371"]', 'codes = ["1300"]'), "is not a Kemendagri regency/city code"),
    (('codes = ["1371"]', 'codes = ["1304"]'),  # BPS's code for Sijunjung; Kemendagri's is 1303
     "region: 'Kota Padang' is not the name of 1304: Kemendagri calls it 'Kabupaten Tanah "
     "Datar'"),
    (("end = 2026-12-31", "end = 2025-12-31"),
     "programmes.toml: programme 1 (padang): cycle 1 (2026): end is before start"),
    (('id = "padang"', 'id = "Padang Kota"'), "programme 1 (Padang Kota): id: String should match"),
    (('branch =', 'occupations = ["ojek", "astronot"]\nbranch ='),
     "occupations: unknown occupation(s) ['astronot']"),
    (('branch =', 'verification = "maybe"\nbranch ='), "verification: Input should be"),
    (('branch =', 'benefits = ["JKK", "JHT"]\nbranch ='), "benefits.1: Input should be"),
    (('branch =', 'kuota = 5\nbranch ='), "programme 1 (padang): kuota: Extra inputs"),
    (('branch = "BPJS Ketenagakerjaan Cabang Padang"', ""), "programme 1 (padang): branch: Field"),
    (("quota = 3000", "quota = 3000\n[[programme"), "programmes.toml: not valid TOML"),
])
def test_every_mistake_is_named_with_its_programme_and_field(change, message):
    with pytest.raises(BadProgrammes) as caught:
        parse_programmes((GOOD + NEXT).replace(*change, 1))
    assert message in str(caught.value)


def test_all_mistakes_are_listed_at_once_and_ids_are_unique():
    with pytest.raises(BadProgrammes) as caught:
        parse_programmes(GOOD.replace("quota = 3000", "quota = -1").replace(
            "branch =", "dtsen_max_desil = 11\nbranch =") + GOOD)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and "cycle 1 (2026): quota" in lines[0] and "dtsen_max_desil" in lines[1]
    with pytest.raises(BadProgrammes, match="unique: padang"):
        parse_programmes(GOOD + GOOD)
    with pytest.raises(BadProgrammes, match="programme: Field required"):
        parse_programmes("")
