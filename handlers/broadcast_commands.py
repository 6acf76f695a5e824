"""The broadcast commands of ``main.py``: ``broadcast`` (a preview, a confirmation, then
delivery with a progress bar), ``broadcast-status`` and ``broadcast-cancel``; and the rate
limits and lease the running bot delivers with too."""

import argparse
import asyncio
import getpass
import sys
from datetime import timedelta

from bot.broadcasting import MAX_TEXT, Audience, Progress, finish_time, sending_seconds
from bot.channels import NAMES, TELEGRAM, WHATSAPP
from bot.config import Settings
from bot.enrolment import STATUSES
from bot.i18n import NP_, Plural
from bot.occupations import OCCUPATIONS
from bot.quiet_hours import WIB
from bot.templates import notice_values
from handlers.broadcasts import BroadcastDelivery
from handlers.conversations import Conversations, utc_now
from handlers.startup import (
    StartupError,
    build,
    links_key,
    load_catalogs,
    open_store,
    pacers,
    start_telegram,
)
from handlers.telegram import TelegramChannel
from models.broadcasts import Broadcasts, NotApplicable


def broadcast_lease(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.broadcast_lease_s)


def audience_of(args: argparse.Namespace, settings: Settings) -> Audience:
    """The audience the flags name; a programme, status or occupation that does not exist is
    refused naming those that do (a typo would otherwise reach nobody, silently)."""
    known = {"--programme": (args.programme,
                             [p.id for p in settings.programmes().programme]),
             "--status": (args.status, list(STATUSES)),
             "--occupation": (args.occupation, [o.value for o in OCCUPATIONS])}
    for flag, (given, values) in known.items():
        if given is not None and given not in values:
            raise StartupError(f"unknown {flag} {given!r}; known: {', '.join(values)}")
    return Audience(programme=args.programme, status=args.status, occupation=args.occupation,
                    kelurahan=args.kelurahan, locale=args.language, channel=args.channel,
                    invite=args.imported_not_in_chat)


async def broadcast(settings: Settings, args: argparse.Namespace) -> None:
    """``broadcast``: the preview (how many, how long at the current rates), a confirmation,
    then delivery with a progress bar. Recipients of a channel this process cannot reach (no
    token set here) are left to the running bot, which delivers every broadcast."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    if args.text is not None and not args.text.strip():
        raise StartupError("the message is empty (--text)")
    if args.template and args.text_en:
        raise StartupError("a ready reminder (--template) has its own English text: leave "
                           "out --text-en")
    for flag, text in (("--text", args.text or ""), ("--text-en", args.text_en or "")):
        if len(text) > MAX_TEXT:
            raise StartupError(f"the message is {len(text)} characters long ({flag}); at most "
                               f"{MAX_TEXT}")
    store = await open_store(settings)
    try:
        broadcasts = Broadcasts(store)
        audience = audience_of(args, settings)
        today = utc_now().astimezone(WIB).date()
        try:
            preview = await broadcasts.preview(audience, args.template, today)
        except NotApplicable as exc:
            raise StartupError(
                f"--template {args.template} goes to heirs of claims waiting for documents: "
                f"filter it by --language and --channel only (not {exc})") from None
        if preview.total == 0:
            raise StartupError("nobody matches these filters, so nothing would be sent: "
                               "check --programme, --status, --occupation, --kelurahan, "
                               "--language and --channel")
        if preview.reachable == 0:
            raise StartupError(f"all {preview.total} who match said STOP, so nothing would "
                               f"be sent")
        rates = settings.rules().broadcast_rates
        seconds = sending_seconds(preview.by_channel, rates)
        recipients = load_catalogs().plural("en", Plural(NP_("broadcast.recipients"),
                                                         preview.total))
        print(f"{recipients} ({preview.opted_out} said STOP and are skipped); about "
              f"{duration(seconds)} at "
              + ", ".join(f"{rates[c]:g}/s on {NAMES[c]}"
                          for c in sorted(preview.by_channel)))
        quiet = settings.quiet()
        if quiet is not None:
            print(f"nothing goes out in the quiet hours ({quiet} Jakarta time): what is left "
                  f"then waits for the running bot to send it at {quiet.end:%H:%M}")
        if args.at is not None and args.at <= utc_now():
            raise StartupError(f"{args.at:%Y-%m-%d %H:%M} (Jakarta time) has passed (--at)")
        if not args.yes:
            try:
                answer = await asyncio.to_thread(input, "Send it? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "ya", "yes"):
                print("not sent")
                return
        made = await broadcasts.create(audience, args.text.strip() if args.text else None,
                                       (args.text_en or "").strip() or None,
                                       f"cli:{getpass.getuser()}", utc_now(), args.at,
                                       args.template, today)
        print(f"broadcast {made.broadcast_id}: {made.pending} to send")
        if args.at is not None:
            print(f"scheduled for {args.at:%Y-%m-%d %H:%M} Jakarta time: the running bot "
                  f"sends it then (outside the quiet hours, {quiet or 'none'})")
            return
        if quiet is not None and quiet.covers(utc_now().astimezone(WIB).time()):
            print(f"it is quiet hours ({quiet} Jakarta time): the running bot sends it from "
                  f"{quiet.end:%H:%M}")
            return
        _, conversations = await build(settings, store)
        senders = await broadcast_senders(settings, conversations)
        delivery = BroadcastDelivery(broadcasts, conversations.renderer, senders,
                                     lease=broadcast_lease(settings), quiet=quiet)
        try:
            with Progress("{task.description}", BarColumn(), MofNCompleteColumn(),
                          TimeRemainingColumn()) as bar:
                task = bar.add_task(f"broadcast {made.broadcast_id}", total=made.pending)
                while not delivery.quiet_now():  # quiet hours begun: the bot finishes it
                    done = await delivery.run_once()
                    progress = await broadcasts.progress(made.broadcast_id)
                    bar.update(task, completed=progress.sent + progress.failed)
                    if not done:
                        if not await broadcasts.waiting(made.broadcast_id, senders):
                            break
                        await asyncio.sleep(0.5)  # a 429 or a back-off to wait out
        finally:
            for sender in senders.values():
                await sender.close()
        progress = await broadcasts.progress(made.broadcast_id)
        left = f", {progress.pending} left for the running bot" if progress.pending else ""
        print(f"broadcast {made.broadcast_id}: {progress.sent} sent, {progress.failed} failed, "
              f"{progress.skipped} skipped{left}")
    finally:
        await store.close()


async def broadcast_senders(settings: Settings, conversations: Conversations) -> dict:
    """The channels, only to send (the running bot keeps receiving), within the budgets
    the running bot shares on PostgreSQL."""
    senders: dict = {}
    budgets = pacers(settings, conversations.store)
    if settings.telegram_bot_token is not None:
        telegram = TelegramChannel(settings.telegram_bot_token.get_secret_value(),
                                   settings.telegram_api_base_url, conversations,
                                   settings.telegram_send_concurrency,
                                   pacer=budgets[TELEGRAM])
        await start_telegram(telegram, receiving=False)
        senders[TELEGRAM] = telegram
    if settings.whatsapp_configured:
        from handlers.links import MediaLinks
        from handlers.whatsapp import WhatsAppChannel

        senders[WHATSAPP] = WhatsAppChannel(
            settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
            settings.twilio_whatsapp_from, settings.public_base_url,
            api_base_url=settings.twilio_api_base_url,
            links=MediaLinks(settings.public_base_url,
                             await links_key(conversations.store)),
            store=conversations.store,
            templates=settings.templates(notice_values(conversations.renderer.catalogs).get),
            pacer=budgets[WHATSAPP])
    return senders




def duration(seconds: float) -> str:
    whole = int(seconds) + 1
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


async def broadcast_status(settings: Settings, broadcast_id: int) -> bool:
    store = await open_store(settings, create=False, announce=True)
    try:
        progress = await Broadcasts(store).progress(broadcast_id)
    finally:
        await store.close()
    if progress is None:
        print(f"lindungi: no broadcast {broadcast_id}", file=sys.stderr)
        return False
    cancelled = f", {progress.cancelled} cancelled" if progress.cancelled else ""
    print(f"broadcast {broadcast_id}: {progress.status}; {progress.sent} sent, "
          f"{progress.failed} failed, {progress.skipped} skipped{cancelled}, "
          f"{progress.pending} waiting (of {progress.total}){expected_finish(settings, progress)}")
    return True


def expected_finish(settings: Settings, progress: Progress) -> str:
    """"; done around …" for a broadcast still sending: what is left at the channels' rates,
    from now or its scheduled time, the quiet hours skipped."""
    if progress.status != "sending" or not progress.pending:
        return ""
    now = utc_now()
    start = max(now, progress.scheduled_at or now).astimezone(WIB)
    rules = settings.rules()
    finish = finish_time(start, sending_seconds(progress.pending_by_channel or {},
                                                rules.broadcast_rates), rules.quiet_hours)
    return f"; done around {finish:%Y-%m-%d %H:%M} Jakarta time"


async def broadcast_cancel(settings: Settings, broadcast_id: int) -> bool:
    store = await open_store(settings, create=False, announce=True)
    try:
        before = await Broadcasts(store).progress(broadcast_id)
        if before is None:
            print(f"lindungi: no broadcast {broadcast_id}", file=sys.stderr)
            return False
        if before.status != "sending":
            print(f"lindungi: broadcast {broadcast_id} is already {before.status}",
                  file=sys.stderr)
            return False
        after = await Broadcasts(store).cancel(broadcast_id, f"cli:{getpass.getuser()}",
                                               utc_now())
    finally:
        await store.close()
    print(f"broadcast {broadcast_id} cancelled: {after.sent} sent, {after.cancelled} not sent")
    return True
