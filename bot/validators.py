"""Validators: cleaned text in, ``Ok(value)`` or ``Err(msgid, params)`` out.

Each one is pure and total: whatever it is given, it returns, never raises. The engine looks them
up by name, so a flow step names its validator instead of importing it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import phonenumbers

from bot.i18n import N_

# Kemendagri province codes (not BPS): see shared/domain.md.
PROVINCES = frozenset(
    [str(c) for c in range(11, 20)] + ["21"] + [str(c) for c in range(31, 37)]
    + ["51", "52", "53"] + [str(c) for c in range(61, 66)] + [str(c) for c in range(71, 77)]
    + ["81", "82"] + [str(c) for c in range(91, 97)]
)


@dataclass(frozen=True)
class Ok:
    value: Any


@dataclass(frozen=True)
class Err:
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)


Result = Ok | Err


# --- NIK ---------------------------------------------------------------------------------

def _century(yy: int, today: date) -> int:
    """Two-digit years up to this year's are this century's; later ones the last century's."""
    return 2000 + yy if yy <= today.year % 100 else 1900 + yy


def nik_birth_date(nik: str, today: date) -> date | None:
    """The birth date encoded in an NIK (women's day + 40 undone), or None if it is no date."""
    day, month, yy = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    if day > 40:
        day -= 40
    try:
        return date(_century(yy, today), month, day)
    except ValueError:
        return None


def mask_nik(nik: str) -> str:
    """The NIK as it may appear in logs and later messages: region and serial only."""
    return nik[:4] + "*" * 8 + nik[12:] if len(nik) == 16 else "*" * len(nik)


def validate_nik(text: str, today: date) -> Result:
    raw = re.sub(r"[\s.\-_/]", "", text)
    if not raw:
        return Err(N_("nik.length"), {"count": 0})
    if not raw.isascii() or not raw.isdigit():
        return Err(N_("nik.not_digits"))
    if len(raw) != 16:
        return Err(N_("nik.length"), {"count": len(raw)})
    if raw[:2] not in PROVINCES:
        return Err(N_("nik.province"), {"code": raw[:2]})
    if raw[2:4] == "00" or raw[4:6] == "00":
        return Err(N_("nik.region"))
    born = nik_birth_date(raw, today)
    if born is None or born > today:
        return Err(N_("nik.date"))
    if raw[12:] == "0000":
        return Err(N_("nik.serial"))
    return Ok(raw)


# --- dates -------------------------------------------------------------------------------

MONTHS = {
    1: ("jan", "januari", "january", "janu"),
    2: ("feb", "februari", "february", "pebruari", "peb", "febr"),
    3: ("mar", "maret", "march", "mrt"),
    4: ("apr", "april"),
    5: ("mei", "may"),
    6: ("jun", "juni", "june"),
    7: ("jul", "juli", "july"),
    8: ("agu", "agt", "ags", "agus", "agust", "agustus", "aug", "august"),
    9: ("sep", "sept", "september"),
    10: ("okt", "oct", "oktober", "october"),
    11: ("nov", "nop", "november", "nopember"),
    12: ("des", "dec", "desember", "december"),
}
_MONTH_BY_NAME = {name: number for number, names in MONTHS.items() for name in names}
_NUMERIC_DATE = re.compile(r"^(\d{1,2})\s*[-/.\s]\s*(\d{1,2})\s*[-/.\s]\s*(\d{4}|\d{2})$")
_COMPACT_DATE = re.compile(r"^(\d{2})(\d{2})(\d{4})$")
_NAMED_DATE = re.compile(r"^(\d{1,2})\s*[-/.\s]?\s*([^\W\d_]+)\.?\s*[-/.\s]?\s*(\d{4}|\d{2})$")
OLDEST_AGE = 120


def parse_date(text: str, today: date) -> Result:
    """A birth date as people write it: 17-08-1985, 17/8/85, 17 Agustus 1985, 17 Aug 1985."""
    text = text.strip().rstrip(".")
    found = _NUMERIC_DATE.match(text) or _COMPACT_DATE.match(text)
    if found:
        day, month, year = (int(g) for g in found.groups())
        year_digits = len(found.group(3))
    else:
        found = _NAMED_DATE.match(text)
        if not found or found.group(2).casefold() not in _MONTH_BY_NAME:
            return Err(N_("date.format"))
        day, year = int(found.group(1)), int(found.group(3))
        month = _MONTH_BY_NAME[found.group(2).casefold()]
        year_digits = len(found.group(3))
    if year_digits == 2:
        year = _century(year, today)
    try:
        value = date(year, month, day)
    except ValueError:
        return Err(N_("date.invalid"))
    if value > today:
        return Err(N_("date.future"))
    if today.year - value.year > OLDEST_AGE:
        return Err(N_("date.too_old"))
    return Ok(value)


_DAYS_AGO = re.compile(r"^(\d{1,2}|se|satu|dua|tiga|empat|lima|enam|tujuh)\s*(?:hari|days?)"
                       r"\s*(?:(?:yang|yg)\s*)?(?:lalu|ago|kemarin|yang lalu)$")
_NUMBER_WORDS = {"se": 1, "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6,
                 "tujuh": 7}
_RELATIVE_DAYS = {"hari ini": 0, "today": 0, "tadi": 0, "tadi pagi": 0, "tadi malam": 0,
                  "kemarin": 1, "kemaren": 1, "yesterday": 1, "semalam": 1,
                  "kemarin lusa": 2, "kemarin dulu": 2}
_FUTURE_DAYS = frozenset({"besok", "besok pagi", "lusa", "tomorrow"})
DEATH_DATE_ERRORS = {N_("date.future"): N_("date_of_death.future"),
                     N_("date.too_old"): N_("date_of_death.too_old")}
"""The date errors said of a death, not of a birth."""


def validate_date_of_death(text: str, today: date) -> Result:
    """A date of death as a grieving family writes it: a date (as ``parse_date`` reads), or
    "hari ini", "kemarin", "3 hari lalu", "yesterday", "2 days ago"."""
    said = " ".join(text.casefold().replace(".", " ").split())
    if said in _RELATIVE_DAYS:
        return Ok(today - timedelta(days=_RELATIVE_DAYS[said]))
    if said in _FUTURE_DAYS:  # a slip, or the wrong question read: said so, not "format"
        return Err(N_("date_of_death.future"))
    found = _DAYS_AGO.match(said)
    if found:
        count = found.group(1)
        days = int(count) if count.isdigit() else _NUMBER_WORDS[count]
        return Ok(today - timedelta(days=days))
    result = parse_date(text, today)
    if isinstance(result, Err) and result.msgid in DEATH_DATE_ERRORS:
        return Err(DEATH_DATE_ERRORS[result.msgid], result.params)
    return result


# --- amounts ----------------------------------------------------------------------------

_AMOUNT = re.compile(r"^(?:rp\.?\s*)?(\d+(?:[.,]\d+)*)\s*(juta|jt|ribu|rb|k|m)?"
                     r"(?:\s*(?:an|lebih|lebih sedikit|kurang|kurang lebih|an lebih|"
                     r"per bulan|sebulan|/bulan|a month))*$")
_SCALE = {"juta": 1_000_000, "jt": 1_000_000, "m": 1_000_000, "ribu": 1_000, "rb": 1_000,
          "k": 1_000, None: 1}
_AMOUNT_WORDS = {"sejuta": 1_000_000, "satu juta": 1_000_000, "dua juta": 2_000_000,
                 "tiga juta": 3_000_000, "empat juta": 4_000_000, "lima juta": 5_000_000,
                 "setengah juta": 500_000, "sejuta setengah": 1_500_000}


def parse_amount(text: str) -> int | None:
    """Rupiah as people write them: 1500000, 1.500.000, Rp 1,5 juta, 1,5jt, 500 ribu,
    "sejuta lebih" (about a million); None for anything else."""
    said = " ".join(text.casefold().split())
    for words, value in sorted(_AMOUNT_WORDS.items(), key=lambda item: -len(item[0])):
        if said == words or said.startswith(words + " "):
            return value
    found = _AMOUNT.match(said)
    if not found:
        return None
    number, unit = found.groups()
    if unit is None:  # 1.500.000 or 1,500,000: separators of thousands
        digits = re.sub(r"[.,]", "", number)
        return int(digits) if digits.isdigit() else None
    value = float(number.replace(".", "").replace(",", ".")) if number.count(",") == 1 \
        and "." not in number else float(number.replace(",", "."))
    return round(value * _SCALE[unit])


# --- names and places --------------------------------------------------------------------

_NAME_PUNCT = set(" .,'-`’")
_PLACE_PUNCT = set(" .,'-`’/()")


def validate_name(text: str) -> Result:
    """A person's name as on the KTP: letters with spaces and . , ' -; stored upper-case."""
    if any(ch.isdigit() for ch in text):
        return Err(N_("name.digits"))
    if any(not (ch.isalpha() or ch in _NAME_PUNCT) for ch in text):
        return Err(N_("name.chars"))
    letters = sum(ch.isalpha() for ch in text)
    if letters < 2 or len(text) > 80:
        return Err(N_("name.length"))
    return Ok(text.upper())


def validate_place(text: str) -> Result:
    """A kelurahan or kecamatan name; all-lower or all-upper input is title-cased."""
    if any(not (ch.isalnum() or ch in _PLACE_PUNCT) for ch in text):
        return Err(N_("place.chars"))
    if sum(ch.isalpha() for ch in text) < 2 or len(text) > 60:
        return Err(N_("place.length"))
    return Ok(text if not (text.islower() or text.isupper()) else _title(text))


def _title(text: str) -> str:
    """"air tawar barat" and "AIR TAWAR BARAT" become "Air Tawar Barat"."""
    return re.sub(r"(^|[\s(/\-])(\w)", lambda m: m[1] + m[2].upper(), text.lower())


def validate_free_text(text: str) -> Result:
    """A short description in the user's own words (e.g. an occupation not in the list)."""
    if sum(ch.isalpha() for ch in text) < 2:
        return Err(N_("free_text.letters"))
    if len(text) > 60:
        return Err(N_("free_text.length"))
    return Ok(text)


# --- phone -------------------------------------------------------------------------------

_MOBILE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
}


def validate_phone(text: str) -> Result:
    """An Indonesian (or international) mobile number, returned in E.164."""
    raw = re.sub(r"[\s.\-()]", "", text)
    if raw.startswith("62") or raw.startswith("00"):
        raw = "+" + raw.removeprefix("00")
    if not re.fullmatch(r"\+?\d{6,17}", raw):
        return Err(N_("phone.invalid"))
    try:
        number = phonenumbers.parse(raw, "ID")
    except phonenumbers.NumberParseException:
        return Err(N_("phone.invalid"))
    if not phonenumbers.is_valid_number(number):
        return Err(N_("phone.invalid"))
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return Err(N_("phone.not_mobile"))
    return Ok(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# --- one-time codes ----------------------------------------------------------------------

def validate_code(text: str) -> Result:
    """A one-time code of six digits as people type it: "123456", "123 456", "123-456"."""
    raw = re.sub(r"[\s.\-]", "", text)
    if not (raw.isascii() and raw.isdigit() and len(raw) == 6):
        return Err(N_("proof.code.invalid"))
    return Ok(raw)


# --- registry ----------------------------------------------------------------------------

Validator = Callable[[str, date], Result]

VALIDATORS: dict[str, Validator] = {
    "nik": validate_nik,
    "date": parse_date,
    "name": lambda text, today: validate_name(text),
    "place": lambda text, today: validate_place(text),
    "free_text": lambda text, today: validate_free_text(text),
    "phone": lambda text, today: validate_phone(text),
    "code": lambda text, today: validate_code(text),
    "date_of_death": validate_date_of_death,
}

