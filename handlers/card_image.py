"""The membership card as a PNG, to keep on the phone, show at a counter, or print.

ID-1 proportions (85.6 × 54 mm at 300 dpi). Only Pillow's bundled font is used, so the card
looks the same on every server; that font covers ASCII and little else, so text is folded to
what it can draw (``É`` → ``E``) rather than printed as empty boxes, and the ``•`` of a masked
NIK is drawn as a dot.
"""

import io
import unicodedata
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import qrcode
from PIL import Image, ImageDraw, ImageFont
from qrcode.constants import ERROR_CORRECT_M

from bot.cards import CardData

WIDTH, HEIGHT = 1012, 638
MARGIN = 48

TEAL = (15, 118, 110)
TEAL_ACCENT = (20, 184, 166)
TEAL_PALE = (204, 251, 241)
TEAL_FRAME = (153, 212, 204)
INK = (23, 37, 42)
MUTED = (84, 110, 114)
WHITE = (255, 255, 255)

HEADER_HEIGHT = 112
BODY_TOP = HEADER_HEIGHT + 30
BODY_BOTTOM = HEIGHT - 38  # above the bottom stripe; even two-line everything ends above it
LABEL_HEIGHT = 22
ROW_GAP = (12, 26)  # the spare height is shared out between the rows, within these bounds

QR_BOX = 290  # side of the QR code, quiet zone included: ~7 px per module for a 59-char token
QR_RIGHT = WIDTH - 40
QR_TOP = BODY_TOP - 4
QR_QUIET_MODULES = 4  # what the QR standard asks; the card is white around it as well

BODY_RIGHT = QR_RIGHT - QR_BOX - 28
COLUMN_2 = MARGIN + 300  # second column for the short fields (KPJ, validity)

BENEFIT_NAMES = {
    "JKK": "Kecelakaan Kerja",
    "JKM": "Kematian",
    "JHT": "Jaminan Hari Tua",
    "JP": "Jaminan Pensiun",
    "JKP": "Kehilangan Pekerjaan",
}

# What the bundled font (Aileron) can draw; everything else is folded or replaced.
_DRAWABLE = frozenset(chr(c) for c in range(0x20, 0x7F)) | frozenset("©«°±´·»‘’“”…‹›™")
_REPLACEMENTS = {"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"}
BULLET = "•"
ELLIPSIS = "…"
_MAX_TEXT = 400  # nothing longer reaches the wrapper: two lines hold far less


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType
        raise RuntimeError("the card needs Pillow with FreeType support")
    return font


def drawable(text: str) -> str:
    """``text`` on one line, in characters the font has: accents dropped, the rest ``?``."""
    out = []
    for ch in " ".join(str(text)[:_MAX_TEXT].split()):
        if ch in _DRAWABLE or ch == BULLET:
            out.append(ch)
        elif ch in _REPLACEMENTS:
            out.append(_REPLACEMENTS[ch])
        else:
            folded = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in _DRAWABLE)
            out.append(folded or "?")
    return "".join(out)


def _width(text: str, font: ImageFont.FreeTypeFont, stroke: int = 0) -> float:
    bullets = text.count(BULLET)
    plain = text.replace(BULLET, "")
    return font.getlength(plain) + bullets * font.getlength("0") + 2 * stroke


def _draw_text(draw: ImageDraw.ImageDraw, x: float, baseline: float, text: str,
               font: ImageFont.FreeTypeFont, fill: tuple[int, int, int], stroke: int = 0) -> None:
    """Text with its baseline at ``baseline``; a bullet takes a digit's width and is a dot."""
    size = font.size
    digit = font.getlength("0")
    for i, run in enumerate(text.split(BULLET)):
        if i:
            cx, cy, r = x + digit / 2, baseline - size * 0.36, max(1.5, size * 0.09)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
            x += digit
        if run:
            draw.text((x, baseline), run, font=font, fill=fill, anchor="ls",
                      stroke_width=stroke, stroke_fill=fill)
            x += font.getlength(run)


def fit_lines(text: str, font: ImageFont.FreeTypeFont, width: float, max_lines: int,
              stroke: int = 0) -> list[str]:
    """Word-wrap into at most ``max_lines`` lines of ``width``; cut the last one with "…"."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if _width(candidate, font, stroke) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while _width(current, font, stroke) > width and len(current) > 1:  # an unbreakable word
            cut = len(current) - 1
            while cut > 1 and _width(current[:cut], font, stroke) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
        if len(lines) > max_lines:
            break
    lines.append(current)
    if len(lines) <= max_lines:
        return lines
    last = lines[max_lines - 1]
    while last and _width(last.rstrip() + ELLIPSIS, font, stroke) > width:
        last = last[:-1]
    return lines[:max_lines - 1] + [last.rstrip(" ,.-/") + ELLIPSIS]


@dataclass(frozen=True)
class _Field:
    """A small label over its value, already wrapped to its column."""

    x: float
    label: str
    lines: list[str]
    size: int
    stroke: int

    @property
    def line_height(self) -> int:
        return round(self.size * 1.22)

    @property
    def height(self) -> int:
        return LABEL_HEIGHT + self.line_height * len(self.lines)

    def draw(self, draw: ImageDraw.ImageDraw, top: float) -> None:
        _draw_text(draw, self.x, top + 14, self.label, _font(15), MUTED)
        baseline = top + LABEL_HEIGHT + self.size * 0.8
        for line in self.lines:
            _draw_text(draw, self.x, baseline, line, _font(self.size), INK, self.stroke)
            baseline += self.line_height


def _field(x: float, width: float, label: str, value: str, size: int = 24, max_lines: int = 1,
           stroke: int = 0) -> _Field:
    lines = fit_lines(drawable(value) or "-", _font(size), width, max_lines, stroke)
    return _Field(x, label, lines, size, stroke)


def format_period(start: date, end: date) -> str:
    return f"{start:%d-%m-%Y} s/d {end:%d-%m-%Y}"


def format_benefits(codes: tuple[str, ...]) -> str:
    """``JKK (Kecelakaan Kerja), JKM (Kematian)``: the codes alone mean little to a worker."""
    return ", ".join(f"{c} ({BENEFIT_NAMES[c]})" if c in BENEFIT_NAMES else c for c in codes)


def _qr(token: str) -> Image.Image:
    """The token's QR code as crisp whole-pixel modules, quiet zone included, ≤ ``QR_BOX``."""
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=1, border=QR_QUIET_MODULES)
    code.add_data(token)
    code.make(fit=True)
    matrix = code.get_matrix()
    modules = len(matrix)
    small = Image.new("1", (modules, modules), 1)
    small.putdata([0 if dark else 1 for row in matrix for dark in row])
    scale = max(1, QR_BOX // modules)
    return small.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def _header(draw: ImageDraw.ImageDraw) -> None:
    draw.rectangle((0, 0, WIDTH, HEADER_HEIGHT), fill=TEAL)
    draw.rectangle((0, HEADER_HEIGHT, WIDTH, HEADER_HEIGHT + 6), fill=TEAL_ACCENT)
    _draw_text(draw, MARGIN, 56, "KARTU PESERTA BPJS KETENAGAKERJAAN", _font(28), WHITE, 1)
    _draw_text(draw, MARGIN, 88, "Kartu digital / Digital membership card", _font(18), TEAL_PALE)
    brand = _font(36)
    _draw_text(draw, WIDTH - MARGIN - _width("Lindungi", brand, 1), 64, "Lindungi", brand,
               WHITE, 1)


def _qr_panel(card: Image.Image, draw: ImageDraw.ImageDraw, token: str, reference: str) -> None:
    qr = _qr(token)
    side = qr.width
    left = QR_RIGHT - QR_BOX + (QR_BOX - side) // 2
    top = QR_TOP + (QR_BOX - side) // 2
    draw.rounded_rectangle((QR_RIGHT - QR_BOX - 6, QR_TOP - 6, QR_RIGHT + 6, QR_TOP + QR_BOX + 6),
                           radius=14, fill=WHITE, outline=TEAL_FRAME, width=2)
    card.paste(qr, (left, top))
    centre = QR_RIGHT - QR_BOX / 2
    caption = _font(15)
    y = QR_TOP + QR_BOX + 34
    for text, font, fill, stroke in (("No. Referensi / Reference", caption, MUTED, 0),
                                     (fit_lines(drawable(reference), _font(26), QR_BOX, 1, 1)[0],
                                      _font(26), INK, 1),
                                     ("Pindai untuk verifikasi / Scan to verify", caption, MUTED,
                                      0)):
        _draw_text(draw, centre - _width(text, font, stroke) / 2, y, text, font, fill, stroke)
        y += 34


def render_card(card: CardData) -> bytes:
    """The card as PNG bytes (1012 × 638); long names wrap to two lines, then end in "…"."""
    image = Image.new("RGB", (WIDTH, HEIGHT), WHITE)
    draw = ImageDraw.Draw(image)
    _header(draw)
    _qr_panel(image, draw, card.token, card.reference)

    width, half, narrow = BODY_RIGHT - MARGIN, COLUMN_2 - MARGIN - 24, BODY_RIGHT - COLUMN_2
    rows = [
        [_field(MARGIN, width, "Nama / Name", card.full_name, size=30, max_lines=2, stroke=1)],
        [_field(MARGIN, half, "NIK", card.masked_nik),
         _field(COLUMN_2, narrow, "No. KPJ", card.kpj)],
        [_field(MARGIN, width, "Program", card.programme, max_lines=2)],
        [_field(MARGIN, half, "Dibiayai oleh / Funded by", card.funder, max_lines=2),
         _field(COLUMN_2, narrow, "Masa berlaku / Valid",
                format_period(card.period_start, card.period_end))],
        [_field(MARGIN, width, "Manfaat / Benefits", format_benefits(card.benefits),
                max_lines=2)],
    ]
    heights = [max(f.height for f in row) for row in rows]
    spare = (BODY_BOTTOM - BODY_TOP - sum(heights)) / (len(rows) - 1)
    gap = min(max(spare, ROW_GAP[0]), ROW_GAP[1])
    y = BODY_TOP
    for row, height in zip(rows, heights, strict=True):
        for field in row:
            field.draw(draw, y)
        y += height + gap

    draw.rectangle((0, HEIGHT - 12, WIDTH, HEIGHT), fill=TEAL)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()
