"""Telegram: long polling, or a webhook, with python-telegram-bot's ``Bot`` as the transport.

The conversation state lives in our store, not in PTB's ``ConversationHandler``. Updates are
confirmed to Telegram (the next ``getUpdates`` offset, or the webhook's 200 answer) only after
they are committed, so a crash never loses one, and a repeated ``update_id`` is dropped by the
journal.

By webhook, the first reply to an update may go in the webhook's HTTP response itself (Telegram
performs the method it names): one request fewer for the bot and for the channel's budget. The
reply is committed first, as every reply is; see ``WebhookAnswer`` for what goes this way.

Photos and documents (claim documents) are downloaded, a batch's files concurrently, and stored
by a ``MediaStore`` before their messages are handed over: the engine sees each as a stored file
or as refused, never as something still to fetch.
"""

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple, TypeVar

from telegram import Bot, InputFile, KeyboardButton, ReplyKeyboardMarkup
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning

from bot.channels import TELEGRAM
from bot.messages import DataCopy, Inbound, Kind, Media, Rendered
from handlers.conversations import FOLLOWED, Conversations, RetryLater, Undeliverable
from handlers.media import MediaStore
from handlers.pacing import PRIORITY, REPLY, Pacer

log = logging.getLogger("lindungi.telegram")
# getUpdates is called for its JSON (see ``TelegramChannel._get_updates``), by the API's own
# name: PTB then suggests its typed method, which parses what this module reads itself.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.getUpdates'",
                        category=PTBUserWarning)
T = TypeVar("T")

CHANNEL = TELEGRAM
POLL_TIMEOUT_S = 25
SHORT_LABEL = 18
MAX_CAPTION = 1024
"""Telegram's limit for a photo's caption (the text limit is 4096)."""
DOWNLOAD_CONCURRENCY = 4
"""Files fetched at once: each may hold up to 20 MB in memory until stored."""
ANSWER_WAIT_S = 1.0
"""How long a webhook's response waits, once its update is committed, for the reply to be
handed to it (its slot in the budget taken); past it, the reply goes by the API."""
ANSWER_WITHIN_S = 5.0
"""A webhook post older than this is answered empty, its reply sent by the API: Telegram may
have stopped waiting for the response."""
ANSWER_WRITTEN_S = 10.0
"""How long a reply handed to a response waits for it to be written before going by the API."""


class WebhookAnswer:
    """The reply Telegram may take in the response to the update it posted. Telegram never
    says whether a method in a response worked, so only what is most likely to: a plain text
    (no card, no file), the last of its reply, sent as a reply (not a notice or a broadcast),
    in its slot of the channel's budget while that has room (``Pacer.nearly_free``), to a
    webhook post still young and connected. It counts as sent once the response is written;
    a response not written in time (the client gone) leaves it to the API. A process killed
    in between leaves it unmarked, sent again (once) by the lease, as any reply in flight at
    a crash."""

    def __init__(self):
        self.method: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._written = asyncio.Event()
        self._unwritten = False

    def offer(self, method: dict) -> bool:
        """Hand ``method`` to the response; False when it no longer takes one."""
        if self.method.done():
            return False
        self.method.set_result(method)
        return True

    def close(self) -> None:
        """No reply is taken any more (the response goes without one)."""
        if not self.method.done():
            self.method.cancel()

    def written(self, ok: bool = True) -> None:
        """The response carrying the method was written (``ok``), or will not be."""
        self._unwritten = not ok
        self._written.set()

    async def sent(self) -> bool:
        """Wait for the response; whether the method reached Telegram's side."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._written.wait(), ANSWER_WRITTEN_S)
            return not self._unwritten
        return False


class Received(NamedTuple):
    """A webhook post taken: the method to answer it with (None: answer empty), and
    ``WebhookAnswer.written`` to call once that answer is written."""

    answer: dict | None = None
    written: Callable[[bool], None] | None = None


class Incoming(NamedTuple):
    """An update as an ``Inbound``, with the file it names still on Telegram's servers."""

    inbound: Inbound
    file_id: str | None = None
    """The photo or document to download; ``inbound.media`` then describes it as announced
    (type, size, name), without ``sha256`` or ``path`` yet. None: nothing to fetch (no file,
    or one already refused for its type or size)."""


class TelegramChannel:
    def __init__(self, token: str, base_url: str, conversations: Conversations,
                 send_concurrency: int = 4, media: MediaStore | None = None,
                 pacer: Pacer | None = None):
        """``media``: where photos and documents are stored; without one, none is downloaded
        (each reaches the engine refused as "download"). ``pacer``: the channel's budget,
        which every call that sends waits on (None: none)."""
        self.conversations = conversations
        self.pacer = pacer
        self.media = media
        files = file_url(base_url)
        extra = {"base_file_url": files} if files is not None else {}
        self.bot = Bot(
            token, base_url=base_url,
            request=HTTPXRequest(connection_pool_size=send_concurrency + DOWNLOAD_CONCURRENCY,
                                 pool_timeout=30),
            get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT_S + 10), **extra)
        # httpx's pool grows costly with every request queued in it: queue here instead.
        self._sending = asyncio.Semaphore(send_concurrency)
        self._downloading = asyncio.Semaphore(DOWNLOAD_CONCURRENCY)
        self._answers: dict[int, WebhookAnswer] = {}
        """Per chat, the webhook response waiting for its update's reply."""

    async def send(self, chat_id: str, message: Rendered) -> None:
        photo = None
        if message.card is not None:
            # Drawn in a thread (~50 ms of CPU) so other chats' replies keep flowing meanwhile.
            from handlers.card_image import render_card  # Pillow and qrcode: ~10 MB, when used

            png = await asyncio.to_thread(render_card, message.card)
            photo = InputFile(png, filename=f"kartu-{message.card.reference}.png")
        attachment = await self._attachment(message)
        copy = await asyncio.to_thread(copy_files, message.copy) if message.copy else None
        with refusals():
            if copy is not None:
                await self._send_copy(int(chat_id), message, copy)
            elif attachment is not None:
                await self._send_file(int(chat_id), message, attachment)
            elif photo is None:
                await self._call(int(chat_id), lambda: self.bot.send_message(
                    int(chat_id), message.text, reply_markup=keyboard(message)),
                    answer=self._answerable(int(chat_id), message))
            else:
                await self._send_card(int(chat_id), message, photo)

    def _answerable(self, chat_id: int, message: Rendered) -> dict | None:
        """The message as a webhook response's method, when a response waits for it."""
        if chat_id not in self._answers or FOLLOWED.get() or PRIORITY.get() != REPLY:
            return None
        method = {"method": "sendMessage", "chat_id": chat_id, "text": message.text}
        markup = keyboard_json(message)
        if markup is not None:
            method["reply_markup"] = markup
        return method

    async def _call(self, chat_id: int, call: Callable[[], Awaitable[T]],
                    answer: dict | None = None) -> T | None:
        """One Bot API call that sends to ``chat_id``: in its slot of the channel's budget,
        a few at a time; a 429 pauses the channel for every process. ``answer``: the call as
        a method for the update's webhook response, if that still waits and the channel has
        room (then None is returned): near its limit, a method Telegram refuses in a
        response is lost unseen, while a call refused is tried again."""
        async with (self.pacer.sending(f"{CHANNEL}:{chat_id}", self._sending)
                    if self.pacer is not None else self._sending):
            waiting = (self._answers.get(chat_id) if answer is not None
                       and (self.pacer is None or self.pacer.nearly_free) else None)
            if waiting is not None and waiting.offer(answer):
                if await waiting.sent():
                    return None
                raise RetryLater(0.0)  # the response went without it: by the API instead
            try:
                return await call()
            except RetryAfter as exc:
                if self.pacer is not None:
                    await self.pacer.pause(seconds(exc))
                raise

    async def post(self, chat_id: str, message: Rendered, replace: str | None) -> str:
        """A message kept up to date (a broadcast's progress, for staff): ``replace``, the
        earlier one, is edited in place; a new one is sent when there is none, or it is gone.
        Returns the message's id."""
        with refusals():
            if replace is not None:
                try:
                    await self._call(int(chat_id), lambda: self.bot.edit_message_text(
                        message.text, chat_id=int(chat_id), message_id=int(replace)))
                    return replace
                except BadRequest as exc:
                    if "not modified" in str(exc).lower():
                        return replace
                    log.info("progress message %s cannot be edited (%s): sending anew",
                             replace, exc)
            sent = await self._call(int(chat_id), lambda: self.bot.send_message(
                int(chat_id), message.text))
            return str(sent.message_id)

    async def _attachment(self, message: Rendered) -> InputFile | None:
        """A stored file to send (a claim document, for staff); one no longer on disk is
        reported in the text instead of failing the send."""
        media = message.attachment
        if media is None or self.media is None or media.path is None:
            return None
        try:
            data = await asyncio.to_thread((self.media.folder / media.path).read_bytes)
        except OSError as exc:
            log.warning("stored file %s cannot be read: %s", media.path, exc.strerror)
            return None
        return InputFile(data, filename=media.file_name or Path(media.path).name)

    async def _send_file(self, chat_id: int, message: Rendered, file: InputFile) -> None:
        """A photo as a photo (staff see it at once), anything else (a PDF) as a document."""
        caption = message.text if fits_caption(message.text) else None
        if message.attachment.mime_type.startswith("image/"):
            await self._call(chat_id, lambda: self.bot.send_photo(
                chat_id, photo=file, caption=caption, reply_markup=keyboard(message)))
        else:
            await self._call(chat_id, lambda: self.bot.send_document(
                chat_id, document=file, caption=caption, reply_markup=keyboard(message)))
        if caption is None:
            await self._call(chat_id, lambda: self.bot.send_message(
                chat_id, message.text, reply_markup=keyboard(message)))

    async def _send_copy(self, chat_id: int, message: Rendered,
                         files: tuple[InputFile, InputFile]) -> None:
        """A copy of someone's data: the PDF with the text as its caption, then the JSON
        with the keyboard, so it still comes last."""
        pdf, data = files
        caption = message.text if fits_caption(message.text) else None
        if caption is None:
            await self._call(chat_id, lambda: self.bot.send_message(chat_id, message.text))
        await self._call(chat_id, lambda: self.bot.send_document(
            chat_id, document=pdf, caption=caption))
        await self._call(chat_id, lambda: self.bot.send_document(
            chat_id, document=data, reply_markup=keyboard(message)))

    async def _send_card(self, chat_id: int, message: Rendered, photo: InputFile) -> None:
        """The card as a photo, the text as its caption; a text too long for a caption follows
        the photo as a message of its own, so the keyboard still comes last."""
        if fits_caption(message.text):
            await self._call(chat_id, lambda: self.bot.send_photo(
                chat_id, photo=photo, caption=message.text, reply_markup=keyboard(message)))
            return
        await self._call(chat_id, lambda: self.bot.send_photo(chat_id, photo=photo))
        await self._call(chat_id, lambda: self.bot.send_message(
            chat_id, message.text, reply_markup=keyboard(message)))

    async def start(self, webhook_url: str | None = None, secret: str | None = None, *,
                    receiving: bool = True, connections: int | None = None) -> None:
        """Check the token (getMe). With ``webhook_url``, ask Telegram to post updates there
        with ``secret`` in their header (``receive`` takes them), ``connections`` at once
        (None: Telegram's default, 40); otherwise make sure no webhook steals the updates
        ``poll`` fetches. Updates waiting at Telegram are kept either way.
        ``receiving=False``: only to send (a command's broadcast), leaving the running bot's
        webhook or polling as it is."""
        await self.bot.initialize()
        if not receiving:
            return
        if webhook_url is None:
            await self.bot.delete_webhook(drop_pending_updates=False)
            log.info("polling Telegram as @%s", self.bot.username)
            return
        await self.bot.set_webhook(webhook_url, secret_token=secret, max_connections=connections,
                                   allowed_updates=["message"], drop_pending_updates=False)
        log.info("Telegram posts @%s's updates to %s", self.bot.username, webhook_url)

    async def receive(self, data: object, posted_at: float | None = None) -> Received | None:
        """One update Telegram posted to the webhook: its file fetched and stored, then handed
        over; returns once committed (a repeated ``update_id`` is dropped there), with its
        first reply to answer the post with when that is ready within ``ANSWER_WAIT_S`` and
        the post (``posted_at``, the loop's time it came; None: no answer) is young enough.
        None when it is no update at all; raises when it could not be stored (Telegram posts
        it again)."""
        try:
            got = incoming(data)
        except ValueError:
            return None
        if got is None:
            return Received()
        chat_id = int(got.inbound.chat_id)
        answer = None
        if posted_at is not None and chat_id not in self._answers:
            answer = self._answers[chat_id] = WebhookAnswer()
        method = None
        try:
            await self.conversations.submit(await self._fetch([got]))
            if answer is not None and self.conversations.sending_to(got.inbound.chat_key):
                loop = asyncio.get_running_loop()
                wait = min(ANSWER_WAIT_S, posted_at + ANSWER_WITHIN_S - loop.time())
                with contextlib.suppress(TimeoutError):
                    if wait > 0:
                        method = await asyncio.wait_for(asyncio.shield(answer.method), wait)
        finally:
            if answer is not None:
                del self._answers[chat_id]
                answer.close()
                if method is None and answer.method.done() and not answer.method.cancelled():
                    answer.written(False)  # taken, then this post failed or grew old
        return Received(method, answer.written) if method is not None else Received()

    async def poll(self) -> None:
        """Fetch updates, hand them over, confirm them once stored; until cancelled."""
        offset: int | None = None
        backoff = 1.0
        while True:
            try:
                updates = await self._get_updates(offset)
                inbounds = await self._fetch([i for i in map(_readable, updates) if i])
                if inbounds:
                    await self.conversations.submit(inbounds)
            except InvalidToken:
                raise
            except RetryAfter as exc:
                await asyncio.sleep(seconds(exc))
                continue
            except TimedOut:
                continue
            except Exception:
                log.warning("getUpdates or storing failed; retrying in %.0fs", backoff,
                            exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 60)
                continue
            backoff = 1.0
            if updates:
                offset = updates[-1]["update_id"] + 1

    async def _get_updates(self, offset: int | None) -> list[dict]:
        """getUpdates, its updates as JSON (``incoming`` reads them; see there why not PTB's
        objects); only those with an ``update_id``, the offset's ground."""
        parameters = {"timeout": POLL_TIMEOUT_S, "allowed_updates": ["message"]}
        if offset is not None:
            parameters["offset"] = offset
        try:
            updates = await self.bot.do_api_request("getUpdates", api_kwargs=parameters)
        except EndPointNotFound as exc:  # getUpdates exists: what Telegram refused is the token
            cause = exc.__cause__
            raise (cause if isinstance(cause, InvalidToken) else InvalidToken(str(exc))) from None
        if not isinstance(updates, list):
            raise TypeError("getUpdates did not answer a list")
        return [u for u in updates if isinstance(u, dict)
                and isinstance(u.get("update_id"), int)]

    async def close(self) -> None:
        await self.bot.shutdown()

    async def _fetch(self, batch: list[Incoming]) -> list[Inbound]:
        """The batch's inbounds, in order, with their files downloaded and stored (all at
        once, a few at a time). A storage failure (disk full) raises: the batch is retried."""
        if all(item.file_id is None for item in batch):
            return [item.inbound for item in batch]
        return list(await asyncio.gather(*map(self._with_file, batch)))

    async def _with_file(self, item: Incoming) -> Inbound:
        announced = item.inbound.media
        if item.file_id is None or announced is None:
            return item.inbound
        return replace(item.inbound, media=await self._download(item.file_id, announced))

    async def _download(self, file_id: str, announced: Media) -> Media:
        """The file, stored; refused as "download" when it cannot be fetched (the network, or
        a file over the 20 MB bots may download), so the message still goes through."""
        if self.media is None:
            return replace(announced, refused="download")
        async with self._downloading:
            try:
                file = await self.bot.get_file(file_id)
                data = await file.download_as_bytearray()
            except Exception as exc:  # noqa: BLE001 - any failure: the user sends it again
                log.warning("could not download a %s of %d bytes: %s: %s", announced.mime_type,
                            announced.size, type(exc).__name__, exc)
                return replace(announced, refused="download")
            return await asyncio.to_thread(self.media.save, data, announced.mime_type,
                                           announced.file_name)


@contextlib.contextmanager
def refusals():
    """Telegram's refusals as the senders know them: wait and try again (429, the network),
    or give up on the chat (blocked, or a request Telegram will never take)."""
    try:
        yield
    except RetryAfter as exc:
        raise RetryLater(seconds(exc)) from exc
    except (Forbidden, BadRequest) as exc:
        raise Undeliverable(str(exc)) from exc
    except (TimedOut, NetworkError) as exc:
        raise RetryLater(1.0) from exc


def seconds(error: RetryAfter) -> float:
    """How long Telegram asks us to wait: ``retry_after`` is an int or a timedelta depending on
    PTB's ``PTB_TIMEDELTA`` setting (reading the int form warns of the coming change)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        retry_after = error.retry_after
    if isinstance(retry_after, timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


def fits_caption(text: str) -> bool:
    """Whether ``text`` can be a photo's caption. Telegram counts UTF-16 code units, in which
    an emoji such as 🪪 is two, so counting those is never too lenient."""
    return len(text.encode("utf-16-le")) // 2 <= MAX_CAPTION


def keyboard_json(message: Rendered) -> dict | None:
    """Options as reply-keyboard buttons (a tap sends the label as text, as if typed), as the
    Bot API's ``ReplyKeyboardMarkup`` in JSON (a webhook answer's; ``keyboard``: PTB's)."""
    rows: list[list[dict]] = []
    if message.contact_button:
        rows.append([{"text": message.contact_button, "request_contact": True}])
    options = [{"text": label} for label in message.options]
    per_row = 2 if all(len(label) <= SHORT_LABEL for label in message.options) else 1
    rows.extend(options[i:i + per_row] for i in range(0, len(options), per_row))
    if message.menu_button:
        rows.append([{"text": message.menu_button}])
    return {"keyboard": rows, "resize_keyboard": True} if rows else None


def keyboard(message: Rendered) -> ReplyKeyboardMarkup | None:
    """``keyboard_json`` as PTB's object, for a call to the API."""
    markup = keyboard_json(message)
    if markup is None:
        return None
    return ReplyKeyboardMarkup([[KeyboardButton(**button) for button in row]
                                for row in markup["keyboard"]], resize_keyboard=True)


def copy_files(copy: DataCopy) -> tuple[InputFile, InputFile]:
    """The PDF (made here, in a thread: ~20 ms of CPU) and the JSON of a copy."""
    from handlers.data_copy import file_names, pdf_of

    pdf_name, json_name = file_names(copy)
    return (InputFile(pdf_of(copy), filename=pdf_name),
            InputFile(copy.data.encode("utf-8"), filename=json_name))


def file_url(base_url: str) -> str | None:
    """Where files are downloaded from, next to the API: Telegram serves ``…/bot<token>/<method>``
    and ``…/file/bot<token>/<file_path>``, so a base URL ending in "/bot" gives "/file/bot"
    (``https://api.telegram.org/bot`` → ``https://api.telegram.org/file/bot``, PTB's default;
    the same for a local Bot API server or the tests' fake); None for other base URLs, which
    keep PTB's default."""
    if not base_url.endswith("/bot"):
        return None
    return base_url.removesuffix("/bot") + "/file/bot"


def to_inbound(update: object) -> Inbound | None:
    """A private-chat message as an ``Inbound``; anything else (groups, edits) is ignored. A
    photo's or document's ``media`` is as announced, not yet downloaded (see ``incoming``)."""
    got = incoming(update)
    return got.inbound if got is not None else None


def incoming(update: object) -> Incoming | None:
    """``to_inbound``, with the id of the file to download, if any, read from the update as
    the Bot API sends it (JSON). Pure: no I/O. Raises ``ValueError`` when it is no update.

    Read here rather than by PTB's ``Update.de_json``, which builds an object for every part
    of the update (the chat, the sender, each photo size) at about 110 µs an update: more
    than everything else the channel does with it."""
    if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
        raise ValueError("not a Telegram update")
    message = _part(update, "message")
    if message is None:
        return None
    chat = _part(message, "chat")
    if chat is None or chat.get("type") != "private":
        return None
    chat_id = chat.get("id")
    if not isinstance(chat_id, int):
        raise ValueError("a message without its chat's id")
    kind, text, phone = _content(message)
    attached = _attachment(message)
    media, file_id = attached if attached is not None else (None, None)
    inbound = Inbound(channel=CHANNEL, chat_id=str(chat_id),
                      external_id=str(update["update_id"]), kind=kind, text=text,
                      contact_phone=phone, media=media, order=update["update_id"])
    return Incoming(inbound, file_id)


def _readable(update: dict) -> Incoming | None:
    """``incoming``, a malformed update logged and skipped (it is confirmed with the rest)."""
    try:
        return incoming(update)
    except ValueError as exc:
        log.warning("skipped Telegram update %s: %s", update["update_id"], exc)
        return None


def _part(parent: dict, name: str) -> dict | None:
    """An object inside an update (absent: None); anything else there is malformed."""
    value = parent.get(name)
    if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} is not an object")
    return value


def _text(parent: dict, name: str) -> str | None:
    value = parent.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} is not a string")
    return value


def _size(part: dict) -> int:
    size = part.get("file_size") or 0
    if not isinstance(size, int):
        raise ValueError("file_size is not a number")
    return size


def _attachment(message: dict) -> tuple[Media, str | None] | None:
    """A photo (its largest size; Telegram's photos are always JPEG) or a document, as
    announced, and its file id; no id when its type or size is refused already."""
    photo = message.get("photo")
    document = _part(message, "document")
    if photo:
        if not isinstance(photo, list) or not all(isinstance(p, dict) for p in photo):
            raise ValueError("photo is not a list of sizes")
        largest = max(photo, key=lambda size: ((size.get("width") or 0)
                                               * (size.get("height") or 0), _size(size)))
        mime_type, size, name = "image/jpeg", _size(largest), None
        file_id = _text(largest, "file_id")
    elif document is not None and message.get("animation") is None:
        # (a GIF comes as an animation and, for old clients, as a document too)
        mime_type = _text(document, "mime_type") or "application/octet-stream"
        size, name = _size(document), _text(document, "file_name")
        file_id = _text(document, "file_id")
    else:
        return None
    refused = MediaStore.check(mime_type, size)
    if refused is not None:
        return Media(mime_type, size, file_name=name, refused=refused), None
    return Media(mime_type, size, file_name=name), file_id


def _content(message: dict) -> tuple[Kind, str, str | None]:
    text = _text(message, "text")
    if text is not None:
        return "text", text, None
    contact = _part(message, "contact")
    if contact is not None:
        return "contact", "", _text(contact, "phone_number") or ""
    for attribute, kind in (("photo", "photo"), ("sticker", "sticker"), ("voice", "voice"),
                            ("audio", "voice"), ("video", "video"), ("video_note", "video"),
                            ("animation", "video"), ("document", "document"),
                            ("location", "location"), ("venue", "location")):
        if message.get(attribute):
            # A photo's or document's caption may say what it is ("KTP ahli waris").
            caption = (_text(message, "caption") or "") if kind in ("photo", "document") else ""
            return kind, caption, None
    return "other", "", None
