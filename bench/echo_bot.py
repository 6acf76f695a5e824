"""The baseline for bench/registration.py: the smallest python-telegram-bot bot, echoing every
text by long polling, so the figures say what Lindungi costs on top of PTB itself.

    TELEGRAM_BOT_TOKEN=… TELEGRAM_API_BASE_URL=… python bench/echo_bot.py [--concurrent]
"""

import argparse
import os

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.message.reply_text(update.message.text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", action="store_true",
                        help="handle updates concurrently (PTB's concurrent_updates)")
    args = parser.parse_args()
    builder = (ApplicationBuilder().token(os.environ["TELEGRAM_BOT_TOKEN"])
               .base_url(os.environ["TELEGRAM_API_BASE_URL"]))
    if args.concurrent:
        builder = builder.concurrent_updates(True)
    app = builder.build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    app.run_polling()  # stops on SIGTERM


if __name__ == "__main__":
    main()
