"""Telegram: long polling with python-telegram-bot's ``Bot`` as the transport.

The conversation state lives in our store, not in PTB's ``ConversationHandler``. Updates are
confirmed to Telegram (the next ``getUpdates`` offset) only after they are committed, so a crash
never loses one, and a repeated ``update_id`` is dropped by the journal.
"""

import asyncio
import logging
import warnings
from datetime import timedelta

from telegram import Bot, InputFile, KeyboardButton, Message, ReplyKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from bot.messages import Inbound, Kind, Rendered
from handlers.conversations import Conversations, RetryLater, Undeliverable

log = logging.getLogger("lindungi.telegram")

CHANNEL = "telegram"
POLL_TIMEOUT_S = 25
SHORT_LABEL = 18
MAX_CAPTION = 1024
"""Telegram's limit for a photo's caption (the text limit is 4096)."""


class TelegramChannel:
    def __init__(self, token: str, base_url: str, conversations: Conversations,
                 send_concurrency: int = 4):
        self.conversations = conversations
        self.bot = Bot(
            token, base_url=base_url,
            request=HTTPXRequest(connection_pool_size=send_concurrency, pool_timeout=30),
            get_updates_request=HTTPXRequest(read_timeout=POLL_TIMEOUT_S + 10))
        # httpx's pool grows costly with every request queued in it: queue here instead.
        self._sending = asyncio.Semaphore(send_concurrency)

    async def send(self, chat_id: str, message: Rendered) -> None:
        photo = None
        if message.card is not None:
            # Drawn in a thread (~50 ms of CPU) so other chats' replies keep flowing meanwhile.
            from handlers.card_image import render_card  # Pillow and qrcode: ~10 MB, when used

            png = await asyncio.to_thread(render_card, message.card)
            photo = InputFile(png, filename=f"kartu-{message.card.reference}.png")
        try:
            async with self._sending:
                if photo is None:
                    await self.bot.send_message(int(chat_id), message.text,
                                                reply_markup=keyboard(message))
                else:
                    await self._send_card(int(chat_id), message, photo)
        except RetryAfter as exc:
            raise RetryLater(seconds(exc)) from exc
        except Forbidden as exc:
            raise Undeliverable(str(exc)) from exc
        except BadRequest as exc:
            raise Undeliverable(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise RetryLater(1.0) from exc

    async def _send_card(self, chat_id: int, message: Rendered, photo: InputFile) -> None:
        """The card as a photo, the text as its caption; a text too long for a caption follows
        the photo as a message of its own, so the keyboard still comes last."""
        if fits_caption(message.text):
            await self.bot.send_photo(chat_id, photo=photo, caption=message.text,
                                      reply_markup=keyboard(message))
            return
        await self.bot.send_photo(chat_id, photo=photo)
        await self.bot.send_message(chat_id, message.text, reply_markup=keyboard(message))

    async def start(self) -> None:
        """Check the token (getMe) and make sure no webhook steals the updates."""
        await self.bot.initialize()
        await self.bot.delete_webhook(drop_pending_updates=False)
        log.info("polling Telegram as @%s", self.bot.username)

    async def poll(self) -> None:
        """Fetch updates, hand them over, confirm them once stored; until cancelled."""
        offset: int | None = None
        backoff = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=POLL_TIMEOUT_S, allowed_updates=["message"])
                inbounds = [i for i in map(to_inbound, updates) if i is not None]
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
                offset = updates[-1].update_id + 1

    async def close(self) -> None:
        await self.bot.shutdown()


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


def keyboard(message: Rendered) -> ReplyKeyboardMarkup | None:
    """Options as reply-keyboard buttons (a tap sends the label as text, as if typed)."""
    rows: list[list[KeyboardButton]] = []
    if message.contact_button:
        rows.append([KeyboardButton(message.contact_button, request_contact=True)])
    options = [KeyboardButton(label) for label in message.options]
    per_row = 2 if all(len(label) <= SHORT_LABEL for label in message.options) else 1
    rows.extend(options[i:i + per_row] for i in range(0, len(options), per_row))
    if message.menu_button:
        rows.append([KeyboardButton(message.menu_button)])
    return ReplyKeyboardMarkup(rows, resize_keyboard=True) if rows else None


def to_inbound(update: Update) -> Inbound | None:
    """A private-chat message as an ``Inbound``; anything else (groups, edits) is ignored."""
    message = update.message
    if message is None or message.chat.type != "private":
        return None
    kind, text, phone = _content(message)
    return Inbound(channel=CHANNEL, chat_id=str(message.chat.id),
                   external_id=str(update.update_id), kind=kind, text=text,
                   contact_phone=phone)


def _content(message: Message) -> tuple[Kind, str, str | None]:
    if message.text is not None:
        return "text", message.text, None
    if message.contact is not None:
        return "contact", "", message.contact.phone_number
    for attribute, kind in (("photo", "photo"), ("sticker", "sticker"), ("voice", "voice"),
                            ("audio", "voice"), ("video", "video"), ("video_note", "video"),
                            ("animation", "video"), ("document", "document"),
                            ("location", "location"), ("venue", "location")):
        if getattr(message, attribute):
            return kind, "", None
    return "other", "", None
