"""The membership card: its signed token, its JSON form, and the PNG with a QR that scans."""

import base64
import hashlib
import hmac
import io
import json
from datetime import date

import pytest
import zxingcpp
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from bot.cards import CardClaim, CardData, read_card_token, read_link, sign_card, sign_link
from handlers import card_image
from handlers.card_image import drawable, fit_lines, render_card

KEY = b"card-key-for-tests-0123456789abc"
OTHER_KEY = b"another-key-entirely-9876543210x"
REFERENCE, KPJ = "LD-7K3Q-9XPA", "12345678901"
TOKEN = sign_card(KEY, REFERENCE, KPJ)
LONG_NAME = "MUHAMMAD ABDURRAHMAN WAHYUDI SETIAWAN PRATAMA NUGROHO KUSUMANINGRAT WIJAYAKUSUMA"
LONG_PROGRAMME = ("Program Perlindungan Jaminan Sosial Ketenagakerjaan bagi Pekerja Rentan, "
                  "Nelayan, Petani dan Pedagang Kaki Lima di Wilayah Kota Padang Provinsi "
                  "Sumatera Barat Tahun Anggaran 2026")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(payload: bytes, key: bytes = KEY) -> str:
    """A token with a genuine MAC over any payload: to show the payload is checked as well."""
    text = b64(payload)
    mac = hmac.new(key, f"LD1.{text}".encode(), hashlib.sha256).digest()[:16]
    return f"LD1.{text}.{b64(mac)}"


def make_card(**changes) -> CardData:
    fields = dict(reference=REFERENCE, full_name="SITI NURHALIZA BINTI AHMAD",
                  masked_nik="1371••••••••0001", kpj=KPJ,
                  programme="Perlindungan Pekerja Rentan Kota Padang", funder="APBD Kota Padang",
                  period_start=date(2026, 1, 1), period_end=date(2026, 12, 31),
                  benefits=("JKK", "JKM"), token=TOKEN)
    return CardData(**{**fields, **changes})


def decode_png(png: bytes) -> tuple[Image.Image, list[str]]:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image, [b.text for b in zxingcpp.read_barcodes(image)]


# --- token ---------------------------------------------------------------------------------

def test_token_round_trip():
    assert TOKEN.startswith("LD1.") and TOKEN.count(".") == 2
    assert len(TOKEN) < 64  # short enough for a version-4 QR code
    assert read_card_token(KEY, TOKEN) == CardClaim(reference=REFERENCE, kpj=KPJ)
    assert sign_card(KEY, REFERENCE, KPJ) == TOKEN  # deterministic: a re-issued card matches


@given(reference=st.from_regex(r"[A-Za-z0-9-]{1,32}", fullmatch=True),
       kpj=st.from_regex(r"[0-9]{11}", fullmatch=True))
def test_every_signable_card_reads_back(reference, kpj):
    assert read_card_token(KEY, sign_card(KEY, reference, kpj)) == CardClaim(reference, kpj)


def _flip(text: str, index: int) -> str:
    return text[:index] + ("B" if text[index] != "B" else "C") + text[index + 1:]


_PREFIX, _PAYLOAD, _MAC = TOKEN.split(".")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The last character of a 16-byte MAC carries 2 bits: same bytes, spelled differently.
_NON_CANONICAL_MAC = _MAC[:-1] + _ALPHABET[_ALPHABET.index(_MAC[-1]) | 0b1111]

BAD_TOKENS = {
    "tampered payload": f"LD1.{b64(f'{REFERENCE}|12345678902'.encode())}.{_MAC}",
    "flipped payload char": f"LD1.{_flip(_PAYLOAD, 5)}.{_MAC}",
    "tampered signature": f"LD1.{_PAYLOAD}.{_flip(_MAC, 3)}",
    "non-canonical signature": f"LD1.{_PAYLOAD}.{_NON_CANONICAL_MAC}",
    "other key": sign_card(OTHER_KEY, REFERENCE, KPJ),
    "truncated by one": TOKEN[:-1],
    "truncated signature": TOKEN[: TOKEN.rindex(".") + 5],
    "signature missing": TOKEN[: TOKEN.rindex(".")],
    "empty signature": TOKEN[: TOKEN.rindex(".") + 1],
    "empty": "",
    "only prefix": "LD1.",
    "wrong prefix": "LD2." + TOKEN[4:],
    "lower-case prefix": "ld1." + TOKEN[4:],
    "no prefix": TOKEN[4:],
    "extra dot at end": TOKEN + ".",
    "extra part": TOKEN + ".AAAA",
    "dot inside payload": f"LD1.{_PAYLOAD[:4]}.{_PAYLOAD[4:]}.{_MAC}",
    "padded base64": f"LD1.{_PAYLOAD}.{_MAC}==",
    "standard base64 chars": f"LD1.{_PAYLOAD[:-1]}+.{_MAC}",
    "not base64": "LD1.!!!!.????",
    "impossible base64 length": f"LD1.{_PAYLOAD}A.{_MAC}",
    "emoji": TOKEN + "😀",
    "non-ASCII letter": "LD1." + _PAYLOAD.replace(_PAYLOAD[0], "é", 1) + "." + _MAC,
    "leading space": " " + TOKEN,
    "trailing newline": TOKEN + "\n",
    "10,000 chars": "LD1." + "A" * 9_996,
    "long but valid-looking": f"LD1.{'A' * 200}.{_MAC}",
    "signed, no separator": signed(f"{REFERENCE}{KPJ}".encode()),
    "signed, two separators": signed(f"{REFERENCE}|{KPJ}|x".encode()),
    "signed, short KPJ": signed(f"{REFERENCE}|1234".encode()),
    "signed, empty reference": signed(f"|{KPJ}".encode()),
    "signed, binary payload": signed(b"\xff\xfe|\x00"),
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_bad_tokens_are_rejected(token):
    assert read_card_token(KEY, token) is None


@pytest.mark.parametrize("token", [None, b"LD1.x.y", 12345, ["LD1"]])
def test_non_strings_are_rejected(token):
    assert read_card_token(KEY, token) is None


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text):
    assert read_card_token(KEY, text) is None


@pytest.mark.parametrize(("reference", "kpj"), [
    ("", KPJ), ("LD-7K3Q|9XPA", KPJ), ("LD-7K3Q-9XPÄ", KPJ), ("X" * 33, KPJ),
    (REFERENCE, "1234567890"), (REFERENCE, "123456789012"), (REFERENCE, "1234567890a"),
    (REFERENCE, "١٢٣٤٥٦٧٨٩٠١"),  # Arabic-Indic digits: str.isdigit, yet not a KPJ
])
def test_sign_refuses_what_could_not_be_read_back(reference, kpj):
    with pytest.raises(ValueError):
        sign_card(KEY, reference, kpj)


def test_a_missing_key_is_a_deployment_error_not_a_bad_card():
    with pytest.raises(ValueError):
        sign_card(b"", REFERENCE, KPJ)
    with pytest.raises(TypeError):
        read_card_token("not bytes", TOKEN)  # type: ignore[arg-type]


# --- CardData ------------------------------------------------------------------------------

def test_card_json_round_trip():
    card = make_card()
    data = json.loads(json.dumps(card.to_json()))
    assert data["period_start"] == "2026-01-01" and data["benefits"] == ["JKK", "JKM"]
    assert CardData.from_json(data) == card


@pytest.mark.parametrize("change", [
    {"kpj": None}, {"period_end": "31-12-2026"}, {"benefits": "JKK"}, {"benefits": [1]},
])
def test_card_json_refuses_bad_fields(change):
    data = {**make_card().to_json(), **change}
    with pytest.raises(ValueError):
        CardData.from_json(data)


def test_card_json_refuses_a_missing_field():
    data = make_card().to_json()
    del data["token"]
    with pytest.raises(ValueError):
        CardData.from_json(data)


# --- the image -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sample_png() -> bytes:
    return render_card(make_card())


def test_card_is_an_id1_png_whose_qr_holds_a_valid_token(sample_png):
    assert sample_png.startswith(b"\x89PNG\r\n\x1a\n")
    image, texts = decode_png(sample_png)
    assert image.format == "PNG" and image.size == (1012, 638)
    assert texts == [TOKEN]
    assert read_card_token(KEY, texts[0]) == CardClaim(REFERENCE, KPJ)


def test_png_stays_small(sample_png):
    assert len(sample_png) < 150_000


def test_qr_still_scans_when_the_card_is_shown_small(sample_png):
    image, _ = decode_png(sample_png)
    small = image.resize((400, 252), Image.Resampling.BILINEAR)
    assert [b.text for b in zxingcpp.read_barcodes(small)] == [TOKEN]


def _gutters_are_blank(image: Image.Image) -> bool:
    """Nothing drawn between the text column and the QR frame, or below the last row."""
    rgb = image.convert("RGB")
    gutter = rgb.crop((card_image.BODY_RIGHT + 1, card_image.BODY_TOP,
                       card_image.QR_RIGHT - card_image.QR_BOX - 8, card_image.HEIGHT - 12))
    below = rgb.crop((0, card_image.BODY_BOTTOM, card_image.BODY_RIGHT, card_image.HEIGHT - 12))
    return all(region.getcolors() == [(region.width * region.height, (255, 255, 255))]
               for region in (gutter, below))


@pytest.mark.parametrize("changes", [
    {"full_name": LONG_NAME},
    {"programme": LONG_PROGRAMME},
    {"full_name": LONG_NAME, "programme": LONG_PROGRAMME, "funder": LONG_PROGRAMME,
     "benefits": ("JKK", "JKM", "JHT", "JP", "JKP")},
    {"full_name": "X" * 80},  # no space to break at
    {"full_name": "JOSÉ ŽIŽEK 张伟", "funder": "CSR PT Semen Padang (Persero) Tbk — 2026"},
], ids=["long name", "long programme", "everything long", "unbreakable", "beyond the font"])
def test_long_text_stays_on_the_card_and_the_qr_still_scans(changes):
    assert len(LONG_NAME) == 80
    image, texts = decode_png(render_card(make_card(**changes)))
    assert image.size == (1012, 638)
    assert texts == [TOKEN]
    assert _gutters_are_blank(image)


def test_a_long_reference_does_not_run_into_the_fields():
    card = make_card(reference="LD-" + "W" * 29, token=sign_card(KEY, "LD-" + "W" * 29, KPJ))
    image, texts = decode_png(render_card(card))
    assert texts == [card.token]
    assert _gutters_are_blank(image)


def test_fit_lines_wraps_then_ends_in_an_ellipsis():
    font = card_image._font(24)
    lines = fit_lines(LONG_PROGRAMME, font, 400, 2)
    assert len(lines) == 2 and lines[-1].endswith("…")
    assert all(font.getlength(line) <= 400 for line in lines)
    assert fit_lines("Kota Padang", font, 400, 2) == ["Kota Padang"]
    assert fit_lines("", font, 400, 2) == [""]


def test_drawable_folds_what_the_font_cannot_draw():
    assert drawable("JOSÉ  ŽIŽEK\n") == "JOSE ZIZEK"
    assert drawable("张伟") == "??"
    assert drawable("1371••••••••0001") == "1371••••••••0001"  # drawn as dots
    assert drawable("2026–2027") == "2026-2027"


def test_period_and_benefits_as_printed():
    assert card_image.format_period(date(2026, 1, 1), date(2026, 12, 31)) == (
        "01-01-2026 s/d 31-12-2026")
    assert card_image.format_benefits(("JKK", "JKM")) == "JKK (Kecelakaan Kerja), JKM (Kematian)"
    assert card_image.format_benefits(("XYZ",)) == "XYZ"


def test_links_name_a_card_or_a_file_and_expire():
    key = b"k" * 32
    path = f"ab/{'ab' * 32}.pdf@whatsapp:6281311112222"
    card_link = sign_link(key, "card", "LD-AAAA-BBBB", 2_000)
    file_link = sign_link(key, "file", path, 2_000)
    assert read_link(key, "card", card_link, 1_999) == "LD-AAAA-BBBB"
    assert read_link(key, "file", file_link, 2_000) == path
    # however long a token says it lasts, it works for an hour at most from now
    assert read_link(key, "card", card_link, 2_000 - 3_600) == "LD-AAAA-BBBB"
    assert read_link(key, "card", sign_link(key, "card", "LD-AAAA-BBBB", 10**10), 2_000) is None
    assert read_link(key, "card", card_link, 2_001) is None  # expired
    assert read_link(key, "card", file_link, 1_000) is None  # a file link is no card link
    assert read_link(key, "file", card_link, 1_000) is None
    assert read_link(b"x" * 32, "file", file_link, 1_000) is None  # another key
    tampered = file_link[:-1] + ("B" if file_link.endswith("A") else "A")
    assert read_link(key, "file", tampered, 1_000) is None
    for kind, subject in [("card", "LD|1"), ("file", "../../etc/passwd"),
                          ("file", "ab/ab.exe"), ("file", f"ab/{'ab' * 32}.pdf")]:
        with pytest.raises(ValueError):
            sign_link(key, kind, subject, 2_000)
