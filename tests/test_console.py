"""The terminal chat's output: replies as numbered text, and a card saved as a PNG file."""

import io
from datetime import date

from PIL import Image

from bot.cards import CardData, sign_card
from bot.messages import Rendered
from handlers.console import TerminalChannel


def card() -> CardData:
    return CardData(reference="LD-AAAA-BBBB", full_name="SITI RAHMAWATI",
                    masked_nik="1371••••••••0001", kpj="12345678901",
                    programme="Perlindungan Pekerja Rentan Kota Padang",
                    funder="APBD Kota Padang", period_start=date(2026, 1, 1),
                    period_end=date(2026, 12, 31), benefits=("JKK", "JKM"),
                    token=sign_card(b"k" * 32, "LD-AAAA-BBBB", "12345678901"))


def terminal(cards_dir) -> tuple[TerminalChannel, io.StringIO]:
    stdout = io.StringIO()
    # Sending uses no conversation: only ``chat`` submits what the user types.
    return TerminalChannel(None, intro="", stdout=stdout, cards_dir=cards_dir), stdout


async def test_a_reply_is_printed_with_numbered_choices(tmp_path):
    channel, stdout = terminal(tmp_path / "cards")
    await channel.send("local", Rendered("Pilih:", options=("Ya", "Tidak"),
                                         menu_button="🏠 Menu"))
    assert stdout.getvalue() == "Pilih:\n\n1. Ya\n2. Tidak\n0. 🏠 Menu\n\n"
    assert not (tmp_path / "cards").exists()  # made only when a card comes


async def test_a_card_is_saved_as_a_png_and_its_path_printed_after_the_text(tmp_path):
    cards_dir = tmp_path / "kartu" / "baru"  # made on demand, parents too
    channel, stdout = terminal(cards_dir)
    await channel.send("local", Rendered("🪪 Kartu peserta Anda", menu_button="🏠 Menu",
                                         card=card()))
    path = cards_dir / "kartu-LD-AAAA-BBBB.png"
    with Image.open(path) as image:
        assert (image.format, image.size) == ("PNG", (1012, 638))
    assert stdout.getvalue() == f"🪪 Kartu peserta Anda\n🪪 {path}\n\n0. 🏠 Menu\n\n"


async def test_a_card_sent_again_replaces_its_file(tmp_path):
    channel, stdout = terminal(tmp_path)
    reply = Rendered("🪪 Kartu", card=card())
    await channel.send("local", reply)
    await channel.send("local", reply)
    assert [p.name for p in tmp_path.iterdir()] == ["kartu-LD-AAAA-BBBB.png"]
    assert stdout.getvalue().count(f"🪪 {tmp_path / 'kartu-LD-AAAA-BBBB.png'}") == 2
