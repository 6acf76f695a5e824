"""WhatsApp's 24-hour rule for the messages the bot starts (notices), on both databases: free
text within the window; past it, or refused by Twilio (63016, at once or in a later status
report), the Content template configured for the notice; with no template, the notice is held
and sent when the chat writes again. And the templates file, checked as a table."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.i18n import Catalogs
from bot.messages import Inbound
from bot.templates import BadTemplates, Template, Templates, notice_values, parse_templates
from handlers.broadcasts import BroadcastDelivery
from handlers.whatsapp import WhatsAppChannel
from models.broadcasts import Broadcasts
from models.reminders import COVERAGE, Reminders
from models.schema import outbox, outgoing
from models.staff import StaffDirectory
from tests.chat import town_programme
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, FakeTwilio
from tests.test_pipeline import ANSWERS, NOW, Pipeline

PUBLIC = "https://lindungi.example.org"
WA_ID = "6281234567890"
TO = f"whatsapp:+{WA_ID}"
NIK = "1371011708850001"
APPROVED_ID = "HX" + "a1" * 16
APPROVED_EN = "HX" + "b2" * 16
TEMPLATES = f"""
[approved]
variables = ["full_name", "reference", "programme"]
id = "{APPROVED_ID}"
en = "{APPROVED_EN}"
"""


class Setup:
    """A WhatsApp worker, a Telegram verifier, one pipeline, and a clock to move."""

    def __init__(self, store, catalogs: Catalogs, twilio: FakeTwilio, templates: str):
        self.store, self.twilio = store, twilio
        self.pipeline = Pipeline(store, catalogs,
                                 programmes=town_programme(verification="staff"))
        kinds = notice_values(catalogs)
        self.channel = WhatsAppChannel(
            ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC, api_base_url=twilio.base_url,
            store=store, templates=parse_templates(templates, "t.toml", kinds.get),
            clock=lambda: self.pipeline.now)
        self.pipeline.conversations.add_channel("whatsapp", self.channel)
        self.ids = 0

    async def worker_says(self, *texts: str) -> None:
        for text in texts:
            self.ids += 1
            await self.pipeline.conversations.submit(
                [Inbound("whatsapp", WA_ID, f"SM{self.ids}", text=text)])
        await self.pipeline.conversations.idle()

    async def approve_after(self, hours: float) -> None:
        self.pipeline.now = NOW + timedelta(hours=hours)
        await self.pipeline.say(9001, "/setujui LD-TEST-0001")
        assert "disetujui" in self.pipeline.sender.texts("9001")[-1]

    async def held(self) -> list[bool]:
        async with self.store.engine.connect() as conn:
            return list((await conn.execute(
                select(outbox.c.held).where(outbox.c.chat_key == f"whatsapp:{WA_ID}",
                                            outbox.c.delivered.is_(False)))).scalars())


@pytest.fixture
async def setup(request, store, catalogs):
    templates = getattr(request, "param", TEMPLATES)
    async with FakeTwilio() as twilio:
        setup = Setup(store, catalogs, twilio, templates)
        await StaffDirectory(store).add("telegram", "9001", "verifier", None, "cli:test", NOW)
        await setup.pipeline.conversations.start()
        await setup.worker_says(*[answer or NIK for answer in ANSWERS])
        assert "LD-TEST-0001" in twilio.messages(TO)[-1].body
        yield setup
        await setup.pipeline.conversations.stop()
        await setup.channel.close()


def bodies(twilio: FakeTwilio) -> list[str]:
    return [sent.body for sent in twilio.messages(TO)]


async def test_within_24_hours_a_notice_goes_as_text(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(23)
    [notice] = setup.twilio.messages(TO)[before:]
    assert "Kabar baik" in notice.body and notice.content_sid is None


async def test_past_24_hours_a_notice_goes_as_its_template(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(30)
    await setup.pipeline.conversations.idle()
    [notice] = setup.twilio.messages(TO)[before:]
    assert notice.content_sid == APPROVED_ID and notice.body == ""
    assert notice.content_variables == {"1": "BUDI SANTOSO", "2": "LD-TEST-0001",
                                        "3": "Program Kota Kecil"}
    assert await setup.held() == []


async def test_text_refused_at_once_as_outside_the_window_goes_as_the_template(setup):
    setup.twilio.close_window(TO)  # the user's clock and Twilio's disagree
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(2)
    [notice] = setup.twilio.messages(TO)[before:]
    assert notice.content_sid == APPROVED_ID


async def test_text_reported_failed_with_63016_goes_again_as_the_template_once(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(2)
    [text] = setup.twilio.messages(TO)[before:]
    async with setup.store.engine.connect() as conn:
        kept = (await conn.execute(select(outgoing.c.fallback).where(
            outgoing.c.sid == text.sid))).scalar()
    assert "Kabar baik" in json.loads(kept)["text"]
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "sent", None)
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "failed", 63016)
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "failed", 63016)
    [template] = setup.twilio.messages(TO)[before + 1:]
    assert template.content_sid == APPROVED_ID
    async with setup.store.engine.connect() as conn:
        row = (await conn.execute(select(outgoing).where(outgoing.c.sid == text.sid))).one()
    assert (row.status, row.error_code, row.fallback) == ("failed", 63016, None)


async def test_a_delivered_notice_forgets_its_copy(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(2)
    [text] = setup.twilio.messages(TO)[before:]
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "delivered", None)
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "failed", 63016)
    assert len(setup.twilio.messages(TO)) == before + 1
    async with setup.store.engine.connect() as conn:
        assert (await conn.execute(select(outgoing.c.fallback))).scalar() is None


@pytest.mark.parametrize("setup", [""], indirect=True)
async def test_with_no_template_the_notice_waits_for_the_chat_to_write(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(30)
    await setup.pipeline.conversations.deliver_notices()
    assert setup.twilio.messages(TO)[before:] == []
    assert await setup.held() == [True]
    await setup.worker_says("status")
    await setup.pipeline.conversations.idle()
    later = bodies(setup.twilio)[before:]
    assert "LD-TEST-0001" in later[0] and "Kabar baik" in later[-1]
    assert sum("Kabar baik" in body for body in later) == 1
    assert await setup.held() == []


@pytest.mark.parametrize("setup", [""], indirect=True)
async def test_a_63016_report_with_no_template_holds_the_notice(setup):
    before = len(setup.twilio.messages(TO))
    await setup.approve_after(2)
    [text] = setup.twilio.messages(TO)[before:]
    await setup.channel.status_report(text.sid, f"whatsapp:{WA_ID}", "failed", 63016)
    assert await setup.held() == [True]
    await setup.worker_says("halo")
    assert "Kabar baik" in bodies(setup.twilio)[-1]


# --- the templates file ----------------------------------------------------------------------

KINDS = {"approved": {"full_name", "reference", "programme"}, "claim_paid": {"reference"}}
SID = "HX" + "0" * 32


@pytest.mark.parametrize(("text", "error"), [
    (f'[approve]\nid = "{SID}"', "no notice is called 'approve'"),
    (f'[approved]\nvariables = ["name"]\nid = "{SID}"', "this notice has no value 'name'"),
    ('[approved]\nid = "HX123"', "id must be a Content SID"),
    ('[approved]\nvariables = []', "give the Content SID of at least one language"),
    (f'[approved]\nid = "{SID}"\nfr = "{SID}"', "unknown field 'fr'"),
    (f'[approved]\nvariables = "reference"\nid = "{SID}"', "variables must be a list"),
    ("approved = 1", "must be a table"),
    ("[approved", "not valid TOML"),
])
def test_a_bad_templates_file_names_each_mistake(text, error):
    with pytest.raises(BadTemplates, match=error):
        parse_templates(text, "t.toml", KINDS.get)


def test_templates_are_picked_by_language_falling_back_to_indonesian():
    templates = parse_templates(
        f'[approved]\nvariables = ["reference", "full_name"]\nid = "{SID}"\n'
        f'[claim_paid]\nvariables = ["reference"]\nen = "HX{"1" * 32}"', "t.toml", KINDS.get)
    assert templates.pick("approved", "en") == Template(SID, ("reference", "full_name"))
    assert templates.pick("claim_paid", "id") is None
    assert templates.pick("claim_paid", "en").content_sid == "HX" + "1" * 32
    assert templates.missing(["approved", "claim_paid", "rejected"]) == ["rejected"]
    assert Templates({}).pick("approved", "id") is None
    variables = templates.pick("approved", "id").content_variables(
        {"reference": "LD-1", "full_name": "BUDI\n  SANTOSO\t"})
    assert variables == {"1": "LD-1", "2": "BUDI SANTOSO"}


def test_every_notice_kind_and_its_values_come_from_the_catalog(catalogs):
    kinds = notice_values(catalogs)
    assert kinds["approved"] >= {"full_name", "reference", "programme", "funder"}
    assert kinds["claim_paid"] == {"reference"}
    assert "claim_document_rejected" in kinds and "menu_welcome" not in kinds


def test_the_example_file_is_valid_and_covers_every_notice(catalogs):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "whatsapp_templates.example.toml"
    kinds = notice_values(catalogs)
    templates = parse_templates(example.read_text(encoding="utf-8"), str(example), kinds.get)
    assert templates.missing(sorted(kinds)) == []


def test_a_bad_templates_file_stops_start_up_naming_each_mistake(environ, tmp_path, capsys):
    from main import main

    path = tmp_path / "templates.toml"
    path.write_text(f'[approve]\nid = "{SID}"\n[claim_paid]\nvariables = ["name"]\n'
                    f'id = "{SID}"\n', encoding="utf-8")
    environ(WHATSAPP_TEMPLATES_FILE=str(path))
    assert main(["run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"lindungi: bad setting WHATSAPP_TEMPLATES_FILE: {path} [approve]: no notice is "
        f"called 'approve'",
        f"lindungi: {path} [claim_paid]: this notice has no value 'name' (it has: reference)"]
    environ(WHATSAPP_TEMPLATES_FILE=str(tmp_path / "missing.toml"))
    assert main(["run"]) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize("setup", [""], indirect=True)
async def test_a_held_notice_stays_held_when_the_chat_says_stop(setup):
    await setup.approve_after(30)
    await setup.worker_says("stop")
    await setup.pipeline.conversations.deliver_notices()
    assert "Kabar baik" not in bodies(setup.twilio)[-1]
    assert await setup.held() == [True]
    await setup.worker_says("mulai")
    await setup.pipeline.conversations.idle()
    assert "Kabar baik" in bodies(setup.twilio)[-1] and await setup.held() == []


REMINDER_ID = "HX" + "c3" * 16


@pytest.mark.parametrize("setup", [TEMPLATES + f"""
[reminder_coverage_ending]
variables = ["full_name", "coverage_end"]
id = "{REMINDER_ID}"
"""], indirect=True)
async def test_a_reminder_past_24_hours_goes_as_its_own_template(setup):
    await setup.approve_after(1)  # enrolled: cover until 31 December
    setup.pipeline.now = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # the chat has long been quiet
    assert await Reminders(setup.store).run(setup.pipeline.now) == {(COVERAGE, 30): 1}
    before = len(setup.twilio.messages(TO))
    await BroadcastDelivery(Broadcasts(setup.store), setup.pipeline.conversations.renderer,
                            {"whatsapp": setup.channel},
                            clock=lambda: setup.pipeline.now).run_until_idle()
    [reminder] = setup.twilio.messages(TO)[before:]
    assert reminder.content_sid == REMINDER_ID
    assert reminder.content_variables == {"1": "BUDI SANTOSO", "2": "31 Desember 2026"}
