"""The fake Bot API's side of a webhook: HTTP/1.1 posts over kept-alive connections, as
Telegram's servers make them, written on asyncio's streams.

httpx costs the posting process about a millisecond of CPU per request; with thousands of
updates a second the fake then took most of a core, on the same machine as the bots that the
benchmark measures. These posts cost a small fraction of that. Only what a webhook needs:
a POST with a body; an answer sized by ``Content-Length``, chunked or running to the
connection's end; ``Connection: close`` honoured.
"""

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

TIMEOUT_S = 10.0
"""How long a post may take, connecting included (Telegram gives up on a webhook too)."""

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Answer:
    """A webhook's answer: ``headers`` with lower-case names."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


class WebhookClient:
    """Posts to any ``http://host:port/path``, reusing an idle connection to that address;
    one post at a time per connection."""

    def __init__(self):
        self._idle: defaultdict[tuple[str, int], list[Connection]] = defaultdict(list)

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST ``body`` (JSON) with ``headers``; raises ``ConnectionError`` when no whole
        answer came (refused, reset, timed out, not HTTP)."""
        parts = urlsplit(url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                   f"{head}\r\n").encode("latin-1") + body
        connection = None
        try:
            async with asyncio.timeout(TIMEOUT_S):
                idle = self._idle[address]
                connection = idle.pop() if idle else await asyncio.open_connection(*address)
                connection[1].write(request)
                answer, keep = await _read_answer(connection[0])
        except (OSError, EOFError, TimeoutError, ValueError,
                asyncio.LimitOverrunError) as exc:
            if connection is not None:
                connection[1].close()
            raise ConnectionError(f"no answer from {address[0]}:{address[1]}") from exc
        if keep:
            self._idle[address].append(connection)
        else:
            connection[1].close()
        return answer

    async def close(self) -> None:
        for connections in self._idle.values():
            for _, writer in connections:
                writer.close()
        self._idle.clear()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """The answer, and whether its connection may carry the next post."""
    status_line = await reader.readuntil(b"\r\n")
    version, code = status_line.split(b" ", 2)[:2]
    if not version.startswith(b"HTTP/1."):
        raise ValueError("not an HTTP/1 answer")
    headers: dict[str, str] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        content = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            content += await reader.readexactly(size)
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
        keep = True
    elif "content-length" in headers:
        content = await reader.readexactly(int(headers["content-length"]))
        keep = True
    elif int(code) in (204, 304):
        content, keep = b"", True
    else:  # the body runs to the connection's end
        content, keep = await reader.read(), False
    keep = keep and headers.get("connection", "").lower() != "close" and version == b"HTTP/1.1"
    return Answer(int(code), headers, bytes(content)), keep
