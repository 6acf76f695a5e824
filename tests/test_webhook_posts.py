"""The fake Bot API's webhook posts, which the scale test and ``bench.scale`` rely on: the
answer read however it is framed, connections kept alive, a broken answer a failed post, and
as many posts at once as ``setWebhook``'s ``max_connections`` asked (1–100, 40 when not
given), never more."""

import asyncio
import json

import httpx
import pytest

from tests.fakes.telegram_api import TOKEN, FakeTelegram
from tests.fakes.webhook_client import WebhookClient

PUBLIC = "https://bot.example.org"
BODY = b'{"method":"sendMessage","chat_id":1,"text":"hai"}'
ANSWERS = {
    "sized": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
             % len(BODY) + BODY,
    "chunked": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + b"".join(
                   b"%x\r\n%s\r\n" % (len(part), part) for part in (BODY[:10], BODY[10:]))
               + b"0\r\n\r\n",
    "closed": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
              b"\r\n" + BODY,
    "empty": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
}


class Webhook:
    """A bot's webhook on 127.0.0.1: answers every post as ``mode`` says after ``delay_s``,
    counting connections, posts and the most posts in hand at once."""

    def __init__(self, mode: str = "empty", delay_s: float = 0.0):
        self.mode, self.delay_s = mode, delay_s
        self.connections = self.posts = self.in_hand = self.most_in_hand = 0
        self.bodies: list[bytes] = []

    async def __aenter__(self) -> "Webhook":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                size = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                            if line.lower().startswith(b"content-length:"))
                self.bodies.append(await reader.readexactly(size))
                self.posts += 1
                self.in_hand += 1
                self.most_in_hand = max(self.most_in_hand, self.in_hand)
                await asyncio.sleep(self.delay_s)
                self.in_hand -= 1
                if self.mode == "broken":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{")
                    break
                writer.write(ANSWERS[self.mode])
                await writer.drain()
                if self.mode == "closed":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.mark.parametrize("mode, content, connections", [
    ("sized", BODY, 1),
    ("chunked", BODY, 1),
    ("closed", BODY, 3),  # the bot closed it: a new one for each post
    ("empty", b"", 1),
])
async def test_an_answer_is_read_however_it_is_framed(mode, content, connections):
    async with Webhook(mode) as hook:
        client = WebhookClient()
        answers = [await client.post(f"{hook.url}/telegram", b"{}", {"X-A": "1"})
                   for _ in range(3)]
        await client.close()
    assert [(a.status_code, a.content) for a in answers] == [(200, content)] * 3
    assert hook.connections == connections and hook.posts == 3


async def test_an_answer_cut_short_or_no_server_is_a_failed_post():
    client = WebhookClient()
    async with Webhook("broken") as hook:
        with pytest.raises(ConnectionError):
            await client.post(f"{hook.url}/telegram", b"{}", {})
    with pytest.raises(ConnectionError):
        await client.post(hook.url, b"{}", {})  # nothing listens there any more
    await client.close()


async def set_webhook(tg: FakeTelegram, **params) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{tg.base_url}{TOKEN}/setWebhook",
                               json={"url": f"{PUBLIC}/telegram", **params})


@pytest.mark.parametrize("asked, expected", [(None, 40), (3, 3), (1, 1)])
async def test_updates_are_posted_as_many_at_once_as_asked(asked, expected):
    async with Webhook("empty", delay_s=0.05) as hook, FakeTelegram(
            reach=(PUBLIC, hook.url)) as tg:
        params = {} if asked is None else {"max_connections": asked}
        assert (await set_webhook(tg, **params)).status_code == 200
        for chat in range(60):
            tg.user_text(9000 + chat, "hai")
        for _ in range(1000):
            if len(tg.webhook_answered) == 60:
                break
            await asyncio.sleep(0.01)
    assert hook.most_in_hand == expected
    assert sorted(json.loads(b)["message"]["chat"]["id"] for b in hook.bodies) == list(
        range(9000, 9060))


@pytest.mark.parametrize("asked", [0, 101, "many"])
async def test_a_number_of_connections_out_of_range_is_refused(asked):
    async with FakeTelegram(reach=(PUBLIC, "http://127.0.0.1:9")) as tg:
        answer = await set_webhook(tg, max_connections=asked)
    assert answer.status_code == 400 and "max_connections" in answer.json()["description"]
    assert tg.webhook is None
