"""A fake Twilio REST API on 127.0.0.1, so the WhatsApp channel's real HTTP path (the twilio
library's async client over aiohttp, media downloads over httpx) runs without the network, and
helpers that play Twilio's side of the webhooks (forms signed as Twilio signs them).

    async with FakeTwilio() as twilio:
        channel = WhatsAppChannel(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER, PUBLIC_URL,
                                  api_base_url=twilio.base_url)
        await signed_post(http, PUBLIC_URL + "/whatsapp", inbound_form("6281234567890", "halo"),
                          AUTH_TOKEN)
        sent = await twilio.next_message("whatsapp:+6281234567890")

It serves ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (HTTP basic auth with the account
SID and auth token; the message, free text or a Content template, is recorded and answered as
Twilio does, 201 with its ``sid`` and status "queued"; failures can be set per recipient: a Twilio
error code with HTTP 400, or 429; a recipient's 24-hour window can be closed, refusing free text
with 63016 at once or in a later status report) and ``GET /media/{name}`` (the files users
"send", behind the same basic auth), inside the running event loop. Given where the bot listens
(``reports_to``), it posts signed status reports (sent, delivered, or failed with the error) to
each message's ``StatusCallback``, as Twilio does.

By hand, next to ``python main.py run`` (the same SID and token, ``TWILIO_API_BASE_URL`` set to
the fake):

    python -m tests.fakes.twilio_api serve --port 8082     # prints every message the bot sends
    python -m tests.fakes.twilio_api say 6281234567890 /start --bot http://127.0.0.1:8080 \
        --public https://lindungi.example.org               # a signed webhook, as Twilio posts
"""

import asyncio
import base64
import contextlib
import itertools
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fa4e0c1d2b3a49e8b7c6d5e4f3a2b1c0"
BOT_NUMBER = "whatsapp:+14155238886"
"""The sender: Twilio's WhatsApp sandbox number."""
MAX_BODY = 1600
ERRORS = {
    20003: (401, "Authenticate"),
    20429: (429, "Too Many Requests"),
    21211: (400, "The 'To' number is not a valid phone number."),
    21602: (400, "Message body is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
    21614: (400, "'To' number is not a valid mobile number"),
    21617: (400, "The concatenated message body exceeds the 1600 character limit."),
    21656: (400, "The ContentVariables Parameter is invalid."),
    21619: (400, "A text message body, media URL or Content SID is required."),
    63016: (400, "Failed to send freeform message because you are outside the allowed window. "
                 "If you are using WhatsApp, please use a Message Template."),
}


@dataclass
class SentMessage:
    """One message the bot created through the API."""

    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    media_urls: list[str] = field(default_factory=list)
    """Where Twilio would fetch the message's media (a card's image)."""
    content_sid: str | None = None
    """A Content template's SID, when the message is one (then ``body`` is empty)."""
    content_variables: dict[str, str] = field(default_factory=dict)


@dataclass
class _Failure:
    code: int
    remaining: int | None


def new_sid(prefix: str = "SM") -> str:
    return prefix + secrets.token_hex(16)


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: Ctrl-C belongs to the test runner."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class FakeTwilio:
    """Twilio's Messages resource and media for one account."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 port: int = 0, reports_to: tuple[str, str] | None = None):
        """``port``: 0 for any free one (``base_url`` says which, once started).
        ``reports_to``: (the bot's public base URL, where it really listens): status reports
        are posted to the local address, signed over the public one."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.reports_to = reports_to
        self.reports: list[dict[str, str]] = []
        """The status reports posted (or being posted) to the bot."""
        self._closed: dict[str, bool] = {}
        self._reporting: set[asyncio.Task] = set()
        self._listen_port = port
        self.port: int | None = None
        self.calls: Counter[str] = Counter()
        """Requests by kind: "messages", "media", "unauthorized", "unknown"."""
        self.sent: list[SentMessage] = []
        self._inbox: defaultdict[str, asyncio.Queue[SentMessage]] = defaultdict(asyncio.Queue)
        self._failures: dict[str, _Failure] = {}
        self._media: dict[str, tuple[bytes, str]] = {}
        self._media_names = itertools.count(1)
        self._redirects: dict[str, str] = {}
        self.media_requests: list[tuple[str, str | None]] = []
        """Every request for a file (``/media/…`` or ``/cdn/…``), with the Authorization
        header it carried."""
        self.app = Starlette(routes=[
            Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
            Route("/media/{name}", self._download, methods=["GET"]),
            Route("/cdn/{name}", self._cdn, methods=["GET"]),
            Route("/{path:path}", self._unknown, methods=["GET", "POST", "DELETE"])])
        self._server: _Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> "FakeTwilio":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self._listen_port,
                                log_level="warning",
                                access_log=False, lifespan="off", ws="none",
                                timeout_keep_alive=60, timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="fake-twilio")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the fake Twilio server did not start")
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        await asyncio.gather(*self._reporting, return_exceptions=True)
        if self._server and self._task:
            self._server.should_exit = True
            await self._task

    # --- the test's side --------------------------------------------------------------------

    def add_media(self, data: bytes, content_type: str,
                  stored_on: "FakeTwilio | None" = None) -> str:
        """Keep a file a user sent; returns its ``MediaUrl`` (on this fake). ``stored_on``:
        another fake standing for Twilio's file storage, which the URL redirects to (as
        Twilio's media URLs do), serving it at ``/cdn/…`` to anyone."""
        name = f"ME{next(self._media_names):032d}"
        if stored_on is None:
            self._media[name] = (data, content_type)
        else:
            stored_on._media[name] = (data, content_type)
            self._redirects[name] = f"{stored_on.base_url}/cdn/{name}"
        return f"{self.base_url}/media/{name}"

    async def next_message(self, to: str, timeout: float = 10.0  # noqa: ASYNC109
                           ) -> SentMessage:
        """The next message sent to ``to`` (``whatsapp:+62…``); TimeoutError if none comes."""
        try:
            return await asyncio.wait_for(self._inbox[to].get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no message to {to} within {timeout}s") from None

    def messages(self, to: str) -> list[SentMessage]:
        """Every message sent to ``to`` so far, taken by ``next_message`` or not."""
        return [sent for sent in self.sent if sent.to == to]

    def fail_sends(self, to: str, code: int, *, times: int | None = 1) -> None:
        """Refuse the next ``times`` messages to ``to`` (None: all) with Twilio error ``code``
        (e.g. 63016, 21610) and its HTTP status, or with 429 Too Many Requests (``code`` 429
        or 20429)."""
        self._failures[to] = _Failure(20429 if code == 429 else code, times)

    def close_window(self, to: str, *, report_later: bool = False) -> None:
        """The 24 hours since ``to`` last wrote are over: free text is refused with 63016, at
        once, or (``report_later``) accepted and then reported failed, as WhatsApp often does.
        Templates still go."""
        self._closed[to] = report_later

    def open_window(self, to: str) -> None:
        self._closed.pop(to, None)

    # --- the API ----------------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        pair = f"{self.account_sid}:{self.auth_token}".encode()
        return request.headers.get("authorization") == f"Basic {base64.b64encode(pair).decode()}"

    async def _create(self, request: Request) -> JSONResponse:
        if not self._authorized(request) or request.path_params["sid"] != self.account_sid:
            self.calls["unauthorized"] += 1
            return _error(20003)
        self.calls["messages"] += 1
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        form = dict(pairs)
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        content_sid = form.get("ContentSid")
        if not to.startswith("whatsapp:+") or not to[10:].isdigit():
            return _error(21211)
        variables: dict[str, str] = {}
        if content_sid is not None:
            try:
                variables = json.loads(form.get("ContentVariables") or "{}")
            except ValueError:
                return _error(21656)
            if not content_sid.startswith("HX") or not all(
                    isinstance(v, str) and v and "\n" not in v for v in variables.values()):
                return _error(21656)
        elif not body.strip():
            return _error(21602)
        if len(body) > MAX_BODY:
            return _error(21617)
        if (failure := self._failures.get(to)) is not None:
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[to]
            return _error(failure.code)
        window_closed = content_sid is None and to in self._closed
        if window_closed and not self._closed[to]:
            return _error(63016)
        sent = SentMessage(new_sid(), to, from_, body, form.get("StatusCallback"),
                           [value for name, value in pairs if name == "MediaUrl"],
                           content_sid, variables)
        if self.reports_to is not None and sent.status_callback:
            task = asyncio.create_task(self._report(sent, 63016 if window_closed else None))
            self._reporting.add(task)
            task.add_done_callback(self._reporting.discard)
        if not window_closed:
            self.sent.append(sent)
            self._inbox[to].put_nowait(sent)
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sent.sid}.json"
        return JSONResponse(status_code=201, content={
            "account_sid": self.account_sid, "api_version": "2010-04-01", "body": body,
            "date_created": now, "date_sent": None, "date_updated": now,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": from_, "messaging_service_sid": None, "num_media": "0",
            "num_segments": "1", "price": None, "price_unit": None, "sid": sent.sid,
            "status": "queued", "to": to, "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")}})

    async def _report(self, sent: SentMessage, error: int | None) -> None:
        """Post the message's status reports, signed, as Twilio would a moment later."""
        public, local = self.reports_to
        url = sent.status_callback
        states = [("failed", error)] if error else [("sent", None), ("delivered", None)]
        async with httpx.AsyncClient() as client:
            for state, code in states:
                await asyncio.sleep(0.05)
                form = status_form(sent.sid, state, sent.to, error_code=code,
                                   account_sid=self.account_sid)
                self.reports.append(form)
                try:
                    await signed_post(client, local + url.removeprefix(public), form,
                                      self.auth_token, signed_url=url)
                except httpx.TransportError:  # the bot has stopped: Twilio would give up too
                    return

    async def _download(self, request: Request) -> Response:
        self.media_requests.append((request.url.path, request.headers.get("authorization")))
        if not self._authorized(request):
            self.calls["unauthorized"] += 1
            return _error(20003)
        self.calls["media"] += 1
        if (elsewhere := self._redirects.get(request.path_params["name"])) is not None:
            return Response(status_code=307, headers={"location": elsewhere})
        stored = self._media.get(request.path_params["name"])
        if stored is None:
            return JSONResponse({"code": 20404, "message": "not found", "status": 404},
                                status_code=404)
        data, content_type = stored
        return Response(data, media_type=content_type)

    async def _cdn(self, request: Request) -> Response:
        self.media_requests.append((request.url.path, request.headers.get("authorization")))
        self.calls["cdn"] += 1
        stored = self._media.get(request.path_params["name"])
        if stored is None:
            return Response(status_code=404)
        data, content_type = stored
        return Response(data, media_type=content_type)

    async def _unknown(self, request: Request) -> JSONResponse:
        self.calls["unknown"] += 1
        return JSONResponse({"code": 20404, "message": "not found", "status": 404},
                            status_code=404)


def _error(code: int) -> JSONResponse:
    status, message = ERRORS[code]
    return JSONResponse({"code": code, "message": message,
                         "more_info": f"https://www.twilio.com/docs/errors/{code}",
                         "status": status}, status_code=status)


# --- Twilio's side of the webhooks ----------------------------------------------------------

def inbound_form(wa_id: str, body: str = "", *, sid: str | None = None,
                 media: tuple[tuple[str, str], ...] = (), to: str = BOT_NUMBER,
                 account_sid: str = ACCOUNT_SID, profile_name: str = "Budi") -> dict[str, str]:
    """The form Twilio posts for a WhatsApp message from ``wa_id`` (digits, e.g.
    "6281234567890"); ``media``: (MediaUrl, MediaContentType) pairs."""
    sid = sid or new_sid()
    form = {"SmsMessageSid": sid, "NumMedia": str(len(media)), "ProfileName": profile_name,
            "MessageType": "image" if media else "text", "SmsSid": sid, "WaId": wa_id,
            "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
            "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": account_sid,
            "From": f"whatsapp:+{wa_id}", "ApiVersion": "2010-04-01"}
    for n, (url, content_type) in enumerate(media):
        form[f"MediaUrl{n}"] = url
        form[f"MediaContentType{n}"] = content_type
    return form


def status_form(sid: str, status: str, to: str, *, error_code: int | None = None,
                account_sid: str = ACCOUNT_SID) -> dict[str, str]:
    """The form Twilio posts to a message's status callback."""
    form = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
            "To": to, "From": BOT_NUMBER, "AccountSid": account_sid,
            "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp"}
    if error_code is not None:
        form["ErrorCode"] = str(error_code)
    return form


def signature(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    return RequestValidator(auth_token).compute_signature(url, params)


async def signed_post(client: httpx.AsyncClient, url: str, params: dict[str, str],
                      auth_token: str = AUTH_TOKEN, *, signed_url: str | None = None
                      ) -> httpx.Response:
    """Post ``params`` to ``url`` as Twilio does, signed with ``auth_token`` over
    ``signed_url`` (the public address Twilio was given; default ``url`` itself)."""
    headers = {"X-Twilio-Signature": signature(signed_url or url, params, auth_token)}
    return await client.post(url, data=params, headers=headers)



async def _serve(port: int) -> None:
    async with FakeTwilio(port=port) as twilio:
        print(f"fake Twilio at {twilio.base_url} (account {twilio.account_sid}, token "
              f"{twilio.auth_token}); Ctrl-C stops it", flush=True)
        seen = 0
        while True:
            await asyncio.sleep(0.2)
            for sent in twilio.sent[seen:]:
                print(f"--- to {sent.to}:\n{sent.body}", flush=True)
            seen = len(twilio.sent)


async def _say(wa_id: str, text: str, bot: str, public: str) -> None:
    async with httpx.AsyncClient() as client:
        response = await signed_post(client, f"{bot}/whatsapp", inbound_form(wa_id, text),
                                     signed_url=f"{public}/whatsapp")
    print(response.status_code, response.text)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.twilio_api")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the fake REST API, printing each message")
    serve.add_argument("--port", type=int, default=8082)
    say = commands.add_parser("say", help="post a signed WhatsApp message to the bot")
    say.add_argument("wa_id", help="the user's number, digits only, e.g. 6281234567890")
    say.add_argument("text")
    say.add_argument("--bot", default="http://127.0.0.1:8080", help="where the bot listens")
    say.add_argument("--public", default="https://lindungi.example.org",
                     help="the bot's PUBLIC_BASE_URL (what the signature covers)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        if args.command == "serve":
            asyncio.run(_serve(args.port))
        else:
            asyncio.run(_say(args.wa_id, args.text, args.bot, args.public.rstrip("/")))


if __name__ == "__main__":
    main()
