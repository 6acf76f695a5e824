"""Personal data sealed at rest (``models.vault``, ``models.seal``, ``models.keys``): what is
stored is sealed and found by blind indexes on both databases, a database from before is
sealed in place batch by batch and resumes when cut short, ``rotate-key`` reseals under a
new key, and after a whole run through the bot no NIK, birth date, phone number or account
can be read in the SQLite file, its WAL or the log."""

import base64
import json
from datetime import date

import pytest
from sqlalchemy import column, select, table, text
from sqlmodel import SQLModel

from bot.messages import ChangeStatus
from models.keys import BadKeys, add_key, load_vault, parse
from models.migrate import upgrade
from models.schema import worker
from models.seal import SEALED, SECRETS, keys_in_use, seal_all
from models.vault import CannotOpen, Sealed, SealedBytes, Vault, install, vault
from tests.conftest import TEST_KEYS
from tests.test_cli_enrolment import lindungi
from tests.test_e2e import environment
from tests.test_lookup_contract import NIK, NOW, filed_claim, registration
from tests.test_store import downgrade_to

KEY = b"k" * 32


def test_a_value_seals_differently_each_time_and_opens_only_where_it_belongs():
    box = Vault({"a1": KEY}, "a1", b"i" * 32)
    one, two = box.seal(NIK.encode(), "worker.nik"), box.seal(NIK.encode(), "worker.nik")
    assert one != two and one.startswith("enc1:a1:") and NIK not in one
    assert box.open(one, "worker.nik") == NIK.encode()
    with pytest.raises(CannotOpen) as wrong_column:  # copied into another column
        box.open(one, "claim.heir_nik")
    with pytest.raises(CannotOpen) as unknown:
        Vault({"b1": KEY}, "b1", b"i" * 32).open(one, "worker.nik")
    assert NIK not in str(wrong_column.value) and "key 'a1'" in str(unknown.value)
    assert box.index(NIK) == box.index(NIK) != Vault({"a1": KEY}, "a1", b"j" * 32).index(NIK)
    assert len(box.index(NIK)) == 16


def test_keys_come_from_the_setting_or_a_private_file_made_once(tmp_path):
    path = tmp_path / "keys.json"
    made = load_vault(None, path)
    assert path.stat().st_mode & 0o777 == 0o600 and made.key_ids == ("k1",)
    assert load_vault(None, path).index(NIK) == made.index(NIK)  # the same file, the same keys
    inline = load_vault(json.dumps(TEST_KEYS), tmp_path / "unused.json")
    assert inline.current == "t1" and not (tmp_path / "unused.json").exists()
    assert add_key(path) == "k2" and load_vault(None, path).current == "k2"
    with pytest.raises(BadKeys) as bad:
        parse('{"current": "k9", "keys": {}}', "DATA_KEYS")
    assert str(bad.value).startswith("DATA_KEYS: not a key file")
    with pytest.raises(BadKeys):
        load_vault(None, tmp_path / "missing.json", create=False)


def test_a_sealed_column_cannot_be_compared_in_sql():
    with pytest.raises(TypeError, match="blind index"):
        select(worker).where(worker.c.nik == NIK)


async def stored(store, name: str, *columns: str) -> list[tuple]:
    raw = table(name, *map(column, columns))
    async with store.engine.connect() as conn:
        return [tuple(row) for row in await conn.execute(select(raw))]


async def test_what_is_stored_is_sealed_and_found_by_its_index(store):
    async with store.transaction() as tx:
        await tx.register_worker(registration(), "telegram", "telegram:7001", NOW)
    async with store.transaction() as tx:
        await tx.file_claim(filed_claim(), "telegram", "telegram:8001", NOW)
    [(nik, birth, phone, index)] = await stored(store, "worker", "nik", "birth_date", "phone",
                                                "nik_index")
    assert all(value.startswith("enc1:t1:") for value in (nik, birth, phone))
    assert NIK not in nik and "1985" not in birth and "81234567890" not in phone
    assert bytes(index) == vault().index(NIK)
    [(heir, account, deceased_index)] = await stored(store, "claim", "heir_nik",
                                                     "account_number", "deceased_nik_index")
    assert heir.startswith("enc1:") and "123456789012" not in account
    assert bytes(deceased_index) == vault().index(NIK)
    async with store.transaction() as tx:
        found = await tx.worker_by_nik(NIK)
        claims = await tx.open_claims(NIK)
    secret = await store.secret("card")
    assert (found.nik, found.birth_date, found.phone) == (NIK, date(1985, 8, 17),
                                                          "+6281234567890")
    assert [c.heir_phone for c in claims] == ["+6281298765432"]
    secrets = [bytes(value) for (value,) in await stored(store, "app_secret", "value")]
    assert len(secrets) == 2  # the card key, and the hashes' key every transaction uses
    assert all(value.startswith(b"enc1:t1:") and secret not in value for value in secrets)


async def test_a_database_from_before_is_sealed_in_place_and_resumes(store):
    """Rows stored in plain text at revision 0014, then the upgrade: cut short after one
    batch, every row still reads; run again, all are sealed; a new key reseals them all."""
    await downgrade_to(store, "0014")
    async with store.engine.begin() as conn:
        for n in range(5):
            await conn.execute(text(
                "INSERT INTO worker (reference, nik, full_name, birth_date, phone, occupation,"
                " kelurahan, kecamatan, monthly_income, status, channel, chat_key, locale,"
                " consent_version, consented_at, created_at, dtsen_ok, messages_ok) VALUES"
                " (:ref, :nik, 'BUDI', :birth, '+6281234567890', 'ojek', 'Lapai', 'Nanggalo',"
                " 1000000, 'active', 'telegram', :chat, 'id', '2026-12', :at, :at, true, true)"),
                {"ref": f"LD-OLD-000{n}", "nik": f"13710117088500{n:02d}",
                 "birth": date(1985, 8, 17), "chat": f"telegram:{n}", "at": NOW})
        await conn.execute(text("INSERT INTO app_secret (name, value) VALUES ('card', :v)"),
                           {"v": b"s" * 32})
    install(None)  # the schema first, as an interrupted first start would leave it
    try:
        await upgrade(store.engine)
    finally:
        install(parse(json.dumps(TEST_KEYS), "the tests' keys"))
    assert await seal_all(store.engine, vault(), batch=2, batches=1) == {
        "worker": 2, "claim": 0, "rights_request": 0, "conversation": 0,
        "inbound_message": 0, "outbox": 0, "outgoing_message": 0, "app_secret": 1}
    async with store.transaction() as tx:  # sealed or not yet, every row reads
        rows = (await tx.conn.execute(select(worker.c.nik, worker.c.birth_date)
                                      .order_by(worker.c.id))).all()
    assert [r.nik for r in rows] == [f"13710117088500{n:02d}" for n in range(5)]
    assert {r.birth_date for r in rows} == {date(1985, 8, 17)}
    assert (await seal_all(store.engine, vault(), batch=2))["worker"] == 3
    # 15 worker values, the card key and the hashes' key the first transaction made
    assert await keys_in_use(store.engine, ("t1",)) == {"t1": 17, "none": 0}
    async with store.transaction() as tx:
        assert (await tx.worker_by_nik("1371011708850003")).reference == "LD-OLD-0003"
    assert await store.secret("card") == b"s" * 32

    rotated = Vault({"t1": b"t" * 32, "t2": b"u" * 32}, "t2", b"i" * 32)
    install(rotated)
    try:
        assert (await seal_all(store.engine, rotated))["worker"] == 5
        assert await keys_in_use(store.engine, ("t1", "t2")) == {"t1": 0, "t2": 17, "none": 0}
        install(Vault({"t2": b"u" * 32}, "t2", b"i" * 32))  # the old key no longer needed
        async with store.transaction() as tx:
            assert (await tx.worker_by_nik("1371011708850004")).nik == "1371011708850004"
            await tx.change_status(ChangeStatus("LD-OLD-0004", "active", "lapsed"), NOW)
    finally:
        install(parse(json.dumps(TEST_KEYS), "the tests' keys"))


def test_rotate_key_adds_a_key_reseals_and_drops_the_old_one(tmp_path, catalogs):
    url = f"sqlite+aiosqlite:///{tmp_path / 'lindungi.db'}"
    keys = tmp_path / "keys.json"
    env = environment(DATABASE_URL=url, DATA_KEYS_FILE=str(keys), DATA_KEYS="")
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert json.loads(keys.read_text())["current"] == "k1"
    rotated = lindungi("rotate-key", "--new", env=env, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    lines = rotated.stdout.splitlines()
    assert lines[0] == "lindungi: new data key k2 is current"
    assert lines[-1].startswith("nothing is sealed with k1 now: they may be removed")
    dropped = lindungi("rotate-key", "--drop-old", env=env, cwd=tmp_path)
    assert dropped.returncode == 0 and "removed from the key file: k1" in dropped.stdout
    assert set(json.loads(keys.read_text())["keys"]) == {"k2"}
    inline = lindungi("rotate-key", "--new", env=environment(
        DATABASE_URL=url, DATA_KEYS=keys.read_text()), cwd=tmp_path)
    assert inline.returncode == 1 and "change DATA_KEYS itself" in inline.stderr
    assert len(base64.b64decode(json.loads(keys.read_text())["keys"]["k2"])) == 32


def test_the_sealing_pass_knows_every_sealed_column():
    declared = {(t.name, c.name): c.type.column for t in SQLModel.metadata.sorted_tables
                for c in t.columns if isinstance(c.type, Sealed | SealedBytes)}
    listed = {(name, c) for name, (_, columns, _) in SEALED.items() for c in columns}
    assert set(declared) == listed | {(SECRETS[0], SECRETS[2])}
    assert all(label == f"{name}.{c}" for (name, c), label in declared.items())


def test_a_database_with_the_wrong_keys_stops_start_up_in_one_line(tmp_path):
    """The key file lost (or another one given): the bot says so rather than run."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'lindungi.db'}"
    keys = tmp_path / "keys.json"
    env = environment(DATABASE_URL=url, DATA_KEYS_FILE=str(keys), DATA_KEYS="")
    assert lindungi("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    assert lindungi("staff", "add", "--telegram-id", "42", "--role", "verifier", env=env,
                    cwd=tmp_path).returncode == 0  # a first transaction: secrets sealed
    keys.unlink()  # a new key file is made, but the database was sealed with the old one
    done = lindungi("rights", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(
        "lindungi: the database holds values sealed with other data keys (a value of "
        "app_secret.value does not open with key 'k1'): set DATA_KEYS or DATA_KEYS_FILE")
