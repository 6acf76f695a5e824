"""Staff members and the record of their actions, on SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest

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
