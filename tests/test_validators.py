"""Validators as tables: what people type, and what each validator makes of it."""

import unicodedata
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.text import clean
from bot.validators import (
    VALIDATORS,
    Err,
    Ok,
    mask_nik,
    nik_birth_date,
    parse_date,
    validate_date_of_death,
    validate_free_text,
    validate_name,
    validate_nik,
    validate_phone,
    validate_place,
)

TODAY = date(2026, 11, 21)


@pytest.mark.parametrize("typed, expected", [
    ("1371011708850001", Ok("1371011708850001")),
    ("1371 0117 0885 0001", Ok("1371011708850001")),
    ("1371.0117.0885.0001", Ok("1371011708850001")),
    ("1371-0117-0885-0001", Ok("1371011708850001")),
    ("1371015708850001", Ok("1371015708850001")),          # woman: day 17 + 40
    ("7471016512990002", Ok("7471016512990002")),          # Kendari, woman born 25-12-1999
    ("1304010101050003", Ok("1304010101050003")),          # 2005: two-digit year this century
    ("137101170885000", Err("nik.length", {"count": 15})),
    ("13710117088500011", Err("nik.length", {"count": 17})),
    ("", Err("nik.length", {"count": 0})),
    ("1371O11708850001", Err("nik.not_digits")),            # letter O for zero
    ("١٣٧١٠١١٧٠٨٨٥٠٠٠١", Err("nik.not_digits")),           # non-ASCII digits
    ("2071011708850001", Err("nik.province", {"code": "20"})),
    ("9971011708850001", Err("nik.province", {"code": "99"})),
    ("1300011708850001", Err("nik.region")),
    ("1371001708850001", Err("nik.region")),
    ("1371013208850001", Err("nik.date")),                  # day 32
    ("1371017208850001", Err("nik.date")),                  # day 72 (woman 32)
    ("1371011713850001", Err("nik.date")),                  # month 13
    ("1371013102850001", Err("nik.date")),                  # 31 February
    ("1371011708850000", Err("nik.serial")),
])
def test_nik(typed, expected):
    assert validate_nik(clean(typed), TODAY) == expected


def test_nik_birth_date_and_mask():
    assert nik_birth_date("1371015708850001", TODAY) == date(1985, 8, 17)
    assert nik_birth_date("1371011708260001", TODAY) == date(2026, 8, 17)
    assert nik_birth_date("1371011708270001", TODAY) == date(1927, 8, 17)
    assert mask_nik("1371011708850001") == "1371********0001"


@pytest.mark.parametrize("typed, expected", [
    ("17-08-1985", date(1985, 8, 17)),
    ("17/8/85", date(1985, 8, 17)),
    ("17.08.1985", date(1985, 8, 17)),
    ("17 08 1985", date(1985, 8, 17)),
    ("17081985", date(1985, 8, 17)),
    ("17 Agustus 1985", date(1985, 8, 17)),
    ("17 agustus 1985", date(1985, 8, 17)),
    ("17 Agt 1985", date(1985, 8, 17)),
    ("17 Aug 1985", date(1985, 8, 17)),
    ("17 August 1985", date(1985, 8, 17)),
    ("17-Agu-85", date(1985, 8, 17)),
    ("1 Mei 2001", date(2001, 5, 1)),
    ("5 Des 1970.", date(1970, 12, 5)),
    ("29 Februari 2000", date(2000, 2, 29)),
    ("3/1/05", date(2005, 1, 3)),
])
def test_dates_people_write(typed, expected):
    assert parse_date(typed, TODAY) == Ok(expected)


@pytest.mark.parametrize("typed, msgid", [
    ("kemarin", "date.format"),
    ("1985", "date.format"),
    ("17 Agustusan 1985", "date.format"),
    ("17-08", "date.format"),
    ("31-02-1985", "date.invalid"),
    ("29 Feb 2001", "date.invalid"),
    ("00-01-1990", "date.invalid"),
    ("01-13-1990", "date.invalid"),
    ("01-01-2030", "date.future"),
    ("22-11-2026", "date.future"),
    ("01-01-1850", "date.too_old"),
])
def test_dates_refused(typed, msgid):
    result = parse_date(typed, TODAY)
    assert isinstance(result, Err) and result.msgid == msgid


@pytest.mark.parametrize("typed, expected", [
    ("081234567890", Ok("+6281234567890")),
    ("0812-3456-7890", Ok("+6281234567890")),
    ("0812 3456 7890", Ok("+6281234567890")),
    ("+62 812 3456 7890", Ok("+6281234567890")),
    ("6281234567890", Ok("+6281234567890")),
    ("006281234567890", Ok("+6281234567890")),
    ("(0812) 3456-7890", Ok("+6281234567890")),
    ("0213456789", Err("phone.not_mobile")),       # Jakarta landline
    ("12345", Err("phone.invalid")),
    ("nomor saya", Err("phone.invalid")),
    ("08123", Err("phone.invalid")),
    ("+62 812 3456 7890 1234 5678", Err("phone.invalid")),
])
def test_phone(typed, expected):
    assert validate_phone(clean(typed)) == expected


@pytest.mark.parametrize("typed, expected", [
    ("15-11-2026", Ok(date(2026, 11, 15))),
    ("hari ini", Ok(TODAY)),
    ("Kemarin", Ok(TODAY - timedelta(days=1))),
    ("kemarin lusa", Ok(TODAY - timedelta(days=2))),
    ("3 hari lalu", Ok(TODAY - timedelta(days=3))),
    ("dua hari yang lalu", Ok(TODAY - timedelta(days=2))),
    ("2 days ago", Ok(TODAY - timedelta(days=2))),
    ("yesterday", Ok(TODAY - timedelta(days=1))),
    ("01-01-2099", Err("date_of_death.future")),
    ("besok", Err("date_of_death.future")),
    ("Lusa", Err("date_of_death.future")),
    ("01-01-1850", Err("date_of_death.too_old")),
    ("tgl 25", Err("date.format")),
])
def test_dates_of_death(typed, expected):
    assert validate_date_of_death(clean(typed), TODAY) == expected


@pytest.mark.parametrize("typed, expected", [
    ("Siti Rahmawati", Ok("SITI RAHMAWATI")),
    ("budi", Ok("BUDI")),
    ("Nur'aini", Ok("NUR'AINI")),
    ("M. Yusuf, S.Pd", Ok("M. YUSUF, S.PD")),
    ("Anak Agung Gde-Putra", Ok("ANAK AGUNG GDE-PUTRA")),
    ("Budi 2", Err("name.digits")),
    ("Budi 😀", Err("name.chars")),
    ("Budi@home", Err("name.chars")),
    ("B", Err("name.length")),
    ("A" * 81, Err("name.length")),
    # direction marks and zero-width spaces between words leave the words apart
    ("Budi\u200fSantoso", Ok("BUDI SANTOSO")),
    ("\u202eBudi\u202c\u200bSantoso\u200e", Ok("BUDI SANTOSO")),
    ("Budi\u2066 Santoso\u2069", Ok("BUDI SANTOSO")),
    # joiners and soft hyphens inside a word go without a trace
    ("Ra\u00adhma\u200dwati\ufeff", Ok("RAHMAWATI")),
])
def test_name(typed, expected):
    assert validate_name(clean(typed)) == expected


@pytest.mark.parametrize("typed, expected", [
    ("air tawar barat", Ok("Air Tawar Barat")),
    ("Koto Tangah", Ok("Koto Tangah")),
    ("Kel. Air Tawar (Barat)", Ok("Kel. Air Tawar (Barat)")),
    ("Pasar 1", Ok("Pasar 1")),
    ("12", Err("place.length")),
    ("🏠🏠", Err("place.chars")),
    ("x" * 61, Err("place.length")),
])
def test_place(typed, expected):
    assert validate_place(clean(typed)) == expected


@pytest.mark.parametrize("typed, expected", [
    ("tukang parkir", Ok("tukang parkir")),
    ("!!", Err("free_text.letters")),
    ("a" * 61, Err("free_text.length")),
])
def test_free_text(typed, expected):
    assert validate_free_text(clean(typed)) == expected


@given(st.text(max_size=300))
def test_no_validator_raises(text):
    for validator in VALIDATORS.values():
        assert isinstance(validator(clean(text), TODAY), Ok | Err)


@given(st.text(max_size=300))
def test_clean_removes_control_characters(text):
    cleaned = clean(text)
    assert cleaned == cleaned.strip()
    assert not any(ord(ch) < 32 for ch in cleaned)
    assert not any(unicodedata.category(ch) == "Cf" for ch in cleaned)
    assert "  " not in cleaned
