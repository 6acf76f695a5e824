"""The channels' rate limits, on a clock the test moves."""

import pytest

from handlers.ratelimit import JITTER_MARGIN, RateLimiter

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
    # no overall limit (the benchmark's delivery worker alone)
    (0, 0, ["a", "b", "c"], [0, 0, 0]),
])
async def test_sends_are_spaced_by_the_rate_and_per_chat(rate, interval, chats,
                                                          expected_starts):
    clock = Clock()
    limiter = RateLimiter(rate, interval, clock=clock, sleep=clock.sleep)
    starts = []
    for chat in chats:
        await limiter.acquire(chat)
        starts.append(round(clock.now - 100.0, 6))
    assert starts == [round(s, 6) for s in expected_starts]


async def test_a_pause_holds_every_chat_back():
    clock = Clock()
    limiter = RateLimiter(30, 1.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire("a")
    limiter.pause(5)
    await limiter.acquire("b")
    assert clock.now == pytest.approx(105.0)


async def test_a_chat_idle_long_enough_goes_at_once():
    clock = Clock()
    limiter = RateLimiter(30, 1.0, clock=clock, sleep=clock.sleep)
    await limiter.acquire("a")
    clock.now += 10
    await limiter.acquire("a")
    assert clock.slept == []
