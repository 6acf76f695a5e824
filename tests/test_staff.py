"""Staff members and the record of their actions, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

from bot.areas import parse_area
from models.staff import StaffDirectory

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


async def test_members_are_added_changed_and_removed_and_every_step_recorded(store):
    directory = StaffDirectory(store)
    assert await directory.add("telegram", "5001", "verifier", "Rina", "cli:ops", NOW)
    assert await directory.add("telegram", "5002", "admin", None, "cli:ops", NOW)
    assert await directory.role("telegram", "5001") == "verifier"
    assert await directory.role("telegram", "9999") is None
    assert await directory.role("whatsapp", "5001") is None

    later = NOW + timedelta(minutes=5)
    assert not await directory.add("telegram", "5001", "admin", "Rina S.", "cli:ops", later)
    assert not await directory.add("telegram", "5001", "admin", None, "cli:ops", later)
    assert await directory.role("telegram", "5001") == "admin"
    assert [(m.chat_id, m.role, m.name, m.added_at) for m in await directory.members()] == [
        ("5001", "admin", "Rina S.", NOW), ("5002", "admin", None, NOW)]

    assert await directory.remove("telegram", "5002", "cli:ops", later + timedelta(minutes=1))
    assert not await directory.remove("telegram", "5002", "cli:ops", later)
    assert await directory.role("telegram", "5002") is None

    assert [(a.actor, a.action, a.subject, a.detail) for a in await directory.actions()] == [
        ("cli:ops", "staff.remove", "telegram:5002", None),
        ("cli:ops", "staff.change", "telegram:5001", {"role": "admin", "name": "Rina S."}),
        ("cli:ops", "staff.change", "telegram:5001", {"role": "admin", "name": "Rina S."}),
        ("cli:ops", "staff.add", "telegram:5002", {"role": "admin", "name": None}),
        ("cli:ops", "staff.add", "telegram:5001", {"role": "verifier", "name": "Rina"}),
    ]


async def test_only_known_roles(store):
    with pytest.raises(ValueError, match="admin, verifier"):
        await StaffDirectory(store).add("telegram", "5001", "boss", None, "cli:ops", NOW)
    assert await StaffDirectory(store).actions() == []


async def test_a_verifier_can_be_scoped_to_an_area(store):
    directory = StaffDirectory(store)
    await directory.add("telegram", "5001", "verifier", "Pak Lurah", "cli:ops", NOW,
                        "kelurahan:Lapai")
    assert [(m.chat_id, m.area) for m in await directory.members()] == [
        ("5001", "kelurahan:Lapai")]
    async with store.transaction() as tx:
        assert await tx.staff_area("telegram", "5001") == "kelurahan:Lapai"
        assert await tx.staff_area("telegram", "9999") is None
    await directory.add("telegram", "5001", "verifier", None, "cli:ops", NOW)  # all again
    assert [m.area for m in await directory.members()] == [None]


@pytest.mark.parametrize("text, area", [
    ("kecamatan:Padang Utara", ("kecamatan", "Padang Utara")),
    ("  KELURAHAN :  air  tawar barat ", ("kelurahan", "air tawar barat")),
    (None, None),
])
def test_areas_are_read_as_typed(text, area):
    parsed = parse_area(text)
    assert (parsed and (parsed.kind, parsed.name)) == area


@pytest.mark.parametrize("text", ["Padang Utara", "desa:Lapai", "kecamatan:", "kelurahan:x"])
def test_a_bad_area_says_what_is_expected(text):
    with pytest.raises(ValueError, match="kecamatan:NAME or kelurahan:NAME"):
        parse_area(text)


@pytest.mark.parametrize("role, command, allowed", [
    ("claims", "/tinjau", False), ("claims", "/setujui LD-TEST-0001", False),
    ("claims", "/hak", False), ("claims", "/klaim", True),
    ("viewer", "/tinjau", False), ("viewer", "/klaim", False), ("viewer", "/siaran", False),
    ("verifier", "/tinjau", True), ("verifier", "/klaim", True), ("verifier", "/siaran", False),
    ("admin", "/tinjau", True), ("admin", "/hak", True),
])
async def test_each_role_reaches_only_its_chat_commands(catalogs, role, command, allowed):
    from tests.chat import Chat, Memory

    chat = Chat(catalogs, Memory(staff={"telegram:9001": role}), chat_id="9001")
    replies = await chat.send(command)
    refused = {"staff.not_allowed", "broadcast.not_allowed"}
    assert (replies[0].msgid not in refused) == allowed, replies[0].msgid
