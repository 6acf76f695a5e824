"""A fake Telegram Bot API on 127.0.0.1, so the bot's real HTTP path (python-telegram-bot over
httpx) runs in tests and benchmarks without the network.

    async with FakeTelegram() as tg:
        bot = Bot(TOKEN, base_url=tg.base_url)
        tg.user_text(42, "/start")
        reply = await tg.next_reply(42)

It serves getMe, getUpdates (long polling; an update stays pending until a later call's
``offset`` confirms it, as on Telegram), setWebhook and deleteWebhook (with a webhook set,
getUpdates is refused with 409 and each update is posted to the webhook, with the secret token
in ``X-Telegram-Bot-Api-Secret-Token``, until it is answered 200: given where the bot really
listens, ``reach``; a method in the answer's body is performed, as Telegram does),
sendMessage, sendPhoto (an uploaded file), getFile and file downloads
(``/file/bot<token>/<file_path>``, the files users sent through ``user_photo_file`` and
``user_document``) and a few no-op methods, inside the running event loop. Every request costs
O(1) plus the size of its answer (replies go to per-chat queues, pollers wait on an event), so
the fake keeps up with thousands of updates per second.
"""

import asyncio
import bisect
import contextlib
import gc
import itertools
import json
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.webhook_client import Answer, WebhookClient

TOKEN = "123456:TEST-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Lindungi",
            "username": "LindungiTestBot", "can_join_groups": False,
            "can_read_all_group_messages": False, "supports_inline_queries": False}
MAX_LIMIT = 100
DEFAULT_CONNECTIONS, MAX_CONNECTIONS = 40, 100
"""setWebhook's ``max_connections``: when not given, and at most."""
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024
"""The largest file a bot may download (getFile refuses bigger ones: "file is too big")."""
NO_OPS = frozenset({"setmycommands", "deletemycommands", "close", "logout", "sendchataction"})
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "reply_parameters", "entities",
                         "link_preview_options"})
"""Parameters that arrive as JSON strings when PTB posts a form."""

Params = dict[str, Any]


@dataclass
class SentMessage:
    """One sendMessage or sendPhoto the bot made, as the user sees it."""

    chat_id: int
    message_id: int
    text: str
    """The message's text, or the photo's caption (empty without one)."""
    rows: list[list[str]]
    """The reply keyboard, row by row (empty without one)."""
    request_contact: bool
    """Whether some button shares the user's phone number."""
    photo: bytes | None = None
    """The uploaded image, as sent, for a sendPhoto."""
    document: bytes | None = None
    """The uploaded file, as sent, for a sendDocument."""
    edits: int = 0
    """How many times editMessageText changed it (``text`` is the latest)."""

    @property
    def buttons(self) -> list[str]:
        return [label for row in self.rows for label in row]


def message(chat_id: int, content: dict, *, chat_type: str = "private",
            from_id: int | None = None) -> dict:
    """A Telegram ``Message`` object; ``content`` holds its kind, e.g. ``{"text": "halo"}``."""
    user_id = chat_id if from_id is None else from_id
    chat = ({"id": chat_id, "type": "private", "first_name": f"User{user_id}"}
            if chat_type == "private" else {"id": chat_id, "type": chat_type, "title": "Grup"})
    return {"message_id": 1, "date": int(time.time()), "chat": chat,
            "from": {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"},
            **content}


def contact(phone: str, user_id: int) -> dict:
    return {"contact": {"phone_number": phone, "first_name": f"User{user_id}",
                        "user_id": user_id}}


PHOTO = {"photo": [{"file_id": "AgACAgUAAx0", "file_unique_id": "AQAD1", "width": 90,
                    "height": 90, "file_size": 1024}]}
STICKER = {"sticker": {"file_id": "CAACAgIAAxk", "file_unique_id": "AgAD2", "type": "regular",
                       "width": 512, "height": 512, "is_animated": False, "is_video": False}}


def document(file_id: str, mime_type: str | None, file_name: str | None,
             file_size: int | None) -> dict:
    """A Telegram ``Document``; None leaves a field out, as Telegram may."""
    fields = {"file_id": file_id, "file_unique_id": f"u{file_id}", "mime_type": mime_type,
              "file_name": file_name, "file_size": file_size}
    return {"document": {k: v for k, v in fields.items() if v is not None}}


@dataclass
class _Pending:
    update: dict
    sent: bool = False
    """Returned by getUpdates at least once: the next ``offset`` above its id confirms it."""


@dataclass
class _Failure:
    code: int
    retry_after: int
    remaining: int | None


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handlers: Ctrl-C belongs to the test runner or benchmark."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class FakeTelegram:
    """The Bot API for one bot token; the test plays the users through ``user_*``."""

    def __init__(self, token: str = TOKEN, reach: tuple[str, str | list[str]] | None = None):
        """``reach``: (the bot's public base URL, where it really listens), for webhooks;
        several addresses: the processes behind one balancer, posted to in turn. Updates
        are posted ``max_connections`` at once (as ``setWebhook`` asked; Telegram's default
        is 40), a chat's next update only once its previous one was answered, as Telegram
        does."""
        self.token = token
        public, local = reach or ("", "")
        self.reach = (public, [local] if isinstance(local, str) else list(local))
        self.max_connections = DEFAULT_CONNECTIONS
        self._targets = itertools.cycle(self.reach[1])
        self._posting: set[int] = set()
        """Chats an update of which is being posted."""
        self.webhook: dict[str, str] | None = None
        """The webhook set (``url``, ``secret_token``), if any."""
        self.webhook_posts: Counter[int] = Counter()
        """How many times each update was posted to the webhook (answered or not)."""
        self.webhook_answered: set[int] = set()
        """The updates the webhook answered 200 (Telegram then forgets them)."""
        self._posters: dict[int, asyncio.Task] = {}
        """Per connection, the task posting updates on it; the n-th ends once fewer are
        asked."""
        self._client = WebhookClient()
        self.limits: tuple[float, float] | None = None
        """(messages a second overall, least seconds between two to one chat): with
        ``enforce_limits``, a send beyond either is refused with 429, as Telegram does."""
        self.sent_at: list[float] = []
        """When each message was accepted (``time.monotonic``)."""
        self._frozen = False
        self._last_to: dict[int, float] = {}
        self.port: int | None = None
        self.calls: Counter[str] = Counter()
        """How often each API method (lower case) was called; "download": files fetched."""
        self.polled = asyncio.Event()
        """Set by every getUpdates: clear it, then wait on it to know a bot is polling."""
        self._pending: deque[_Pending] = deque()
        self._updates: dict[int, dict] = {}
        self._arrived = asyncio.Event()
        self._closing = False
        self._update_ids = itertools.count(1000)
        self._message_ids = itertools.count(1)
        self._inbox: defaultdict[int, asyncio.Queue[SentMessage]] = defaultdict(asyncio.Queue)
        self._sent: defaultdict[int, list[SentMessage]] = defaultdict(list)
        self._failures: dict[int, _Failure] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        """file_id → (file_path, content), for getFile."""
        self._paths: dict[str, bytes] = {}
        """file_path → content, for downloads."""
        self._file_ids = itertools.count(1)
        self._methods: dict[str, Callable[[Params], Awaitable[JSONResponse]]] = {
            "getme": self._get_me, "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook, "getupdates": self._get_updates,
            "sendmessage": self._send_message, "sendphoto": self._send_photo,
            "senddocument": self._send_document, "editmessagetext": self._edit_message_text,
            "getfile": self._get_file, **dict.fromkeys(NO_OPS, self._true)}
        self.app = Starlette(routes=[
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{file_path:path}", self._download, methods=["GET"])])
        self._server: _Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Where files are downloaded from (``Bot(base_file_url=...)``), as on Telegram: the
        base URL with "/file" before its "/bot"."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def __aenter__(self) -> "FakeTelegram":
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()

    async def start(self) -> None:
        # Idle connections stay open a minute: with uvicorn's 5 s default, a bot's pooled
        # connections would be closed under it mid-run, and its retries measured, not the bot.
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning",
                                access_log=False, lifespan="off", ws="none",
                                timeout_keep_alive=60, timeout_graceful_shutdown=2)
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="fake-telegram")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the fake Telegram server did not start")
            await asyncio.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Answer the waiting long polls (empty) and shut the server down."""
        self._closing = True
        self._arrived.set()
        if self._frozen:
            gc.unfreeze()
            self._frozen = False
        for poster in self._posters.values():
            poster.cancel()
        await asyncio.gather(*self._posters.values(), return_exceptions=True)
        await self._client.close()
        if self._server and self._task:
            self._server.should_exit = True
            await self._task

    # --- the user's side ------------------------------------------------------------------

    def enqueue(self, message_object: dict) -> int:
        """Make ``message_object`` the next update; returns its ``update_id``."""
        update_id = next(self._update_ids)
        update = {"update_id": update_id,
                  "message": {**message_object, "message_id": next(self._message_ids)}}
        self._updates[update_id] = update
        self._pending.append(_Pending(update))
        self._arrived.set()
        return update_id

    def user_text(self, chat_id: int, text: str) -> int:
        return self.enqueue(message(chat_id, {"text": text}))

    def user_contact(self, chat_id: int, phone: str) -> int:
        return self.enqueue(message(chat_id, contact(phone, chat_id)))

    def user_photo(self, chat_id: int) -> int:
        return self.enqueue(message(chat_id, PHOTO))

    def user_sticker(self, chat_id: int) -> int:
        return self.enqueue(message(chat_id, STICKER))

    def add_file(self, data: bytes, extension: str, folder: str = "documents") -> str:
        """Keep ``data`` as a file on "Telegram's servers"; returns its new file_id."""
        number = next(self._file_ids)
        file_id, file_path = f"file{number}", f"{folder}/file_{number}.{extension}"
        self._files[file_id] = (file_path, data)
        self._paths[file_path] = data
        return file_id

    def user_photo_file(self, chat_id: int, data: bytes, caption: str = "") -> int:
        """A photo whose largest size is ``data``; Telegram adds smaller copies (other bytes,
        so a bot that fetched one of those would be caught), the largest last."""
        sizes = []
        for width, content in ((90, b"\xff\xd8\xff thumbnail 90"),
                               (320, b"\xff\xd8\xff thumbnail 320"), (1280, data)):
            file_id = self.add_file(content, "jpg", "photos")
            sizes.append({"file_id": file_id, "file_unique_id": f"u{file_id}", "width": width,
                          "height": width * 3 // 4, "file_size": len(content)})
        return self.enqueue(message(chat_id, {"photo": sizes, **_caption(caption)}))

    def user_document(self, chat_id: int, data: bytes, mime_type: str | None,
                      file_name: str | None, caption: str = "") -> int:
        """A file sent as a document (a PDF scan, or a photo sent uncompressed)."""
        extension = (file_name or "").rpartition(".")[2] or "bin"
        file_id = self.add_file(data, extension)
        content = document(file_id, mime_type, file_name, len(data))
        return self.enqueue(message(chat_id, {**content, **_caption(caption)}))

    def redeliver(self, update_id: int) -> None:
        """Deliver an update again, same ``update_id``, as Telegram does when it never saw the
        confirmation: the bot must not handle it twice."""
        self._pending.append(_Pending(self._updates[update_id]))
        self._arrived.set()

    async def next_reply(self, chat_id: int, timeout: float = 10.0  # noqa: ASYNC109
                         ) -> SentMessage:
        """The next message the bot sent to this chat; TimeoutError if none comes in time (a
        default bound, so a missing reply fails its test at once instead of hanging it)."""
        try:
            return await asyncio.wait_for(self._inbox[chat_id].get(), timeout)
        except TimeoutError:
            raise TimeoutError(f"no reply to chat {chat_id} within {timeout}s") from None

    def replies(self, chat_id: int) -> list[SentMessage]:
        """Every message sent to this chat so far, whether taken by ``next_reply`` or not."""
        return list(self._sent[chat_id])

    def enforce_limits(self, per_second: float = 30, per_chat_s: float = 1.0) -> None:
        """Refuse with 429 any send that would make more than ``per_second`` in the last
        second, or come within ``per_chat_s`` of the last one to its chat.

        The sends are timed as they reach this process's loop, which must not stop: a full
        collection in a pytest process that has run a thousand tests (a million objects)
        stalls it a quarter of a second, and what arrived meanwhile would be timed as one
        burst that Telegram's servers never saw. So what exists now is frozen out of the
        collector's reach until ``stop``."""
        self.limits = (per_second, per_chat_s)
        if not self._frozen:
            gc.freeze()
            self._frozen = True

    def fail_sends(self, chat_id: int, code: int, *, retry_after: int = 1,
                   times: int | None = 1) -> None:
        """Refuse the next ``times`` sends (sendMessage or sendPhoto) to this chat (None: all) with
        429 Too Many Requests (asking to wait ``retry_after`` s), 403 Forbidden or 400."""
        self._failures[chat_id] = _Failure(code, retry_after, times)

    # --- the Bot API ------------------------------------------------------------------------

    async def perform_answer(self, answer: "Answer | httpx.Response") -> None:
        """A webhook's answer naming a method (``{"method": "sendMessage", …}``, as JSON or a
        form): performed as if called, its result dropped (Telegram never tells the bot).
        Counted in ``calls`` under its name and as "webhook answer"."""
        try:
            params = _body_params(answer.content, answer.headers.get("content-type", ""))
        except ValueError:
            return  # Telegram ignores an answer it cannot read
        method = str(params.pop("method", "")).lower()
        handler = self._methods.get(method)
        if handler is not None:
            self.calls[method] += 1
            self.calls["webhook answer"] += 1
            await handler(params)

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"].lower()
        self.calls[method] += 1
        handler = self._methods.get(method)
        if handler is None:
            return _error(404, "Not Found")
        try:
            params = await _params(request)
        except ValueError as exc:
            return _error(400, f"Bad Request: {exc}")
        return await handler(params)

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        self.calls["download"] += 1
        data = self._paths.get(request.path_params["file_path"])
        if data is None:
            return _error(404, "Not Found")
        return Response(data, media_type="application/octet-stream")

    async def _get_file(self, params: Params) -> JSONResponse:
        stored = self._files.get(str(params.get("file_id")))
        if stored is None:
            return _error(400, "Bad Request: invalid file_id")
        file_path, data = stored
        if len(data) > MAX_DOWNLOAD:
            return _error(400, "Bad Request: file is too big")
        file_id = str(params["file_id"])
        return _ok({"file_id": file_id, "file_unique_id": f"u{file_id}",
                    "file_size": len(data), "file_path": file_path})

    async def _true(self, params: Params) -> JSONResponse:
        return _ok(True)

    async def _set_webhook(self, params: Params) -> JSONResponse:
        url = params.get("url") or ""
        if not url.startswith("https://"):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                               "webhook")
        try:
            connections = int(params.get("max_connections", DEFAULT_CONNECTIONS))
        except (TypeError, ValueError):
            connections = 0
        if not 1 <= connections <= MAX_CONNECTIONS:
            return _error(400, "Bad Request: bad webhook: max_connections must be 1-100")
        self.max_connections = connections
        self.webhook = {"url": url, "secret_token": params.get("secret_token") or ""}
        for n in range(connections):
            if n not in self._posters or self._posters[n].done():
                self._posters[n] = asyncio.create_task(self._post_updates(n),
                                                       name=f"fake-webhook-{n}")
        self._arrived.set()  # any poster past the number asked ends
        return _ok(True)

    async def _delete_webhook(self, params: Params) -> JSONResponse:
        self.webhook = None
        return _ok(True)

    async def _post_updates(self, index: int) -> None:
        """Post the pending updates to the webhook, one at a time, each chat's in order; one
        not answered 200 (refused, 5xx, the bot down) is tried again shortly, at the next
        address, as Telegram does behind a balancer. Ends with the webhook, or when fewer
        than ``index`` + 1 connections are asked."""
        while self.webhook is not None and not self._closing and index < self.max_connections:
            self._arrived.clear()
            pending = next((p for p in self._pending
                            if p.update["message"]["chat"]["id"] not in self._posting), None)
            if pending is None:
                await self._arrived.wait()
                continue
            update = pending.update
            chat_id = update["message"]["chat"]["id"]
            self._pending.remove(pending)
            self._posting.add(chat_id)
            public, _ = self.reach
            url = next(self._targets) + self.webhook["url"].removeprefix(public)
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"]}
            self.webhook_posts[update["update_id"]] += 1
            try:
                answer = await self._client.post(url, json.dumps(update).encode(), headers)
                delivered = answer.status_code == 200
            except ConnectionError:
                delivered = False
            if delivered:
                self.webhook_answered.add(update["update_id"])
                await self.perform_answer(answer)
            else:
                self._pending.appendleft(pending)  # the oldest of its chat still
                await asyncio.sleep(0.2)
            self._posting.discard(chat_id)
            self._arrived.set()

    async def _get_me(self, params: Params) -> JSONResponse:
        return _ok(BOT_USER)

    async def _get_updates(self, params: Params) -> JSONResponse:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
        self.polled.set()
        offset = int(params.get("offset") or 0)
        limit = min(int(params.get("limit") or MAX_LIMIT), MAX_LIMIT)
        timeout = float(params.get("timeout") or 0)
        if offset and any(p.sent for p in self._pending):
            self._pending = deque(p for p in self._pending
                                  if not (p.sent and p.update["update_id"] < offset))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._pending and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)
        batch = list(itertools.islice(self._pending, limit))
        for pending in batch:
            pending.sent = True
        return _ok([pending.update for pending in batch])

    async def _send_message(self, params: Params) -> JSONResponse:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        text = params.get("text") or ""
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        if (refusal := self._refusal(chat_id)) is not None:
            return refusal
        if (refusal := self._over_limits(chat_id)) is not None:
            return refusal
        sent = self._deliver(chat_id, text, params.get("reply_markup") or {})
        return _ok({"message_id": sent.message_id, "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"},
                    "from": BOT_USER, "text": text})

    async def _edit_message_text(self, params: Params) -> JSONResponse:
        """Changes a message sent before, as Telegram does: the same text again is refused."""
        try:
            chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        text = params.get("text") or ""
        found = next((m for m in self._sent[chat_id] if m.message_id == message_id), None)
        if found is None:
            return _error(400, "Bad Request: message to edit not found")
        if not text.strip() or len(text) > MAX_TEXT:
            return _error(400, "Bad Request: message text is empty or too long")
        if text == found.text:
            return _error(400, "Bad Request: message is not modified: specified new message "
                          "content and reply markup are exactly the same")
        if (refusal := self._refusal(chat_id)) is not None:
            return refusal
        found.text = text
        found.edits += 1
        return _ok({"message_id": message_id, "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"},
                    "from": BOT_USER, "text": text, "edit_date": int(time.time())})

    async def _send_photo(self, params: Params) -> JSONResponse:
        return await self._send_file(params, "photo")

    async def _send_document(self, params: Params) -> JSONResponse:
        return await self._send_file(params, "document")

    async def _send_file(self, params: Params, field: str) -> JSONResponse:
        """sendPhoto or sendDocument: the upload is kept in ``SentMessage.photo`` or
        ``.document``, the caption in ``text``."""
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        data = params.get(field)
        if not isinstance(data, bytes) or not data:
            # A file_id or URL would name a file on Telegram's side: the fake has none.
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        caption = params.get("caption") or ""
        if len(caption) > MAX_CAPTION:
            return _error(400, "Bad Request: message caption is too long")
        if (refusal := self._refusal(chat_id)) is not None:
            return refusal
        sent = self._deliver(chat_id, caption, params.get("reply_markup") or {})
        setattr(sent, field, data)
        described = {"file_id": f"{field}{sent.message_id}",
                     "file_unique_id": f"{field[0]}{sent.message_id}", "file_size": len(data)}
        result = {"message_id": sent.message_id, "date": int(time.time()),
                  "chat": {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"},
                  "from": BOT_USER,
                  field: [{**described, "width": 1012, "height": 638}] if field == "photo"
                  else described}
        if caption:
            result["caption"] = caption
        return _ok(result)

    def _refusal(self, chat_id: int) -> JSONResponse | None:
        """The error ``fail_sends`` set up for this chat, counting it down; None to send."""
        failure = self._failures.get(chat_id)
        if failure is None:
            return None
        if failure.remaining is not None:
            failure.remaining -= 1
            if failure.remaining <= 0:
                del self._failures[chat_id]
        return _refusal(failure)

    def _over_limits(self, chat_id: int) -> JSONResponse | None:
        now = time.monotonic()
        if self.limits is not None:
            per_second, per_chat = self.limits
            recent = len(self.sent_at) - bisect.bisect_right(self.sent_at, now - 1.0)
            too_soon = now - self._last_to.get(chat_id, -1e9) < per_chat
            if recent >= per_second or too_soon:
                self.calls["429"] += 1
                self.calls["429 per chat" if too_soon else "429 overall"] += 1
                return _error(429, "Too Many Requests: retry after 1", retry_after=1)
        self.sent_at.append(now)
        self._last_to[chat_id] = now
        return None

    def _deliver(self, chat_id: int, text: str, markup: dict) -> SentMessage:
        rows = [[_label(button) for button in row] for row in markup.get("keyboard", ())]
        request_contact = any(isinstance(button, dict) and button.get("request_contact")
                              for row in markup.get("keyboard", ()) for button in row)
        sent = SentMessage(chat_id, next(self._message_ids), text, rows, request_contact)
        self._sent[chat_id].append(sent)
        self._inbox[chat_id].put_nowait(sent)
        return sent


async def _params(request: Request) -> Params:
    """Query and body parameters, from a form or JSON, with JSON-valued fields decoded."""
    return {**request.query_params,
            **_body_params(await request.body(), request.headers.get("content-type", ""))}


def _body_params(body: bytes, content_type: str) -> Params:
    """A request's (or a webhook answer's) parameters: JSON, a url-encoded or multipart form
    (JSON-valued fields decoded)."""
    params: Params = {}
    if body and content_type.startswith("application/json"):
        params.update(json.loads(body))
    elif body and content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode(), keep_blank_values=True))
    elif body and content_type.startswith("multipart/form-data"):
        params.update(_multipart(body, content_type))
    elif body:
        raise ValueError(f"unsupported content type {content_type!r}")
    for name in JSON_FIELDS.intersection(params):
        if isinstance(params[name], str):
            params[name] = json.loads(params[name])
    return params


def _multipart(body: bytes, content_type: str) -> Params:
    """A multipart/form-data body, as PTB posts one with a file: text fields as ``str``, files
    as ``bytes``. Parsed here, byte for byte, since Starlette's ``request.form()`` would need
    the python-multipart package, which the project does not install."""
    boundary = re.search(r'boundary="?([^";]+)"?', content_type)
    if boundary is None:
        raise ValueError("multipart body without a boundary")
    # Every delimiter is CRLF "--" boundary; the body's first one has no CRLF before it.
    parts = (b"\r\n" + body).split(b"\r\n--" + boundary.group(1).encode("latin-1"))
    if len(parts) < 2 or not parts[-1].startswith(b"--"):
        raise ValueError("multipart body without its closing boundary")
    params: Params = {}
    for part in parts[1:-1]:
        head, separator, value = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next((line for line in head.decode("utf-8").split("\r\n")
                            if line.lower().startswith("content-disposition:")), "")
        name = re.search(r';\s*name="([^"]*)"', disposition)
        if not separator or name is None:
            raise ValueError("multipart part without a name")
        is_file = re.search(r';\s*filename=', disposition) is not None
        params[name.group(1)] = value if is_file else value.decode("utf-8")
    return params


def _caption(caption: str) -> dict:
    return {"caption": caption} if caption else {}


def _label(button: str | dict) -> str:
    return button if isinstance(button, str) else button["text"]


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(code: int, description: str, **parameters: Any) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return JSONResponse(body, status_code=code)


def _refusal(failure: _Failure) -> JSONResponse:
    if failure.code == 429:
        return _error(429, f"Too Many Requests: retry after {failure.retry_after}",
                      retry_after=failure.retry_after)
    if failure.code == 403:
        return _error(403, "Forbidden: bot was blocked by the user")
    return _error(failure.code, "Bad Request: chat not found")
