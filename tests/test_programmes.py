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
period = { start = 2026-01-01, end = 2026-12-31 }
quota = 3000
branch = "BPJS Ketenagakerjaan Cabang Padang"
"""


def test_the_shipped_example_holds_the_five_programmes_of_the_reports():
    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    assert [p.id for p in programmes.programme] == [
        "padang", "padang-panjang", "kendari-sertakan", "jambi", "jambi-keagamaan", "sijunjung"]
    assert {p.quota for p in programmes.programme} >= {3000, 1500, 1316, 16590}
    assert all(p.monthly_contribution == 16_800 and p.benefits == ("JKK", "JKM")
               for p in programmes.programme)


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
    ("1371011708850001", "ojek", date(2027, 1, 1), []),           # after the period
])
def test_a_workers_region_and_occupation_suggest_the_programme(nik, occupation, on, expected):
    programmes = parse_programmes((ROOT / "programmes.toml").read_text())
    assert [p.id for p in programmes.for_worker(nik, occupation, on)] == expected


@pytest.mark.parametrize("change, message", [
    (("quota = 3000", "quota = 0"),
     "programmes.toml: programme 1 (padang): quota: Input should be greater than 0"),
    (('codes = ["1371"]', 'codes = ["9971"]'),
     "programmes.toml: programme 1 (padang): region.codes: '9971' is not a Kemendagri "
     "regency/city code"),
    (('codes = ["1371"]', 'codes = ["1300"]'), "is not a Kemendagri regency/city code"),
    (('codes = ["1371"]', 'codes = ["1304"]'),  # BPS's code for Sijunjung; Kemendagri's is 1303
     "region: 'Kota Padang' is not the name of 1304: Kemendagri calls it 'Kabupaten Tanah "
     "Datar'"),
    (("end = 2026-12-31", "end = 2025-12-31"),
     "programmes.toml: programme 1 (padang): period: end is before start"),
    (('id = "padang"', 'id = "Padang Kota"'), "programme 1 (Padang Kota): id: String should match"),
    (('quota = 3000', 'quota = 3000\noccupations = ["ojek", "astronot"]'),
     "occupations: unknown occupation(s) ['astronot']"),
    (('quota = 3000', 'quota = 3000\nverification = "maybe"'), "verification: Input should be"),
    (('quota = 3000', 'quota = 3000\nbenefits = ["JKK", "JHT"]'), "benefits.1: Input should be"),
    (('quota = 3000', 'quota = 3000\nkuota = 5'), "programme 1 (padang): kuota: Extra inputs"),
    (('branch = "BPJS Ketenagakerjaan Cabang Padang"', ""), "programme 1 (padang): branch: Field"),
    (("quota = 3000", "quota = 3000\n[[programme"), "programmes.toml: not valid TOML"),
])
def test_every_mistake_is_named_with_its_programme_and_field(change, message):
    with pytest.raises(BadProgrammes) as caught:
        parse_programmes(GOOD.replace(*change))
    assert message in str(caught.value)


def test_all_mistakes_are_listed_at_once_and_ids_are_unique():
    with pytest.raises(BadProgrammes) as caught:
        parse_programmes(GOOD.replace("quota = 3000", "quota = -1\ndtsen_max_desil = 11") + GOOD)
    lines = str(caught.value).splitlines()
    assert len(lines) == 2 and "quota" in lines[0] and "dtsen_max_desil" in lines[1]
    with pytest.raises(BadProgrammes, match="unique: padang"):
        parse_programmes(GOOD + GOOD)
    with pytest.raises(BadProgrammes, match="programme: Field required"):
        parse_programmes("")
