"""WhatsApp through Twilio: webhooks in (served by ``handlers.web``), the REST API out.

Inbound: Twilio posts each WhatsApp message to ``PUBLIC_BASE_URL/whatsapp``; ``incoming`` turns
the form into an ``Inbound`` (the chat is the sender's ``WaId``, digits only, so the chat key is
``whatsapp:6281234567890``; the message's ``MessageSid`` is its id in the journal, so a webhook
Twilio sends twice is handled once), and ``WhatsAppChannel.receive`` fetches the photo or PDF it
carries and stores it with the ``MediaStore`` before the message goes to the engine.

Outbound: ``WhatsAppChannel.send`` posts to Twilio's Messages resource with the library's async
client. WhatsApp has no reply keyboard here, so options go as numbered lines
(``Rendered.as_numbered_text``); text over WhatsApp's 1600 characters goes as several messages,
cut between lines.

Notices (messages the bot starts: decisions, activation, a claim's progress) may go as free text
only within 24 hours of the chat's last message. Past that, or when Twilio refuses the text
(error 63016, at once or later in a status report), a notice goes as the Content template the
operator configured for its kind and language; with none, it is held, and sent as text when the
chat writes again.
"""

import asyncio
import base64
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client

from bot.channels import WHATSAPP
from bot.messages import MAX_MEDIA_BYTES, Inbound, Kind, Media, Rendered
from bot.templates import NO_TEMPLATES, Templates
from handlers.conversations import RetryLater, Undeliverable
from handlers.links import MediaLinks
from handlers.media import MediaStore
from handlers.pacing import Pacer
from models.schema import WINDOW_CLOSED_ERROR
from models.store import Store

log = logging.getLogger("lindungi.whatsapp")

CHANNEL = WHATSAPP
DEFAULT_API_BASE_URL = "https://api.twilio.com"
MAX_BODY = 1600
"""WhatsApp's limit for one message body through Twilio (error 21617 beyond it), counted here
in UTF-16 code units, in which an emoji is two: never too lenient."""
SEND_TIMEOUT_S = 20.0
DOWNLOAD_TIMEOUT_S = 10.0
"""Media is fetched while Twilio waits for the webhook's answer (15 s)."""
DOWNLOAD_CONCURRENCY = 4
MAX_REDIRECTS = 3
"""Twilio answers a media URL with a redirect to its file storage: followed, a few hops at
most, without the account's credentials."""
RATE_LIMITED_DELAY_S = 1.0
"""How long to wait after a 429: Twilio's error carries no Retry-After to read."""
UNDELIVERABLE = {
    21610: "the user opted out (STOP) or blocked the sender",
    63016: "outside the 24-hour window: only an approved template may be sent",
    21211: "not a valid phone number",
    21614: "not a WhatsApp number",
}
"""Twilio error codes that mean: this message will never reach this chat (other 4xx too)."""
WINDOW = timedelta(hours=24) - timedelta(minutes=5)
"""WhatsApp's customer-service window, less a margin for a message still on its way."""



class Incoming(NamedTuple):
    """A webhook as an ``Inbound``, with the file it names still at Twilio."""

    inbound: Inbound
    media_url: str | None = None
    """The photo or document to download (``inbound.media`` describes it as announced, size
    0: Twilio does not say); None when there is nothing to fetch or its type is refused."""


class _WindowClosed(Exception):
    """Twilio refused free text: the chat's 24 hours are over (error 63016)."""


class ApiRequestRefused(Exception):
    """A request for somewhere else than the configured API base: never sent."""


class _PinnedHttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client with what this bot needs of it: every request goes to the
    configured API base (anything else is refused before a connection is made, so a bot pointed
    at a fake never reaches the real Twilio), a timeout (the library passes none, and aiohttp
    would then wait for ever), and the credentials as an Authorization header."""

    def __init__(self, base_url: str, timeout: float):
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")

    async def request(self, method: str, url: str, params=None, data=None, headers=None,
                      auth=None, timeout: float | None = None,  # noqa: ASYNC109 - the library's
                      allow_redirects: bool = False) -> TwilioResponse:
        if not url.startswith(self.base_url + "/"):
            raise ApiRequestRefused(f"{method} {url} is not under TWILIO_API_BASE_URL "
                                    f"{self.base_url}")
        if auth is not None:  # as a header: aiohttp deprecates its ``auth`` argument
            pair = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {pair}"}
        return await super().request(method, url, params=params, data=data, headers=headers,
                                     auth=None, timeout=timeout or self.timeout,
                                     allow_redirects=allow_redirects)


class WhatsAppChannel:
    def __init__(self, account_sid: str, auth_token: str, from_number: str,
                 public_base_url: str, *, api_base_url: str = DEFAULT_API_BASE_URL,
                 media: MediaStore | None = None, send_concurrency: int = 4,
                 links: MediaLinks | None = None,
                 store: Store | None = None, templates: Templates = NO_TEMPLATES,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 pacer: Pacer | None = None):
        """``from_number``: the bot's sender, ``whatsapp:+628…``. ``public_base_url``: where
        Twilio reaches ``handlers.web`` (delivery reports go to ``…/whatsapp/status``).
        ``api_base_url``: Twilio's REST API, or a fake. ``media``: where photos and PDFs are
        stored; without one, none is downloaded (each reaches the engine refused as
        "download"). ``links``: the addresses Twilio fetches a card's image or a stored file
        (a claim document for staff) from; without them (tests) only the text goes.
        ``store``: when each chat last wrote, and notices kept for the 24-hour rule; without
        it notices go as text whatever the time. ``templates``: the Content templates for
        notices outside the window. ``pacer``: the sender's budget, which every message sent
        waits on (None: none). Build it inside the running event loop (aiohttp's session
        binds to it)."""
        self.account_sid = account_sid
        self.pacer = pacer
        self.store = store
        self.templates = templates
        self.clock = clock
        self.from_number = from_number
        self.status_callback = public_base_url.rstrip("/") + "/whatsapp/status"
        self.media = media
        self.links = links
        self.api_base_url = api_base_url.rstrip("/")
        self._http = _PinnedHttpClient(self.api_base_url, SEND_TIMEOUT_S)
        # environment={...}: not os.environ, whose TWILIO_REGION / TWILIO_EDGE would make the
        # library rewrite every request's host (``ClientBase.get_hostname``) past the base.
        self.client = Client(account_sid, auth_token, http_client=self._http,
                             environment={"TWILIO_ACCOUNT_SID": account_sid})
        # The Messages resource is built on the Api domain; its base_url is read at every
        # request, so this points every message at the configured API.
        self.client.api.base_url = self.api_base_url
        self._media_origin = origin(self.api_base_url)
        self._credentials = {"Authorization": "Basic " + base64.b64encode(
            f"{account_sid}:{auth_token}".encode()).decode()}
        self._downloads = httpx.AsyncClient(follow_redirects=False,
                                            timeout=DOWNLOAD_TIMEOUT_S)
        self._sending = asyncio.Semaphore(send_concurrency)
        self._downloading = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)

    # --- out --------------------------------------------------------------------------------

    async def send(self, chat_id: str, message: Rendered) -> None:
        """The reply as numbered text, in as many messages as its length needs (each in order;
        a failure after the first part sends the whole reply again when retried). A notice
        outside the chat's 24 hours goes as its template, or is held (``_window_closed``)."""
        notice = message.notice is not None and self.store is not None
        if notice and not (await self.store.contact(chat_key(chat_id))).within(
                WINDOW, self.clock()):
            await self._window_closed(chat_id, message)
            return
        media = await self._copy_url(message) or self._media_url(message, chat_id)
        try:
            for n, body in enumerate(split_body(message.as_numbered_text())):
                sid = await self._create(chat_id, body=body,
                                         media_url=[media] if media and n == 0 else None)
                if notice and n == 0:
                    # Twilio may still refuse it later (63016 in a status report).
                    await self.store.message_sent(sid, chat_key(chat_id), message, self.clock())
        except _WindowClosed:
            if not notice:
                raise Undeliverable(f"Twilio error {WINDOW_CLOSED_ERROR}: "
                                    f"{UNDELIVERABLE[WINDOW_CLOSED_ERROR]}") from None
            await self._window_closed(chat_id, message)

    def _media_url(self, message: Rendered, chat_id: str) -> str | None:
        """Where Twilio fetches the card or the file the message carries (its text becomes
        the caption)."""
        if self.links is None:
            return None
        if message.card is not None:
            return self.links.card(message.card)
        if message.attachment is not None:
            return self.links.file(message.attachment, chat_key(chat_id))
        return None

    async def _copy_url(self, message: Rendered) -> str | None:
        """A copy of someone's data: WhatsApp takes PDFs (the JSON is inside it), by link,
        so it is written for Twilio to fetch within the link's hour."""
        if message.copy is None or self.links is None or self.media is None:
            return None
        from handlers.data_copy import Copies, pdf_of

        data = await asyncio.to_thread(pdf_of, message.copy)
        name = await asyncio.to_thread(Copies(self.media.folder).save, data)
        return self.links.copy(name)

    async def _window_closed(self, chat_id: str, message: Rendered) -> None:
        """A notice the chat's 24 hours no longer let through as text: its template, or held
        until the chat writes."""
        template = self.templates.pick(message.notice.kind, message.notice.locale)
        if template is not None:
            variables = template.content_variables(message.notice.values)
            try:
                await self._create(chat_id, content_sid=template.content_sid,
                                   content_variables=json.dumps(variables, ensure_ascii=False))
                log.info("notice %s sent as template %s", message.notice.kind,
                         template.content_sid)
                return
            except (Undeliverable, _WindowClosed) as exc:
                # A template not (or no longer) approved, a wrong SID: hold the notice
                # rather than lose it, and tell the operator.
                log.error("WhatsApp template %s for %s was refused (%s): the notice waits "
                          "until the chat writes", template.content_sid,
                          message.notice.kind, exc or "outside the window")
        else:
            log.info("notice %s held until the chat writes: no template for it in %s",
                     message.notice.kind, message.notice.locale)
        await self.store.hold_notice(chat_key(chat_id), message, self.clock())

    async def status_report(self, sid: str, key: str, status: str, code: int | None) -> None:
        """A delivery report (``handlers.web``): kept; a notice Twilio refused as outside the
        24 hours (63016) goes again as its template, or is held."""
        if self.store is None:
            return
        refused = await self.store.message_status(sid, key, status, code, self.clock())
        if refused is None:
            return
        try:
            await self._window_closed(key.split(":", 1)[1], refused)
        except Exception as exc:  # noqa: BLE001 - the copy is taken: keep it for later
            log.warning("could not resend notice %s as a template (%s): held",
                        refused.notice.kind, exc)
            await self.store.hold_notice(key, refused, self.clock())

    async def _create(self, chat_id: str, **content) -> str:
        """One message (``body``, ``media_url``, or ``content_sid`` and
        ``content_variables``); returns its SID."""
        content = {name: value for name, value in content.items() if value is not None}
        try:
            async with (self.pacer.sending(f"{CHANNEL}:{chat_id}", self._sending)
                        if self.pacer is not None else self._sending):
                sent = await self.client.messages.create_async(
                    from_=self.from_number, to=f"whatsapp:+{chat_id}",
                    status_callback=self.status_callback, **content)
        except (TwilioRestException, TwilioServiceException) as exc:
            if getattr(exc, "code", None) == WINDOW_CLOSED_ERROR:
                raise _WindowClosed() from exc
            refused = refusal(exc)
            if exc.status == 429 and self.pacer is not None:
                await self.pacer.pause(RATE_LIMITED_DELAY_S)
            raise refused from exc
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryLater(RATE_LIMITED_DELAY_S) from exc
        log.debug("message %s accepted by Twilio (%s)", sent.sid, sent.status)
        return sent.sid

    async def close(self) -> None:
        await self._http.close()
        await self._downloads.aclose()

    # --- in ---------------------------------------------------------------------------------

    async def receive(self, form: Mapping[str, str]) -> Inbound | None:
        """``incoming``, with the file downloaded and stored. A storage failure (disk full)
        raises: the webhook answers 500 and Twilio sends it again."""
        got = incoming(form)
        if got is None:
            return None
        if got.media_url is None or got.inbound.media is None:
            return got.inbound
        return replace(got.inbound, media=await self._download(got.media_url,
                                                               got.inbound.media))

    async def _download(self, url: str, announced: Media) -> Media:
        """The file, stored; refused as "download" when it cannot be fetched, "size" when it is
        bigger than the engine takes (found while reading, not after the whole of it)."""
        if self.media is None:
            return replace(announced, refused="download")
        if origin(url) != self._media_origin:
            # A webhook names the URL: only Twilio's API host gets a request (and the
            # account's credentials), never another host, the bot itself or a file.
            log.warning("refused to fetch a %s from %s: media come only from %s",
                        announced.mime_type, describe_origin(url), self.api_base_url)
            return replace(announced, refused="download")
        async with self._downloading:
            try:
                data = await self._fetch(url)
            except Exception as exc:  # noqa: BLE001 - any failure: the user sends it again
                log.warning("could not download a %s: %s: %s", announced.mime_type,
                            type(exc).__name__, exc)
                return replace(announced, refused="download")
        if isinstance(data, int):
            return replace(announced, size=data, refused="size")
        return await asyncio.to_thread(self.media.save, data, announced.mime_type,
                                       announced.file_name)

    async def _fetch(self, url: str) -> bytes | int:
        """The file's bytes, fetched with the account's credentials from Twilio's API host
        (its media URLs require them) and without them from wherever it redirects; over the
        limit, only how many bytes it has at least."""
        headers = self._credentials
        for _ in range(MAX_REDIRECTS + 1):
            async with self._downloads.stream("GET", url, headers=headers) as response:
                if response.is_redirect:
                    url = str(response.url.join(response.headers.get("location", "")))
                    if httpx.URL(url).scheme not in ("http", "https"):
                        raise ValueError(f"a redirect to {describe_origin(url)}")
                    headers = {}  # credentials go only to the host they belong to
                    continue
                response.raise_for_status()
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > MAX_MEDIA_BYTES:
                    return int(length)
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_MEDIA_BYTES:
                        return len(data)
                return bytes(data)
        raise ValueError(f"more than {MAX_REDIRECTS} redirects")


def origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of a URL (the default port filled in); None for one that is
    not http(s) or cannot be read."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    return parsed.scheme, parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


def describe_origin(url: str) -> str:
    """Where a URL points, for the log: its scheme and host, not its path (which may carry
    identifiers)."""
    found = origin(url)
    if found is None:
        return url.split(":", 1)[0][:10] + ": (not http)"
    return f"{found[0]}://{found[1]}:{found[2]}"


def chat_key(chat_id: str) -> str:
    return f"{CHANNEL}:{chat_id}"


def refusal(exc: TwilioRestException | TwilioServiceException) -> Exception:
    """What a Twilio error means for the pipeline: wait and retry (429, 5xx), give up on this
    chat (opted out, outside the 24-hour window, not a WhatsApp number, any other 4xx), or an
    error to retry with back-off and leave unsent for the next start (bad credentials: 401/403,
    so nothing is dropped while the operator fixes TWILIO_AUTH_TOKEN)."""
    status, code = exc.status, exc.code
    if status == 429 or status >= 500:
        return RetryLater(RATE_LIMITED_DELAY_S)
    if status in (401, 403):
        return RuntimeError(f"Twilio refused the credentials (HTTP {status}, error {code}): "
                            f"check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
    why = UNDELIVERABLE.get(code) or getattr(exc, "msg", None) or getattr(exc, "title", "")
    return Undeliverable(f"Twilio error {code} (HTTP {status}): {why}")


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_body(text: str, limit: int = MAX_BODY) -> list[str]:
    """``text`` in parts of at most ``limit`` (UTF-16 units), cut between lines; a line longer
    than a part is cut between words, and a word longer than that anywhere. Blank text: no
    part (Twilio refuses an empty body)."""
    if not text.strip():
        return []
    if units(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in _pieces(text.split("\n"), limit):
        joined = f"{current}\n{line}" if current else line
        if units(joined) <= limit:
            current = joined
            continue
        if current.strip():
            parts.append(current)
        current = line
    if current.strip():
        parts.append(current)
    return parts


def _pieces(lines: list[str], limit: int) -> list[str]:
    """The lines, each cut to fit ``limit``."""
    pieces: list[str] = []
    for line in lines:
        while units(line) > limit:
            cut = _cut(line, limit)
            pieces.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        pieces.append(line)
    return pieces


def _cut(line: str, limit: int) -> int:
    """Where to cut ``line`` so its head fits: the last space that fits, else as many
    characters as fit."""
    size, fits = 0, 0
    for index, char in enumerate(line):
        size += units(char)
        if size > limit:
            break
        fits = index + 1
    space = line.rfind(" ", 0, fits + 1)
    return space if space > 0 else max(fits, 1)


MEDIA_KINDS: tuple[tuple[str, Kind], ...] = (
    ("image/", "photo"), ("audio/", "voice"), ("video/", "video"))


def incoming(form: Mapping[str, str]) -> Incoming | None:
    """A Twilio WhatsApp webhook (``MessageSid``, ``WaId``, ``Body``, ``NumMedia``,
    ``MediaUrl0``, ``MediaContentType0``…) as an ``Inbound``; None for anything that is not a
    WhatsApp message from a user (an SMS to the same number, a form without a sender). Pure:
    no I/O.

    Only the first media item is used: WhatsApp sends one file per message (an album comes as
    several messages), so ``MediaUrl1`` and later are not expected; if they come, they are
    ignored. A photo or document's caption is its ``text``. A shared contact card (vCard) or a
    voice note is not downloaded: it reaches the engine as a message that is not text, which
    asks for text (the phone step takes the number typed)."""
    sid = form.get("MessageSid") or form.get("SmsMessageSid")
    sender = form.get("From", "")
    wa_id = form.get("WaId") or sender.removeprefix("whatsapp:").lstrip("+")
    if not sid or not sender.startswith("whatsapp:") or not (wa_id.isascii()
                                                            and wa_id.isdigit()):
        return None
    body = form.get("Body", "")
    count = int(form["NumMedia"]) if form.get("NumMedia", "").isdigit() else 0
    mime_type = (form.get("MediaContentType0") or "").split(";")[0].strip().lower()
    url = form.get("MediaUrl0") or None
    kind: Kind = "text"
    media: Media | None = None
    if count > 0 and url is not None:
        kind = next((k for prefix, k in MEDIA_KINDS if mime_type.startswith(prefix)),
                    "other" if "vcard" in mime_type else "document")
        if form.get("MessageType") == "sticker":
            kind = "sticker"
    elif form.get("Latitude") and form.get("Longitude"):
        kind, body = "location", ""
    if kind in ("photo", "document"):
        refused = MediaStore.check(mime_type, 0)
        media = Media(mime_type, 0, refused=refused)
        if refused is not None:
            url = None
    elif kind != "text":
        body, url = "", None
    inbound = Inbound(channel=CHANNEL, chat_id=wa_id, external_id=sid, kind=kind, text=body,
                      media=media, sender_phone=f"+{wa_id}")
    return Incoming(inbound, url if media is not None else None)
