"""Several bot processes sharing one database (here: two ``Conversations``, each with its own
connection pool, in one test process), on SQLite and PostgreSQL: a chat is handled by one
process at a time and in the channel's order, what one process journaled or left unsent is
taken by another, and the upkeep runs once."""

import asyncio
from datetime import timedelta
from itertools import count

import pytest

from bot.messages import Inbound
from handlers.conversations import REPLY_LEASE
from main import sweep_forever
from models.job_lease import JobLeases
from models.store import Store
from tests.test_pipeline import NOW, Pipeline


@pytest.fixture
async def other_store(store, database_url):
    """A second connection pool on the same database: another process's."""
    other = Store.connect(database_url)
    yield other
    await other.close()


def telegram(chat: int, update_id: int, text: str) -> Inbound:
    return Inbound("telegram", str(chat), str(update_id), text=text, order=update_id)


async def test_a_chat_is_handled_by_one_process_at_a_time_in_its_order(store, other_store,
                                                                       catalogs):
    first = Pipeline(store, catalogs, instance="a")
    second = Pipeline(other_store, catalogs, instance="b")
    events: list[tuple[str, str]] = []
    for pipeline in (first, second):
        handle = pipeline.conversations.engine.handle

        async def slow(session, inbound, ctx, handle=handle):
            events.append(("start", inbound.external_id))
            if inbound.text == "/start":
                await asyncio.sleep(0.3)  # the first process holds the chat meanwhile
            outcome = await handle(session, inbound, ctx)
            events.append(("end", inbound.external_id))
            return outcome

        pipeline.conversations.engine.handle = slow
        await pipeline.conversations.start()

    held = asyncio.create_task(first.conversations.submit([telegram(1, 101, "/start")]))
    await asyncio.sleep(0.1)
    await second.conversations.submit([telegram(1, 102, "1")])  # waits for the chat
    await held
    for pipeline in (first, second):
        await pipeline.conversations.stop()
    assert events == [("start", "101"), ("end", "101"), ("start", "102"), ("end", "102")]
    assert first.sender.texts("1")[0].startswith("Halo!")
    assert second.sender.texts("1")[-1].startswith("Pilih bahasa")  # "1": register


async def test_messages_journaled_out_of_order_are_handled_in_the_channels(store, catalogs):
    pipeline = Pipeline(store, catalogs)
    await pipeline.conversations.start()
    await pipeline.conversations.submit([telegram(1, 202, "1"), telegram(1, 201, "/start")])
    await pipeline.conversations.stop()
    texts = pipeline.sender.texts("1")
    assert texts[0].startswith("Halo!") and texts[-1].startswith("Pilih bahasa")


async def test_a_message_journaled_by_a_process_that_stopped_is_handled_by_another(
        store, other_store, catalogs):
    async with store.transaction() as tx:  # journaled, then the process died
        await tx.receive([telegram(1, 301, "/start")], NOW)
    other = Pipeline(other_store, catalogs, instance="b")
    await other.conversations.start()
    await other.conversations.idle()
    assert other.sender.texts("1")[0].startswith("Halo!")
    async with store.reading() as tx:
        assert await tx.waiting_chats(NOW + timedelta(days=1)) == []
    await other.conversations.stop()


async def test_replies_a_process_left_unsent_wait_for_its_lease(store, other_store,
                                                                catalogs):
    class Stuck:
        async def send(self, chat_id, message):
            await asyncio.Event().wait()

    crashed = Pipeline(store, catalogs, sender=Stuck(), instance="a")
    await crashed.conversations.start()
    await crashed.conversations.submit([crashed.message(1, "/start")])
    for task in list(crashed.conversations._tails.values()) + [crashed.conversations._writer]:
        task.cancel()  # the process dies with the replies unsent

    other = Pipeline(other_store, catalogs, instance="b")
    other.ids = count(100)
    await other.conversations.start()
    await other.conversations.idle()
    assert other.sender.texts("1") == []  # "a" may still be sending them
    other.now = NOW + REPLY_LEASE + timedelta(seconds=1)
    assert await other.conversations.deliver_replies() == 1
    await other.conversations.idle()
    assert other.sender.texts("1")[0].startswith("Halo!")

    restarted = Pipeline(store, catalogs, instance="a")
    restarted.now = other.now
    await restarted.conversations.start()
    await restarted.conversations.idle()
    assert restarted.sender.texts("1") == []  # sent once, by "b"
    for pipeline in (other, restarted):
        await pipeline.conversations.stop()


async def test_a_process_still_sending_keeps_its_replies_lease(store, other_store, catalogs):
    """Waiting out a long "retry after" is not a crash: the lease is renewed meanwhile."""
    class Waiting:
        async def send(self, chat_id, message):
            await asyncio.Event().wait()

    alive = Pipeline(store, catalogs, sender=Waiting(), instance="a")
    await alive.conversations.start()
    await alive.conversations.submit([alive.message(1, "/start")])
    other = Pipeline(other_store, catalogs, instance="b")
    other.ids = count(100)
    await other.conversations.start()
    alive.now = NOW + REPLY_LEASE - timedelta(seconds=5)
    await alive.conversations.renew_leases()
    other.now = NOW + REPLY_LEASE + timedelta(seconds=1)
    assert await other.conversations.deliver_replies() == 0
    other.now = alive.now + REPLY_LEASE + timedelta(seconds=1)  # "a" stopped renewing
    assert await other.conversations.deliver_replies() == 1
    await other.conversations.idle()
    assert other.sender.texts("1")[0].startswith("Halo!")
    for task in list(alive.conversations._tails.values()):
        task.cancel()
    for pipeline in (alive, other):
        await pipeline.conversations.stop()


async def test_a_job_is_held_by_one_process_until_its_lease_lapses(store, other_store):
    first, second = JobLeases(store, "a"), JobLeases(other_store, "b")
    lease = timedelta(minutes=1)
    assert await first.hold("upkeep", NOW, lease)
    assert not await second.hold("upkeep", NOW + timedelta(seconds=30), lease)
    assert await first.hold("upkeep", NOW + timedelta(seconds=50), lease)  # kept
    assert not await second.hold("upkeep", NOW + timedelta(seconds=100), lease)
    assert await second.hold("upkeep", NOW + timedelta(seconds=111), lease)  # "a" stopped
    assert not await first.hold("upkeep", NOW + timedelta(seconds=112), lease)
    assert await first.hold("progress", NOW, lease)  # another job, another lease
    await second.release_all()
    assert await first.hold("upkeep", NOW + timedelta(seconds=113), lease)


async def test_the_upkeep_runs_in_one_process_of_several(store, other_store, catalogs):
    swept: list[str] = []
    tasks = []
    for name, pool in (("a", store), ("b", other_store), ("c", other_store)):
        pipeline = Pipeline(pool, catalogs, instance=name)

        async def sweep(name=name):
            swept.append(name)

        pipeline.conversations.sweep = sweep
        tasks.append(asyncio.create_task(sweep_forever(
            pipeline.conversations, leases=JobLeases(pool, name))))
    await asyncio.sleep(0.5)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert len(swept) == 1
