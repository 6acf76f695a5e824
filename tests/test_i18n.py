"""Every text the code uses exists in every language, and the catalogs cannot be stale."""

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from bot.i18n import LOCALES, Catalogs, MissingCatalog, Money, Msg, format_value

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"{(\w+)}")


def used_msgids() -> set[str]:
    """What ``pybabel extract -k N_`` finds in the code."""
    found = set()
    for directory in ("bot", "handlers"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / directory, keywords={"N_": None, "NP_": None}):
            found.add(message)
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / "handlers", method_map=[("**/templates/**.html", "jinja2")],
            keywords={"t": None}):
        found.add(message)
    main = ROOT / "main.py"
    found.update(re.findall(r'NP?_\("([^"]+)"\)', main.read_text()))
    return found


def catalog(path: Path):
    with path.open("rb") as handle:
        po = read_po(handle)
    for message in po:  # a message with plural forms by its id, its forms as one text
        if isinstance(message.id, tuple):
            assert message.id[0] == message.id[1], message.id
            message.id = message.id[0]
            message.string = " ".join(message.string) if all(message.string) else ""
    return po


@pytest.mark.parametrize("locale", LOCALES)
def test_every_used_message_is_translated(locale):
    po = catalog(ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po")
    translated = {m.id: m for m in po if m.id}
    used = used_msgids()
    missing = sorted(m for m in used if m not in translated)
    empty = sorted(m for m in used if m in translated and not translated[m].string)
    fuzzy = sorted(m for m in used if m in translated and translated[m].fuzzy)
    unused = sorted(set(translated) - used)
    assert not missing, f"{locale}: no translation for {missing}"
    assert not empty, f"{locale}: empty translation for {empty}"
    assert not fuzzy, f"{locale}: fuzzy translation for {fuzzy}"
    assert not unused, f"{locale}: translations nothing uses: {unused}"


def test_template_lists_what_the_code_uses():
    pot = {m.id for m in catalog(ROOT / "locales" / "messages.pot") if m.id}
    assert pot == used_msgids(), "run the pybabel extract command in README.md"


def test_placeholders_agree_across_languages():
    by_locale = {
        locale: {m.id: m.string for m in catalog(
            ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po") if m.id}
        for locale in LOCALES}
    for msgid, text in by_locale["id"].items():
        for locale in LOCALES[1:]:
            assert set(PLACEHOLDER.findall(text)) == set(
                PLACEHOLDER.findall(by_locale[locale][msgid])), msgid


def test_indonesian_plural_forms():
    po = catalog(ROOT / "locales" / "id" / "LC_MESSAGES" / "messages.po")
    assert po.plural_forms == "nplurals=1; plural=0;"


def test_the_loaded_catalogs_are_the_po_files(catalogs):
    """The bot compiles the .po files when it starts: no .mo file can be stale."""
    assert not list((ROOT / "locales").rglob("*.mo"))
    assert catalogs.text("id", "menu.register") == "📝 Daftar"
    assert catalogs.text("en", "menu.register") == "📝 Register"


def test_a_missing_catalog_stops_start_up(tmp_path):
    shutil.copytree(ROOT / "locales" / "id", tmp_path / "id")
    with pytest.raises(MissingCatalog, match="en"):
        Catalogs(tmp_path)


def test_money_and_dates_follow_the_locale(catalogs):
    assert format_value(Money(16_800), "id") == "Rp16.800"
    assert format_value(Money(16_800), "en") == "Rp16.800"
    assert format_value(Money(1_000_000), "id") == "Rp1.000.000"
    assert format_value(date(1985, 8, 17), "id") == "17 Agustus 1985"
    assert format_value(date(1985, 8, 17), "en") == "17 August 1985"
    assert catalogs.text("en", "occupation.other_named", {"name": "parkir"}) == "Other: parkir"
    assert catalogs.format(Msg("occupation.nelayan"), "en") == "Fisher"


BUTTON_WORDS = re.compile(r"\b(tombol|tekan|ketuk|button|tap|tapping|press)\b", re.I)
HAS_BUTTONS = {"nav.share_contact"}
"""Labels of buttons themselves (Telegram's contact button)."""


@pytest.mark.parametrize("locale", LOCALES)
def test_no_text_speaks_of_buttons(locale):
    """Terminal and WhatsApp show options as numbers, Telegram as buttons: a text that says
    "tap the button" is wrong on two channels of three. Options are chosen, numbers typed."""
    po = catalog(ROOT / "locales" / locale / "LC_MESSAGES" / "messages.po")
    talk = [m.id for m in po if m.id and m.id not in HAS_BUTTONS
            and BUTTON_WORDS.search(m.string or "")]
    assert talk == []
