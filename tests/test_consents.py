"""Consents that can be proven: each purpose chosen on its own in one question, refusing DTSEN
matching or the bot's own messages does not stop a registration, every answer is stored with
the hash of the text shown, and ``main.py consent REF`` prints the proof."""

import asyncio
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from bot.broadcasting import Audience
from bot.consents import TEXTS, text_sha256
from bot.render import Renderer
from models.broadcasts import recipients
from models.effects import apply_effects
from models.schema import claim
from models.store import Store
from tests.chat import START, Chat, Memory, town_programme
from tests.test_cli_enrolment import lindungi
from tests.test_conversations import NIK, play
from tests.test_e2e import environment
from tests.test_store import registration

KNOWN = {
    ("2026-11", "registration", "id"):
        "8d8041f160bc2305d7ee905453cbc67fd8c10f9de60dac9e4160e5bf37a5ed4e",
    ("2026-11", "registration", "en"):
        "0bcc60533e6593c3e5e8667098caaf965db5c52767f97febb38647cb3c90a3f8",
    ("2026-11", "claim", "id"):
        "5c1920507477bc286f3f750e6369664edde1f799ecba34471efce6729bacd00c",
    ("2026-11", "claim", "en"):
        "d2708c7dda8cc7d8a2faf3d1e67fac6258daec09ade08ae3567ccb9ffc7515a8",
    ("2026-12", "registration", "id"):
        "b2f5538ab4170861084b882219ac397f38b48334a819fc5718b02e1f27005e6d",
    ("2026-12", "registration", "en"):
        "f6bfd9d51967dee45f8b701e2c40991a9447549dd82adb088c3849841dc56f98",
    ("2026-12", "dtsen", "id"):
        "b2f5538ab4170861084b882219ac397f38b48334a819fc5718b02e1f27005e6d",
    ("2026-12", "dtsen", "en"):
        "f6bfd9d51967dee45f8b701e2c40991a9447549dd82adb088c3849841dc56f98",
    ("2026-12", "messages", "id"):
        "b2f5538ab4170861084b882219ac397f38b48334a819fc5718b02e1f27005e6d",
    ("2026-12", "messages", "en"):
        "f6bfd9d51967dee45f8b701e2c40991a9447549dd82adb088c3849841dc56f98",
    ("2026-12", "claim", "id"):
        "5c1920507477bc286f3f750e6369664edde1f799ecba34471efce6729bacd00c",
    ("2026-12", "claim", "en"):
        "d2708c7dda8cc7d8a2faf3d1e67fac6258daec09ade08ae3567ccb9ffc7515a8",
    ("2026-12", "guardian", "id"):
        "3424d8a33cceeeae8c66c559b1eea5457888e323e5115c5c856f566279a39e68",
    ("2026-12", "guardian", "en"):
        "328a8b5357e9f078be003d041ceda9d9291fff3fb0f9ed7e7b04c8449c007600",
}
"""The texts people consented to. A text once shown is never edited: a new wording is a new
message id under a new version in ``bot.consents.TEXTS`` (and a new line here)."""


def test_no_consent_text_of_any_version_has_changed(catalogs):
    shown = {(version, purpose, locale): text_sha256(catalogs.text(locale, msgid))
             for version, texts in TEXTS.items() for purpose, msgid in texts.items()
             for locale in ("id", "en")}
    assert shown == KNOWN


TOWN = town_programme(verification="auto")
TO_CONSENT = [("/start", ["menu.welcome"]), ("1", ["language.prompt"]),
              ("1", ["consent.prompt_2026_12"])]
REST = [("Budi Santoso", ["birth_date.prompt"]), ("17-08-1985", ["phone.prompt"]),
        ("081234567890", ["occupation.prompt"]), ("ojol", ["kelurahan.prompt"]),
        ("Lapai", ["kecamatan.prompt"]), ("Nanggalo", ["programme_confirm.prompt"]),
        ("ya", ["income.prompt"]), ("1", ["summary.prompt"])]


@pytest.mark.parametrize("answer, dtsen, messages, done", [
    ("1", True, True, "reg.done_enrolled"),
    ("ya", True, True, "reg.done_enrolled"),
    ("3", True, False, "reg.done_enrolled"),
    ("setuju tanpa pengingat", True, False, "reg.done_enrolled"),
    ("4", False, True, "reg.done_review"),  # not matched: staff check the worker instead
    ("5", False, False, "reg.done_review"),
])
async def test_each_purpose_is_chosen_on_its_own(catalogs, answer, dtsen, messages, done):
    memory = Memory(dtsen={NIK: 1})
    chat = Chat(catalogs, memory, programmes=TOWN)
    await play(chat, TO_CONSENT + [(answer, ["nik.prompt"]), (NIK, ["full_name.prompt"])]
               + REST + [("simpan", [done])])
    [(_, worker)] = memory.workers
    assert (worker.dtsen_consent, worker.messages_consent) == (dtsen, messages)
    assert worker.dtsen_desil == (1 if dtsen else None)
    preview = await memory.broadcast_preview(Audience(), None, START.date())
    assert preview.total == (1 if messages else 0)


async def test_refusing_the_registration_stores_nothing(catalogs):
    chat = Chat(catalogs)
    await play(chat, TO_CONSENT + [("2", ["consent.declined"])])
    assert chat.memory.workers == [] and chat.session.data == {}


async def test_every_answer_is_stored_with_the_hash_of_the_text_shown(store, catalogs):
    effect = replace(registration(), consent_version="2026-12", dtsen_consent=False,
                     messages_consent=False, locale="en")
    async with store.transaction() as tx:
        await apply_effects(tx, Renderer(catalogs), [effect], START, channel="telegram",
                            chat_key="telegram:7001", send_here=False)
    async with store.transaction() as tx:
        proofs = await tx.consents_of("LD-AAAA-AAAA", catalogs)
        found = await recipients(tx.conn, Audience(), None, date(2026, 12, 3))
        assert not (await tx.worker_by_reference("LD-AAAA-AAAA")).dtsen_ok
    assert [(p.purpose, p.given, p.version, p.locale) for p in proofs] == [
        ("registration", True, "2026-12", "en"), ("dtsen", False, "2026-12", "en"),
        ("messages", False, "2026-12", "en")]
    assert all(p.text_matches and p.text_sha256 == KNOWN[("2026-12", p.purpose, "en")]
               for p in proofs)
    assert found == []  # no broadcast to one who refused the bot's own messages


def test_the_proof_is_printed_for_the_legal_office(tmp_path, catalogs):
    url = f"sqlite+aiosqlite:///{tmp_path / 'lindungi.db'}"
    env = environment(DATABASE_URL=url)
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0

    async def seed():
        store = Store.connect(url)
        try:
            async with store.transaction() as tx:
                await apply_effects(tx, Renderer(catalogs), [
                    replace(registration(), consent_version="2026-12", messages_consent=False)],
                    START, channel="whatsapp", chat_key="whatsapp:6281234567890",
                    send_here=False)
        finally:
            await store.close()

    asyncio.run(seed())
    shown = lindungi("consent", "ld-aaaa-aaaa", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == ("registration: given, version 2026-12, id, whatsapp:62812…7890, "
                        "2026-11-21 10:00 WIB")
    assert lines[1] == f"  text sha256 {KNOWN[('2026-12', 'registration', 'id')]}: " \
                       "matches the catalogs' text"
    assert lines[4].startswith("messages: refused")
    assert "--- the text shown (version 2026-12, id) ---" in lines
    assert "6281234567890" not in shown.stdout and "Persetujuan data pribadi" in shown.stdout
    missing = lindungi("consent", "LD-NONE-NONE", env=env, cwd=tmp_path)
    assert (missing.returncode, missing.stderr.splitlines()[-1]) == (
        1, "lindungi: no consent recorded for LD-NONE-NONE")


async def test_a_guardians_consent_is_kept_beside_the_claims(store, catalogs):
    from tests.test_claims import CHILD, GUARDIAN
    from tests.test_lookup_contract import filed_claim

    effect = replace(filed_claim(), consent_version="2026-12", heir_nik=CHILD,
                     guardian_name="SITI RAHMAWATI",
                     guardian_nik=GUARDIAN)
    async with store.transaction() as tx:
        await apply_effects(tx, Renderer(catalogs), [effect], START, channel="telegram",
                            chat_key="telegram:8001", send_here=False)
    async with store.transaction() as tx:
        proofs = await tx.consents_of(effect.reference, catalogs)
        row = (await tx.conn.execute(select(claim.c.guardian_name, claim.c.guardian_nik))).one()
    assert [(p.purpose, p.given, p.text_matches) for p in proofs] == [
        ("claim", True, True), ("guardian", True, True)]
    assert tuple(row) == ("SITI RAHMAWATI", GUARDIAN)
