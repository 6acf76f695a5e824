"""The store's contract, the same on SQLite and PostgreSQL."""

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from bot.messages import ChangePhone, RegisterWorker
from models.migrate import HEAD, alembic_config, current_revision, upgrade
from models.schema import StaleChange, as_utc, conversation, inbound, staff_action, worker

NOW = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


def registration(nik="1371011708850001", reference="LD-AAAA-AAAA", **more) -> RegisterWorker:
    return RegisterWorker(
        reference=reference, nik=nik, full_name="BUDI SANTOSO", birth_date=date(1985, 8, 17),
        phone="+6281234567890", occupation="ojek", occupation_other=None,
        kelurahan="Air Tawar Barat", kecamatan="Padang Utara", monthly_income=1_000_000,
        locale="id", consent_version="2026-11", consented_at=NOW.isoformat(), **more)


async def downgrade_to(store, revision: str) -> None:
    """Take the database down to an earlier migration, to store rows as it had them."""
    from alembic import command

    def migrate(connection):
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with store.engine.begin() as connection:
        await connection.run_sync(migrate)


def journal_row(external_id, replies=None, chat_key="telegram:1", received_at=NOW):
    return {"channel": "telegram", "external_id": external_id, "chat_key": chat_key,
            "received_at": received_at, "replies": replies}


def test_head_names_the_newest_migration():
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


async def test_migrations_are_current_and_idempotent(store):
    assert await current_revision(store.engine) == HEAD
    await upgrade(store.engine)
    assert await current_revision(store.engine) == HEAD


async def test_sessions_round_trip_and_update(store):
    async with store.transaction() as tx:
        assert await tx.load_sessions(["telegram:1"]) == {}
        await tx.save_sessions({"telegram:1": {"locale": "id", "data": {"nik": "x"}}}, set(), NOW)
    async with store.transaction() as tx:
        loaded = await tx.load_sessions(["telegram:1", "telegram:2"])
        assert loaded == {"telegram:1": {"locale": "id", "data": {"nik": "x"}}}
        await tx.save_sessions({"telegram:1": {"locale": "en"}, "telegram:2": {"locale": "id"}},
                               {"telegram:1"}, NOW + timedelta(minutes=1))
    async with store.transaction() as tx:
        assert await tx.load_sessions(["telegram:1", "telegram:2"]) == {
            "telegram:1": {"locale": "en"}, "telegram:2": {"locale": "id"}}


async def test_journal_knows_what_was_handled(store):
    async with store.transaction() as tx:
        await tx.journal([journal_row("1"), journal_row("2", [{"text": "hi"}])])
    async with store.transaction() as tx:
        assert await tx.seen("telegram", ["1", "2", "3"]) == {"1", "2"}
        assert await tx.seen("whatsapp", ["1"]) == set()
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.journal([journal_row("1")])


async def test_undelivered_replies_wait_until_marked(store):
    async with store.transaction() as tx:
        await tx.journal([journal_row("1", [{"text": "a"}]), journal_row("2"),
                          journal_row("3", [{"text": "b"}, {"text": "c"}], "telegram:9")])
    pending = await store.undelivered()
    assert [(p.external_id, p.chat_key, p.replies) for p in pending] == [
        ("1", "telegram:1", [{"text": "a"}]),
        ("3", "telegram:9", [{"text": "b"}, {"text": "c"}])]
    await store.mark_delivered([("journal", "telegram", "1"), ("journal", "telegram", "3")])
    assert await store.undelivered() == []
    async with store.engine.connect() as conn:
        assert (await conn.execute(select(inbound.c.replies))).scalars().all() == [None] * 3


async def test_workers_are_stored_once_per_nik(store):
    async with store.transaction() as tx:
        await tx.register_worker(registration(), "telegram", "telegram:1", NOW)
        queued = await tx.worker_by_nik("1371011708850001")
        assert queued.reference == "LD-AAAA-AAAA"
        assert [w.reference for w in await tx.workers_of_chat("telegram:1")] == ["LD-AAAA-AAAA"]
    async with store.transaction() as tx:
        found = await tx.worker_by_nik("1371011708850001")
        assert (found.reference, found.full_name, found.status, found.registered_on) == (
            "LD-AAAA-AAAA", "BUDI SANTOSO", "waiting_verification", NOW.date())
        assert await tx.worker_by_nik("1371011708850002") is None
        assert [w.reference for w in await tx.workers_of_chat("telegram:1")] == ["LD-AAAA-AAAA"]
        assert await tx.workers_of_chat("telegram:2") == []
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.register_worker(registration(reference="LD-BBBB-BBBB"), "telegram",
                               "telegram:2", NOW)
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(worker))).one()
    assert (row.birth_date, row.phone, row.monthly_income, row.consent_version) == (
        date(1985, 8, 17), "+6281234567890", 1_000_000, "2026-11")


async def test_workers_are_prefetched_in_one_query(store):
    async with store.transaction() as tx:
        await tx.register_worker(registration(), "telegram", "telegram:1", NOW)
    statements = []
    event.listen(store.engine.sync_engine, "before_cursor_execute",
                 lambda *args: statements.append(args[2]))
    async with store.transaction() as tx:
        await tx.prefetch_workers(["1371011708850001", "1371011708850002"])
        before = len(statements)
        assert (await tx.worker_by_nik("1371011708850001")).reference == "LD-AAAA-AAAA"
        assert await tx.worker_by_nik("1371011708850002") is None
        assert len(statements) == before


async def test_idle_sessions_are_expired_and_old_journal_forgotten(store):
    async with store.transaction() as tx:
        await tx.save_sessions({"telegram:old": {"n": 1}}, set(), NOW - timedelta(hours=30))
        await tx.save_sessions({"telegram:new": {"n": 2}}, set(), NOW)
        await tx.journal([journal_row("old", received_at=NOW - timedelta(days=8)),
                          journal_row("pending", [{"text": "x"}], received_at=NOW - timedelta(
                              days=8)),
                          journal_row("recent")])
    changed = await store.expire_sessions(NOW - timedelta(hours=24),
                                          lambda state: {**state, "expired": True})
    assert changed == 1
    assert await store.forget_journal(NOW - timedelta(days=7)) == 1
    async with store.transaction() as tx:
        assert await tx.load_sessions(["telegram:old", "telegram:new"]) == {
            "telegram:old": {"n": 1, "expired": True}, "telegram:new": {"n": 2}}
        assert await tx.seen("telegram", ["old", "pending", "recent"]) == {"pending", "recent"}


async def test_concurrent_read_then_write_loses_no_update(store):
    """Forty transactions each read a counter and write it back plus one."""
    async with store.transaction() as tx:
        await tx.save_sessions({"telegram:1": {"count": 0}}, set(), NOW)

    async def increment():
        async with store.transaction() as tx:
            state = (await tx.load_sessions(["telegram:1"]))["telegram:1"]
            await asyncio.sleep(0.001)
            await tx.save_sessions({"telegram:1": {"count": state["count"] + 1}},
                                   {"telegram:1"}, NOW)

    await asyncio.gather(*(increment() for _ in range(40)))
    async with store.engine.connect() as conn:
        state = (await conn.execute(select(conversation.c.state))).scalar_one()
    assert json.loads(state) == {"count": 40}


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(sqlite_store):
    async with sqlite_store.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000


async def test_migration_0010_keeps_claims_and_broadcasts_made_before(store):
    """Down to 0009 and up again with a claim and a broadcast stored in between: the claim
    counts its reminders from when it was last complete or filed, the recipient is about no
    subject, and the unique key still holds one message per chat."""
    await downgrade_to(store, "0009")
    filed = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
    async with store.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO claim (reference, deceased_nik, status, date_of_death, cause, "
            "heir_name, heir_nik, heir_phone, relationship, bank_name, account_number, "
            "account_holder, estimate, channel, chat_key, locale, consent_version, "
            "consented_at, created_at) VALUES ('JKM-2026-000001', '1371011708850001', "
            "'documents_incomplete', '2026-11-25', 'illness', 'SITI', '1371015708850002', "
            "'+6281298765432', 'spouse', 'BRI', '1', 'SITI', 42000000, 'telegram', "
            "'telegram:8001', 'id', '2026-11', :at, :at)"), {"at": filed})
        await conn.execute(text(
            "INSERT INTO broadcast (created_by, created_at, audience, text_id, status) "
            "VALUES ('cli:ani', :at, '{}', 'Halo', 'sending')"), {"at": filed})
        await conn.execute(text(
            "INSERT INTO broadcast_recipient (broadcast_id, chat_key, locale, state, attempts)"
            " VALUES (1, 'telegram:1001', 'id', 'pending', 0)"))
    await upgrade(store.engine)
    assert await current_revision(store.engine) == HEAD
    async with store.engine.connect() as conn:
        changed = await conn.scalar(text("SELECT changed_at FROM claim"))
        subject = await conn.scalar(text("SELECT subject FROM broadcast_recipient"))
        final = await conn.scalar(text("SELECT progress_final FROM broadcast"))
    if not isinstance(changed, datetime):  # SQLite hands raw SQL its text back
        changed = datetime.fromisoformat(changed)
    assert as_utc(changed) == filed
    assert (subject, bool(final)) == ("", False)
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO broadcast_recipient (broadcast_id, chat_key, locale, state, "
                "attempts, subject) VALUES (1, 'telegram:1001', 'id', 'pending', 0, '')"))


def test_every_table_is_emptied_between_postgresql_tests():
    """tests/conftest.py truncates TABLES before each PostgreSQL test: a table missing there
    carries one test's rows into the next."""
    from sqlmodel import SQLModel

    from tests.conftest import TABLES

    assert set(SQLModel.metadata.tables) == set(TABLES)


async def test_the_registration_date_is_the_jakarta_date(store):
    """Registered at 01:30 WIB on 3 December (18:30 UTC on the 2nd): the 3rd, as the card."""
    late = datetime(2026, 12, 2, 18, 30, tzinfo=UTC)
    async with store.transaction() as tx:
        await tx.register_worker(registration(), "telegram", "telegram:1", late)
    async with store.transaction() as tx:
        assert (await tx.worker_by_reference("LD-AAAA-AAAA")).registered_on == date(2026, 12, 3)


async def test_a_phone_change_is_stored_and_recorded_without_the_old_number(store):
    async with store.transaction() as tx:
        await tx.register_worker(registration(), "telegram", "telegram:1", NOW)
    async with store.transaction() as tx:
        await tx.change_phone(ChangePhone("LD-AAAA-AAAA", "+6281311112222", "telegram:1"), NOW)
        assert (await tx.worker_by_nik("1371011708850001")).phone == "+6281311112222"
    async with store.transaction() as tx:
        assert (await tx.worker_by_reference("LD-AAAA-AAAA")).phone == "+6281311112222"
    with pytest.raises(StaleChange):
        async with store.transaction() as tx:
            await tx.change_phone(ChangePhone("LD-GONE-GONE", "+6281311112222", "telegram:1"),
                                  NOW)
    async with store.engine.connect() as conn:
        action = (await conn.execute(select(staff_action))).one()
    assert (action.actor, action.action, action.subject) == (
        "telegram:1", "worker.phone_changed", "LD-AAAA-AAAA")
    assert "6281234567890" not in (action.detail or "")


async def test_migration_0012_keeps_workers_registered_under_one_consent(store):
    """Down to 0011 and up again with a worker registered before: their one consent of
    2026-11 covered DTSEN matching and the bot's messages, so both stay allowed."""
    await downgrade_to(store, "0011")
    async with store.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO worker (reference, nik, full_name, birth_date, phone, occupation, "
            "kelurahan, kecamatan, monthly_income, status, channel, chat_key, locale, "
            "consent_version, consented_at, created_at) VALUES ('LD-AAAA-AAAA', "
            "'1371011708850001', 'BUDI', '1985-08-17', '+6281234567890', 'ojek', 'Lapai', "
            "'Nanggalo', 1000000, 'active', 'telegram', 'telegram:1', 'id', '2026-11', :at, "
            ":at)"), {"at": NOW})
    await upgrade(store.engine)
    async with store.transaction() as tx:
        found = await tx.worker_by_reference("LD-AAAA-AAAA")
        assert found.dtsen_ok
    async with store.engine.connect() as conn:
        assert bool(await conn.scalar(text("SELECT messages_ok FROM worker")))
