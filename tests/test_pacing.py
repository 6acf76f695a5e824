"""The channels' budgets (``handlers.pacing``): slots spaced by the rate and per chat, a pause
for everyone, replies before notices before broadcasts, and one budget for several processes
through the database (``models.send_budget``), on SQLite and PostgreSQL."""

import asyncio
import time
from itertools import pairwise

import pytest
from sqlalchemy import select

from handlers.pacing import BROADCAST, JITTER_MARGIN, NOTICE, REPLY, MemoryBook, Pacer
from models.schema import send_pace
from models.send_budget import SharedBook
from models.store import Store

SLOT = JITTER_MARGIN / 30


class Clock:
    def __init__(self):
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


@pytest.mark.parametrize(("rate", "interval", "chats", "expected_starts"), [
    # 30 a second overall: evenly spaced, a thirtieth of a second apart (and 2% more)
    (30, 0, ["a", "b", "c", "d"], [0, SLOT, 2 * SLOT, 3 * SLOT]),
    # one chat at most once a second: the second message to it waits the second out
    (30, 1.0, ["a", "a", "b"], [0, 1.0, 1.0 + SLOT]),
    (30, 1.0, ["a", "b", "a"], [0, SLOT, 1.0]),
    # per chat only (WhatsApp has none; a test of the interval alone)
    (0, 1.0, ["a", "b", "a"], [0, 0, 1.0]),
    # no limit at all (the benchmark's delivery worker alone)
    (0, 0, ["a", "b", "c"], [0, 0, 0]),
])
async def test_sends_are_spaced_by_the_rate_and_per_chat(rate, interval, chats,
                                                          expected_starts):
    clock = Clock()
    pacer = Pacer(MemoryBook(), "telegram", rate, interval, clock=clock, sleep=clock.sleep)
    starts = []
    for chat in chats:
        await pacer.acquire(chat)
        starts.append(round(clock.now - 100.0, 6))
    assert starts == [round(s, 6) for s in expected_starts]


async def test_a_slot_missed_is_left_and_another_booked():
    """The loop was busy, or the connections taken: the send could go 0.2 s after its slot.
    Sent then, it would land among the slots booked after it; it takes the next free one."""
    clock = Clock()
    book = MemoryBook()
    pacer = Pacer(book, "telegram", 30, 0, clock=clock, sleep=clock.sleep)
    connections = asyncio.Semaphore(1)
    async with pacer.sending("a", connections):
        pass
    await connections.acquire()  # another send holds the only connection for 0.2 s
    asyncio.get_running_loop().call_later(0.05, lambda: (
        setattr(clock, "now", clock.now + 0.2), connections.release()))
    async with pacer.sending("b", connections):
        sent_at = clock.now
    assert sent_at == pytest.approx(100.0 + SLOT + 0.2)
    # it went in a slot of its own: the one it missed is not the next one's
    assert await book.reserve("telegram", 1, SLOT, clock.now, 10) == pytest.approx(sent_at + SLOT)
    assert connections._value == 1


async def test_a_pause_holds_every_chat_back():
    clock = Clock()
    pacer = Pacer(MemoryBook(), "telegram", 30, 1.0, clock=clock, sleep=clock.sleep)
    await pacer.acquire("a")
    await pacer.pause(5)
    await pacer.acquire("b")
    assert clock.now == pytest.approx(105.0)


async def test_a_chat_idle_long_enough_goes_at_once():
    clock = Clock()
    pacer = Pacer(MemoryBook(), "telegram", 30, 1.0, clock=clock, sleep=clock.sleep)
    await pacer.acquire("a")
    clock.now += 10
    await pacer.acquire("a")
    assert clock.slept == []


async def test_replies_go_before_notices_before_broadcasts():
    """A second of replies is waiting when a notice and a broadcast come: the notice books
    once less than a second is booked ahead, the broadcast only when the schedule is nearly
    free; replies coming after them still go first."""
    pacer = Pacer(MemoryBook(), "telegram", 100)
    order: list[str] = []

    async def send(name: str, chat: str, priority: int, after: float = 0.0) -> None:
        await asyncio.sleep(after)
        await pacer.acquire(chat, priority)
        order.append(name)

    await asyncio.gather(
        *(send(f"reply {n}", f"r{n}", REPLY) for n in range(100)),
        send("notice", "n", NOTICE, 0.01), send("broadcast", "b", BROADCAST, 0.01),
        *(send(f"late reply {n}", f"l{n}", REPLY, 0.1) for n in range(20)))
    assert order.index("notice") < order.index("broadcast")
    assert order[-1] == "broadcast"
    assert all(order.index(f"late reply {n}") < order.index("broadcast") for n in range(20))


async def test_the_channel_has_room_until_sends_queue_for_it():
    """A second of sends queued at once books the schedule a second ahead: no room (a webhook
    answer waits for room, see ``handlers.telegram``); one send after a quiet time has it."""
    clock = Clock()
    pacer = Pacer(MemoryBook(), "telegram", 30, 0, clock=clock, sleep=clock.sleep)
    assert pacer.nearly_free
    await pacer.acquire("a")
    assert pacer.nearly_free
    await asyncio.gather(*(pacer.acquire(f"c{n}") for n in range(30)))
    # booked after the first one's slot, at the same moment
    assert pacer.ahead_s == pytest.approx(31 * SLOT) and not pacer.nearly_free
    clock.now += 10
    await pacer.acquire("a")
    assert pacer.ahead_s == pytest.approx(SLOT) and pacer.nearly_free


async def test_a_kind_refused_its_slot_leaves_the_channel_without_room():
    """More than a notice may book is booked ahead (by another process): the notice is
    refused its slot for now, and the channel counts as having no room."""
    clock = Clock()
    book = MemoryBook()
    pacer = Pacer(book, "telegram", 30, 0, clock=clock, sleep=clock.sleep)
    await book.reserve("telegram", 60, SLOT, clock.now, 3600)  # two seconds of sends
    await pacer.acquire("n", NOTICE)
    assert clock.now >= 100.0 + 1.0 and not pacer.nearly_free


@pytest.fixture(params=["memory", "shared"])
async def book(request, store):
    yield MemoryBook() if request.param == "memory" else SharedBook(store)


async def test_a_book_spaces_slots_refuses_past_its_horizon_and_pauses(book):
    assert await book.reserve("telegram", 3, 0.1, 100.0, 10) == pytest.approx(100.0)
    assert await book.reserve("telegram", 1, 0.1, 100.0, 10) == pytest.approx(100.3)
    assert await book.reserve("telegram", 1, 0.1, 100.0, 0.2) is None  # 0.4 s booked ahead
    assert await book.reserve("whatsapp", 1, 0.1, 100.0, 0) == pytest.approx(100.0)
    assert await book.reserve("telegram", 1, 0.1, 105.0, 0) == pytest.approx(105.0)
    await book.pause("telegram", 110.0)
    assert await book.reserve("telegram", 1, 0.1, 105.0, 10) == pytest.approx(110.0)


async def test_a_book_paces_each_chat(book):
    assert await book.pace_chats("telegram", {"telegram:1": 100.0, "telegram:2": 100.1},
                                 1.0) == {}
    assert await book.pace_chats("telegram", {"telegram:1": 100.5, "telegram:3": 100.5},
                                 1.0) == {"telegram:1": pytest.approx(101.0)}
    assert await book.pace_chats("telegram", {"telegram:1": 101.0}, 1.0) == {}


async def test_the_shared_book_forgets_chats_whose_interval_is_long_over(store):
    book = SharedBook(store)
    await book.pace_chats("telegram", {"telegram:1": 1000.0, "telegram:2": 1000.0}, 1.0)
    await book.pace_chats("telegram", {"telegram:2": 1050.0}, 1.0)
    await book.pace_chats("telegram", {"telegram:3": 1100.0}, 1.0)
    async with store.engine.connect() as conn:
        kept = set((await conn.execute(select(send_pace.c.chat_key))).scalars())
    assert kept == {"telegram:2", "telegram:3"}  # chat 1's interval ended over a minute ago
    assert await book.pace_chats("telegram", {"telegram:1": 1100.0}, 1.0) == {}


async def test_processes_sharing_the_database_share_one_budget(store, database_url):
    """Two processes sending at once, 40 each, to chats some of which they share: their slots
    together keep 30 a second overall and a second between two to one chat."""
    other = Store.connect(database_url)
    try:
        pacers = [Pacer(SharedBook(s), "telegram", 30, 1.0) for s in (store, other)]
        slots: list[tuple[float, str]] = []

        async def send(pacer: Pacer, chat: str) -> None:
            slots.append((await pacer.acquire(chat), chat))

        started = time.time()
        await asyncio.gather(*(send(pacers[n % 2], f"telegram:{n % 25}") for n in range(80)))
    finally:
        await other.close()
    times = sorted(at for at, _ in slots)
    assert len(times) == 80
    assert all(later - earlier >= 1 / 30 - 1e-6 for earlier, later in pairwise(times))
    by_chat: dict[str, list[float]] = {}
    for at, chat in slots:
        by_chat.setdefault(chat, []).append(at)
    for chat_times in by_chat.values():
        chat_times.sort()
        assert all(b - a >= 1.0 - 1e-6 for a, b in pairwise(chat_times))
    assert times[-1] - started < 5.0  # 80 at 30/s, 4 a chat: about 3 s, not serialised
