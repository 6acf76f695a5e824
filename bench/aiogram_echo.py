"""The other baseline for bench/scale.py: aiogram's echo bot (the fastest Python transport we
know), by long polling or by webhook, so Lindungi's cost per update is measured against it.

    TELEGRAM_BOT_TOKEN=… TELEGRAM_API_BASE_URL=… python bench/aiogram_echo.py
    … python bench/aiogram_echo.py --webhook https://bot.example.org --port 8081

By webhook the reply goes in the webhook's answer (aiogram's ``handle_in_background=False``
with the handler returning the method), as Lindungi does with its first reply.
"""

import argparse
import asyncio
import os

from aiogram import Bot, Dispatcher, F
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import SendMessage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

SECRET = "bench-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhook", help="the public base URL (webhook mode)")
    parser.add_argument("--port", type=int, default=8081, help="where to listen (webhook)")
    args = parser.parse_args()
    base = os.environ["TELEGRAM_API_BASE_URL"].removesuffix("/bot")
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"],
              session=AiohttpSession(api=TelegramAPIServer.from_base(base)))
    dispatcher = Dispatcher()

    @dispatcher.message(F.text)
    async def echo(message: Message) -> SendMessage | None:
        if args.webhook:
            return message.answer(message.text)  # in the webhook's answer
        await message.answer(message.text)
        return None

    if not args.webhook:
        asyncio.run(dispatcher.start_polling(bot, handle_signals=True))  # stops on SIGTERM
        return

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(f"{args.webhook}/telegram", secret_token=SECRET,
                              allowed_updates=["message"], max_connections=100)  # as Lindungi

    dispatcher.startup.register(on_startup)
    app = web.Application()
    SimpleRequestHandler(dispatcher=dispatcher, bot=bot, handle_in_background=False,
                         secret_token=SECRET).register(app, path="/telegram")
    setup_application(app, dispatcher, bot=bot)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None)  # stops on SIGTERM


if __name__ == "__main__":
    main()
