"""The bot's HTTP side: Twilio's WhatsApp webhooks, Telegram's webhook and a health check, one
Starlette app that ``main.py run`` serves with uvicorn on the bot's own event loop.

    POST /whatsapp         a WhatsApp message (Twilio's form), answered once it is stored
    POST /whatsapp/status  Twilio's report on a message the bot sent (queued, sent, delivered,
                           read, failed…)
    POST /telegram         a Telegram update (webhook mode), answered once it is stored,
                           with its first reply when that is ready at once
    GET  /cards/<token>    a card's image, at a signed address that expires
    GET  /files/<token>    a claim document (for staff on WhatsApp), the same way
    GET  /copies/<token>   a copy of a worker's data (a PDF) written for their WhatsApp chat
    GET  /healthz          {"database": "ok", "storage": "ok"} when the database stores and
                           the document storage takes files, else 503 naming what does not
         /console/…        the staff console (``handlers.staff_console``)

Every Twilio request must carry a valid ``X-Twilio-Signature``, computed over the address Twilio
called: ``PUBLIC_BASE_URL`` + the path (behind a TLS proxy the address this server sees is not
the one Twilio signed). Every Telegram update must carry the webhook's secret token in
``X-Telegram-Bot-Api-Secret-Token``. Without them: 403, and nothing is stored.
"""

import asyncio
import contextlib
import hmac
import inspect
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from bot.cards import read_link
from bot.enrolment import ACTIVE, effective_status
from bot.messages import MEDIA_TYPES
from bot.programmes import Programmes
from bot.quiet_hours import WIB
from bot.status import card_of
from handlers.conversations import Conversations, database_error
from handlers.data_copy import Copies
from handlers.links import CARD_PATH, COPY_PATH, FILE_PATH
from handlers.media import MediaStore
from handlers.telegram import TelegramChannel
from models.store import Store

if TYPE_CHECKING:  # Twilio's client and aiohttp: ~28 MB, loaded only when WhatsApp is on
    from handlers.staff_console import ConsoleDeps
    from handlers.whatsapp import WhatsAppChannel

log = logging.getLogger("lindungi.web")

WHATSAPP_PATH = "/whatsapp"
STATUS_PATH = "/whatsapp/status"
TELEGRAM_PATH = "/telegram"
SIGNATURE_HEADER = "X-Twilio-Signature"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_FORM_BYTES = 64 * 1024
"""Twilio's forms are a few hundred bytes; anything far bigger is refused before it is read."""
MAX_UPDATE_BYTES = 1024 * 1024
"""A Telegram update: a 4096-character message with its entities and a reply is far less."""
HEALTH_TIMEOUT_S = 5.0
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
"""The answer to a message webhook: nothing for Twilio to send (replies go by the REST API)."""

OnStatus = Callable[[str, str, str, int | None], Awaitable[None] | None]
"""``on_status(message_sid, chat_key, status, error_code)``: a delivery report, once its
signature is checked (a plain or an async function); ``chat_key`` is the recipient's
(``whatsapp:628…``). Raising makes the callback answer 500, so Twilio may send it again."""


@dataclass(frozen=True)
class SignedMedia:
    """What serving media at signed addresses (``handlers.links``) needs: the signing key,
    the programmes a card names, and where received files are stored."""

    key: bytes
    """The links' key (``handlers.links``)."""
    card_key: bytes
    """The cards' signing key, for the QR code on a card's image."""
    programmes: Programmes | None
    files: MediaStore | None = None


@dataclass(frozen=True)
class TelegramHook:
    """What the Telegram webhook needs: the channel that takes updates, and the secret token
    Telegram was given (``setWebhook``) to send with each; ``answers``: whether a post may be
    answered with its update's first reply (``TELEGRAM_WEBHOOK_ANSWERS``)."""

    channel: TelegramChannel
    secret: str
    answers: bool = True


def web_app(conversations: Conversations, whatsapp: "WhatsAppChannel | None", store: Store,
            public_base_url: str | None, auth_token: str | None, *,
            on_status: OnStatus | None = None, media: SignedMedia | None = None,
            telegram: TelegramHook | None = None,
            console: "ConsoleDeps | None" = None) -> Starlette:
    """The app. Without ``whatsapp`` no Twilio webhook is served; with it, ``public_base_url``
    (``PUBLIC_BASE_URL``) and ``auth_token`` (``TWILIO_AUTH_TOKEN``, what Twilio signs with)
    are needed. With ``media``, card images (and received files, given where they are) are
    served at signed, expiring addresses; with
    ``telegram``, Telegram's webhook; with ``console``, the staff console under
    ``/console``."""
    routes = [Route("/healthz", _health(store, media.files if media else None),
                    methods=["GET"])]
    if telegram is not None:
        routes.append(Route(TELEGRAM_PATH, _telegram(telegram), methods=["POST"]))
    if media is not None:
        routes.append(Route(CARD_PATH, _card(store, media), methods=["GET"]))
        if media.files is not None:
            routes.append(Route(FILE_PATH, _file(store, media), methods=["GET"]))
            routes.append(Route(COPY_PATH, _copy(media), methods=["GET"]))
    if whatsapp is not None:
        if not public_base_url or not auth_token:
            raise ValueError("WhatsApp webhooks need the public base URL and the auth token")
        check = Signatures(public_base_url, auth_token)
        routes += [
            Route(WHATSAPP_PATH, _message(conversations, whatsapp, check), methods=["POST"]),
            Route(STATUS_PATH, _status(check, on_status), methods=["POST"])]
    install = None
    if console is not None:
        from handlers.staff_console import console_routes

        mount, install = console_routes(console)
        routes.append(mount)
    app = Starlette(routes=routes)
    if install is not None:
        install(app)
    return app


class Signatures:
    """Checks ``X-Twilio-Signature`` against the public address of each webhook."""

    def __init__(self, public_base_url: str, auth_token: str):
        self.public_base_url = public_base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)

    def url(self, path: str, request: Request) -> str:
        query = request.url.query
        return f"{self.public_base_url}{path}" + (f"?{query}" if query else "")

    def valid(self, path: str, request: Request, form: MultiDict) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        return self.validator.validate(self.url(path, request), form, signature)


async def read_form(request: Request) -> MultiDict | None:
    """The url-encoded body as a multi-dict (what ``RequestValidator`` reads, repeated names
    included); None when it is too big to be Twilio's. Parsed here: Starlette's
    ``request.form()`` needs python-multipart, which the project does not install."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("application/x-www-form-urlencoded"):
        return MultiDict()
    return MultiDict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


async def _verified(request: Request, path: str, check: Signatures
                    ) -> tuple[MultiDict | None, Response | None]:
    form = await read_form(request)
    if form is None:
        return None, Response(status_code=413)
    if not check.valid(path, request, form):
        client = request.client.host if request.client else "?"
        log.warning("refused a %s post from %s: missing or wrong %s", path, client,
                    SIGNATURE_HEADER)
        return None, Response("invalid signature", status_code=403, media_type="text/plain")
    return form, None


def _message(conversations: Conversations, whatsapp: "WhatsAppChannel", check: Signatures):
    async def message(request: Request) -> Response:
        form, refused = await _verified(request, WHATSAPP_PATH, check)
        if refused is not None:
            return refused
        try:
            inbound = await whatsapp.receive(form)
            if inbound is None:
                log.info("ignored a webhook that is no WhatsApp message from a user")
            else:
                # Returns once journaled and committed (a repeated MessageSid is dropped
                # there); the replies are sent afterwards, by the REST API.
                await conversations.submit([inbound])
        except Exception as exc:  # noqa: BLE001 - 500: Twilio sends the message again
            log.error("could not store WhatsApp message %s: %s", form.get("MessageSid"),
                      database_error(exc))
            return Response("not stored", status_code=500, media_type="text/plain")
        return Response(EMPTY_TWIML, media_type="text/xml")

    return message


def _telegram(hook: TelegramHook):
    expected = hook.secret.encode()

    async def update(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            client = request.client.host if request.client else "?"
            log.warning("refused a %s post from %s: missing or wrong %s", TELEGRAM_PATH,
                        client, SECRET_HEADER)
            return Response("invalid secret token", status_code=403, media_type="text/plain")
        posted_at = asyncio.get_running_loop().time()
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPDATE_BYTES:
                return Response(status_code=413)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        try:
            # Returns once journaled and committed (a repeated update_id is dropped there).
            received = await hook.channel.receive(data, posted_at if hook.answers else None)
        except Exception as exc:  # noqa: BLE001 - 500: Telegram posts the update again
            log.error("could not store Telegram update %s: %s",
                      data.get("update_id") if isinstance(data, dict) else "?",
                      database_error(exc))
            return Response("not stored", status_code=500, media_type="text/plain")
        if received is None:
            return Response("not a Telegram update", status_code=400, media_type="text/plain")
        if received.answer is None:
            return Response(status_code=200)
        if await request.is_disconnected():
            received.written(False)
            return Response(status_code=200)

        async def written() -> None:  # async: Starlette runs a plain function in a thread
            received.written(True)

        # The update's first reply, performed by Telegram: counted as sent once written.
        return JSONResponse(received.answer, background=BackgroundTask(written))

    return update


def _status(check: Signatures, on_status: OnStatus | None):
    async def status(request: Request) -> Response:
        form, refused = await _verified(request, STATUS_PATH, check)
        if refused is not None:
            return refused
        sid, state = form.get("MessageSid", ""), form.get("MessageStatus", "")
        error = form.get("ErrorCode") or None
        code = int(error) if error is not None and error.isdigit() else None
        log.info("message %s: %s%s", sid, state, f" (error {error})" if error else "")
        chat_key = "whatsapp:" + form.get("To", "").removeprefix("whatsapp:").lstrip("+")
        if on_status is not None and sid and state:
            try:
                result = on_status(sid, chat_key, state, code)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - 500: Twilio may report it again
                log.error("could not keep the status of %s: %s", sid, database_error(exc))
                return Response(status_code=500)
        return Response(status_code=204)

    return status


def _file(store: Store, media: SignedMedia):
    async def file(request: Request) -> Response:
        """A claim document, for staff reading it on WhatsApp: only a file a claim still
        refers to."""
        named = read_link(media.key, "file", request.path_params["token"], time.time())
        if named is None:
            return Response(status_code=404)
        path, _, staff_chat = named.partition("@")
        channel, _, chat_id = staff_chat.partition(":")
        async with store.transaction() as tx:
            still_staff = await tx.staff_role(channel, chat_id) is not None
        if not still_staff or not await store.is_document(path):
            return Response(status_code=404)
        try:
            data = await asyncio.to_thread((media.files.folder / path).read_bytes)
        except OSError as exc:
            log.warning("stored file %s cannot be read: %s", path, exc.strerror)
            return Response(status_code=404)
        mime_type = next(m for m, ext in MEDIA_TYPES.items() if path.endswith(f".{ext}"))
        return Response(data, media_type=mime_type,
                        headers={"Cache-Control": "private, no-store"})

    return file


def _copy(media: SignedMedia):
    copies = Copies(media.files.folder)

    async def copy(request: Request) -> Response:
        """A worker's copy of their data, for Twilio to fetch within the link's hour; the
        file itself is deleted once the link has expired."""
        name = read_link(media.key, "copy", request.path_params["token"], time.time())
        data = await asyncio.to_thread(copies.read, name) if name else None
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/pdf", headers={
            "Cache-Control": "private, no-store",
            "Content-Disposition": 'inline; filename="data-saya.pdf"'})

    return copy


def _card(store: Store, cards: SignedMedia):
    async def card(request: Request) -> Response:
        reference = read_link(cards.key, "card", request.path_params["token"], time.time())
        if reference is None:
            return Response(status_code=404)
        async with store.transaction() as tx:
            worker = await tx.worker_by_reference(reference)
        today = datetime.now(WIB).date()
        if worker is None or effective_status(worker, today) != ACTIVE:
            return Response(status_code=404)
        data = card_of(worker, cards.programmes, cards.card_key)
        if data is None:
            return Response(status_code=404)
        from handlers.card_image import render_card  # Pillow and qrcode, only when used

        png = await asyncio.to_thread(render_card, data)
        return Response(png, media_type="image/png",
                        headers={"Cache-Control": "private, no-store"})

    return card


def _health(store: Store, files: MediaStore | None):
    async def health(request: Request) -> JSONResponse:
        """200 when the database answers and stores (a row is written), and the document
        storage takes a file; 503 naming what does not (a full disk stops both)."""
        status: dict[str, str] = {}
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                async with store.engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                status["database"] = "unavailable"
                try:
                    await store.probe_write()
                    status["database"] = "ok"
                except Exception as exc:  # noqa: BLE001 - answers, but stores nothing
                    status["database"] = "not writable"
                    log.warning("health check: the database cannot be written: %s",
                                database_error(exc))
        except Exception as exc:  # noqa: BLE001 - any failure: unhealthy
            log.warning("health check: the database does not answer: %s", database_error(exc))
            status["database"] = "unavailable"
        if files is not None:
            writable = await asyncio.to_thread(files.writable)
            status["storage"] = "ok" if writable else "not writable"
            if not writable:
                log.warning("health check: the document storage %s cannot be written",
                            files.folder)
        healthy = all(value == "ok" for value in status.values())
        return JSONResponse(status, status_code=200 if healthy else 503)

    return health


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the bot stops it (``should_exit``) when it
    stops everything else, and uvicorn's would re-raise the signal once it has stopped."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class WebServer:
    """uvicorn serving ``app`` as a task on the running event loop."""

    def __init__(self, app: Starlette, host: str, port: int):
        self.host, self.port = host, port
        self.server = _Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                             lifespan="off", access_log=False,
                                             timeout_graceful_shutdown=10))
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        """Listen, or raise ``OSError`` (the port is taken): bound here, since uvicorn
        would end the whole process (``sys.exit``) on that."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.create_server((self.host, self.port), family=family)
        self.port = sock.getsockname()[1]
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]), name="lindungi-web")
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise OSError(f"the web server did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.01)
        log.info("serving webhooks on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop taking requests and finish those under way."""
        if self.task is not None:
            self.server.should_exit = True
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None
