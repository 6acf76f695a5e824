"""The chart of ``main.py report`` as a PNG a person can put on a slide: per kecamatan, bars of
those registered, covered (enrolled or active) and lapsed, with the programme's target and
totals above. Drawn with Pillow (as the card is), in the font Pillow ships."""

from pathlib import Path

from PIL import Image, ImageDraw

from handlers.card_image import _font, drawable
from models.report import Report

WIDTH = 1600
MARGIN = 60
LABEL_WIDTH = 360
ROW = 78
BAR = 18
HEAD = 210
COLOURS = {"registered": (158, 166, 178), "covered": (21, 128, 61), "lapsed": (217, 119, 6)}
LABELS = {"registered": "registered", "covered": "covered (enrolled or active)",
          "lapsed": "lapsed"}
INK, MUTED = (17, 24, 39), (75, 85, 99)


def _bars(figures: dict[str, int]) -> dict[str, int]:
    return {"registered": figures["registered"],
            "covered": figures["enrolled"] + figures["active"], "lapsed": figures["lapsed"]}


def write_chart(report: Report, path: Path) -> None:
    lines = report.by_kecamatan or []
    height = HEAD + max(1, len(lines)) * ROW + 90
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    title, small, tiny = _font(40), _font(26), _font(22)
    draw.text((MARGIN, 50), drawable(report.programme.name), font=title, fill=INK)
    total = report.total.figures
    target = f"target {report.target:,}" if report.target is not None else \
        f"target: {report.target_text}"
    draw.text((MARGIN, 100), drawable(
        f"{target} | registered {total['registered']:,} | enrolled {total['enrolled']:,} | "
        f"active {total['active']:,} | lapsed {total['lapsed']:,} | claims filed "
        f"{total['claims_filed']:,}, paid {total['claims_paid']:,}"), font=small, fill=MUTED)
    x = MARGIN
    for key, colour in COLOURS.items():
        draw.rectangle((x, 150, x + 26, 172), fill=colour)
        draw.text((x + 36, 148), LABELS[key], font=tiny, fill=INK)
        x += 60 + int(tiny.getlength(LABELS[key]))
    scale_to = max([_bars(line.figures)["registered"] for line in lines] + [1])
    room = WIDTH - MARGIN * 2 - LABEL_WIDTH - 110
    for i, line in enumerate(lines):
        top = HEAD + i * ROW
        draw.text((MARGIN, top + 26), drawable(line.kecamatan)[:28], font=small, fill=INK)
        for j, (key, value) in enumerate(_bars(line.figures).items()):
            y = top + j * (BAR + 4)
            length = round(room * value / scale_to)
            left = MARGIN + LABEL_WIDTH
            draw.rectangle((left, y, left + max(length, 1), y + BAR), fill=COLOURS[key])
            draw.text((left + length + 10, y - 2), f"{value:,}", font=tiny, fill=MUTED)
    if not lines:
        draw.text((MARGIN, HEAD + 20), "nobody registered yet", font=small, fill=MUTED)
    draw.text((MARGIN, height - 50), f"Lindungi, {report.today:%d %B %Y}", font=tiny,
              fill=MUTED)
    tmp = path.with_name(path.name + ".part")
    image.save(tmp, "PNG", optimize=True)
    tmp.replace(path)
