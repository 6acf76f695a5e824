"""Lindungi's composition root: read the settings, build the store, engine and channels, run.

    python main.py            run every configured channel, or the terminal chat if none is
    python main.py run        Telegram by long polling, or by webhook with WEBHOOK_BASE_URL
                              (needs TELEGRAM_BOT_TOKEN), and/or WhatsApp by Twilio's webhooks
                              (needs TWILIO_* and PUBLIC_BASE_URL)
    python main.py chat       chat with the bot in this terminal
    python main.py db upgrade apply database migrations (run and chat do it too)
    python main.py staff add --telegram-id ID|--whatsapp NUMBER|--terminal --role admin|verifier
                              [--name NAME] [--area kecamatan:NAME|kelurahan:NAME]
    python main.py staff remove --telegram-id ID|--whatsapp NUMBER|--terminal | staff list
    python main.py staff log [--limit N]
    python main.py import-dtsen FILE.csv   load the city's DTSEN extract (needs DTSEN_HMAC_KEY)
    python main.py export-enrolment --programme ID [--output FILE] [--batch N | --list]
                              the next numbered batch of enrolled workers not sent before, for
                              BPJS Ketenagakerjaan to register (--batch N: that one again)
    python main.py import-kpj FILE.csv     BPJS's answer (nik, kpj): activates them, sends cards
    python main.py verify-card TOKEN       whether a card's QR token is genuine and active
    python main.py consent LD-…            the proof of the consents given (a registration, a claim)
    python main.py rights [--limit N]      the open personal data requests, overdue first
    python main.py rotate-key [--new] [--drop-old]
                              reseal the personal data with the current data key
    python main.py import-members FILE.csv  the programmes' members from before the bot
    python main.py billing --programme ID --month YYYY-MM [--output FILE]
                              the funder's statement: member-months, premium, budget, forecast
    python main.py report --programme ID [--output FILE.csv]
                              target, registered, enrolled, active, lapsed, claims, by place
                              and occupation: a CSV and a chart (PNG)
    python main.py renew --programme ID --cycle NAME [--keep LD-… --reason TEXT] [--yes]
                              carry the members of the cycle before into this one
    python main.py broadcast --text TEXT [--text-en TEXT] | --template NAME
                              [--programme ID] [--status S] [--occupation O] [--kelurahan K]
                              [--language L] [--channel C] [--at 'YYYY-MM-DD HH:MM'] [--yes]
                              a message (or a ready reminder) to every worker of that audience
    python main.py broadcast-status ID     how far a broadcast has got
    python main.py broadcast-cancel ID     stop it
"""

import sys

if __name__ == "__main__":  # before the imports below: see models/migrate_first.py
    from models.migrate_first import migrate_first

    migrate_first(sys.argv[1:])

import argparse
import asyncio
import contextlib
import gc
import getpass
import json
import logging
import os
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path

from bot import rights
from bot.areas import Area, parse_area
from bot.broadcasting import READY
from bot.cards import LINK_LIFETIME_S
from bot.channels import BROADCAST, TELEGRAM, TERMINAL, WHATSAPP
from bot.config import BadSetting, Settings, load_settings
from bot.i18n import N_
from bot.quiet_hours import WIB
from bot.render import Renderer
from bot.roles import ROLES
from bot.templates import notice_values
from bot.validators import Ok, validate_phone
from handlers.broadcast_commands import (
    broadcast,
    broadcast_cancel,
    broadcast_lease,
    broadcast_status,
)
from handlers.broadcasts import BroadcastDelivery, ProgressReports
from handlers.console import LOCAL_CHAT as TERMINAL_CHAT
from handlers.console import TerminalChannel
from handlers.conversations import Conversations, utc_now
from handlers.data_copy import Copies
from handlers.media import MediaStore
from handlers.programme_commands import (
    billing,
    import_members,
    programme_of,
    programme_report,
    renew,
    statement_month,
)
from handlers.startup import (
    StartupError,
    build,
    card_key,
    links_key,
    load_catalogs,
    load_keys,
    not_overwritten,
    open_store,
    pacers,
    start_telegram,
)
from handlers.telegram import InvalidToken, TelegramChannel
from models.broadcasts import Broadcasts
from models.csvfile import BadFile
from models.dtsen import DtsenImporter, recheck_waiting
from models.enrolment_io import (
    BatchTaken,
    KpjImporter,
    batches,
    export_enrolment,
    next_batch,
    verify_card,
)
from models.job_lease import JobLeases
from models.keys import add_key, drop_keys
from models.migrate import upgrade
from models.private_files import private_folder
from models.reminders import ReminderDays, Reminders
from models.retention import Schedule, apply_retention
from models.seal import keys_in_use, seal_all
from models.staff import StaffDirectory
from models.store import Store
from models.vault import vault

log = logging.getLogger("lindungi")
SWEEP_EVERY_S = 600
UPKEEP = "upkeep"
"""The job lease of the sweep, lapses, waiting lists, reminders, retention and pruning."""
PRUNE_EVERY_S = 24 * 3600
RETENTION_EVERY_S = 24 * 3600
UNUSED_FILE_AGE_S = 7 * 24 * 3600
"""A file no claim refers to is kept a week: long past any unfinished claim's idle expiry."""
NOISY_LOGGERS = ("httpx", "httpcore", "aiosqlite", "telegram", "asyncio", "twilio")
"""Libraries whose debug logs carry bot tokens in URLs or NIKs in query parameters (Twilio's
client logs every request's headers at INFO)."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Lindungi chat bot")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run every configured channel (Telegram: long polling; "
                        "WhatsApp: Twilio's webhooks)")
    commands.add_parser("chat", help="chat with the bot in this terminal")
    commands.add_parser("console", help="serve the staff console alone (HOST, PORT)")
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="apply pending migrations")
    staff = commands.add_parser("staff", help="who may use the staff commands").add_subparsers(
        dest="action", required=True)
    add = staff.add_parser("add", help="add a staff member, or change their role")
    who(add)
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--name", help="how they are shown in the record")
    add.add_argument("--username", metavar="NAME",
                     help="their Telegram username, to sign in to the console with it")
    add.add_argument("--area", type=staff_area, metavar="kecamatan:NAME|kelurahan:NAME",
                     help="a verifier sees and decides only the registrations of this "
                          "kecamatan or kelurahan (default: all)")
    who(staff.add_parser("remove", help="take a member's staff rights away"))
    staff.add_parser("list", help="list the staff members")
    log_ = staff.add_parser("log", help="the record of staff actions, newest first")
    log_.add_argument("--limit", type=int, default=50)
    dtsen = commands.add_parser("import-dtsen", help="load a DTSEN extract (CSV with columns "
                                "nik, kk, desil, alamat)")
    dtsen.add_argument("file", type=Path)
    export = commands.add_parser("export-enrolment", help="write the programme's enrolled "
                                 "workers (no KPJ yet) as the CSV batch BPJS Ketenagakerjaan "
                                 "registers")
    export.add_argument("--programme", required=True, metavar="ID",
                        help="the programme's id in the programmes file")
    export.add_argument("--output", type=Path, metavar="FILE",
                        help="default: enrolment-<programme>-batch-<N>-<YYYYMMDD>.csv under "
                             "EXPORTS_DIR")
    export.add_argument("--batch", type=int, metavar="N",
                        help="make batch N again (its workers, as their data are now)")
    export.add_argument("--list", action="store_true", dest="listing",
                        help="the programme's batches: when, by whom, how many")
    kpj = commands.add_parser("import-kpj", help="load BPJS Ketenagakerjaan's KPJ numbers (CSV "
                              "with columns nik, kpj): enrolled workers become active and are "
                              "sent their card")
    kpj.add_argument("file", type=Path)
    cast = commands.add_parser("broadcast", help="send a message to every worker of an "
                               "audience, within the channels' rate limits")
    message = cast.add_mutually_exclusive_group(required=True)
    message.add_argument("--text", help="the message in Indonesian")
    message.add_argument("--template", choices=sorted(READY), help="a ready reminder, filled "
                         "in for each recipient: coverage_ending (workers whose cover has not "
                         "ended: its end date), documents_missing (heirs of claims waiting "
                         "for documents: which)")
    cast.add_argument("--text-en", help="the message for those who chose English (default: "
                      "the Indonesian one)")
    cast.add_argument("--programme", metavar="ID", help="only this programme's workers")
    cast.add_argument("--status", help="only workers with this status (e.g. active)")
    cast.add_argument("--occupation", help="only this occupation (e.g. ojek, nelayan)")
    cast.add_argument("--kelurahan", help="only this kelurahan")
    cast.add_argument("--language", choices=["id", "en"], help="only this language")
    cast.add_argument("--channel", choices=BROADCAST, help="only this channel")
    cast.add_argument("--imported-not-in-chat", action="store_true",
                      help="only members imported from before the bot (import-members) "
                           "whose chat has never written: to invite them")
    cast.add_argument("--at", type=jakarta_time, metavar="'YYYY-MM-DD HH:MM'",
                      help="send then (Jakarta time) instead of now; the running bot sends it")
    cast.add_argument("--yes", action="store_true", help="send without asking to confirm")
    status = commands.add_parser("broadcast-status", help="how far a broadcast has got")
    status.add_argument("id", type=int)
    stop = commands.add_parser("broadcast-cancel", help="stop a broadcast: what is not sent "
                               "yet is not sent")
    stop.add_argument("id", type=int)
    proof = commands.add_parser("consent", help="the proof of the consents given for a "
                                "registration or a claim: each answer, the text shown, when")
    proof.add_argument("reference", help="LD-… (a registration) or JKM-… (a claim)")
    rotate = commands.add_parser("rotate-key", help="reseal every stored personal value with "
                                 "the current data key (after adding one: --new)")
    rotate.add_argument("--new", action="store_true",
                        help="first add a new key to the key file and make it current")
    rotate.add_argument("--drop-old", action="store_true",
                        help="then remove the old keys from the key file, once nothing is "
                             "sealed with them")
    open_rights = commands.add_parser("rights", help="the personal data requests (UU PDP) "
                                      "waiting for staff, overdue first, with their deadlines")
    open_rights.add_argument("--limit", type=int, default=50)
    members = commands.add_parser("import-members", help="load the members programmes enrolled "
                                  "before the bot (CSV: nik, nama, tanggal_lahir, kpj, program, "
                                  "siklus, mulai; no_hp, kelurahan, kecamatan if known)")
    members.add_argument("file", type=Path)
    bill = commands.add_parser("billing", help="the funder's statement of a programme's cycle "
                               "through a month: member-months and premium per funder, budget "
                               "used and left, the forecast to the cycle's end")
    bill.add_argument("--programme", required=True, metavar="ID")
    bill.add_argument("--month", required=True, type=statement_month, metavar="YYYY-MM")
    bill.add_argument("--output", type=Path, metavar="FILE", help="the month-by-month CSV "
                      "(default: billing-<programme>-<cycle>-<month>.csv under EXPORTS_DIR)")
    meeting = commands.add_parser("report", help="a programme's figures for the compliance "
                                  "meeting: target, registered, enrolled, active, lapsed, "
                                  "claims filed and paid, by kecamatan, kelurahan and "
                                  "occupation, as a CSV and a chart (PNG)")
    meeting.add_argument("--programme", required=True, metavar="ID")
    meeting.add_argument("--output", type=Path, metavar="FILE.csv", help="the CSV (the chart "
                         "goes beside it as .png; default: report-<programme>-<date>.csv "
                         "under EXPORTS_DIR)")
    renew = commands.add_parser("renew", help="carry a programme's enrolled and active "
                                "members into its next cycle (DTSEN re-checked, the quota "
                                "respected); a preview first")
    renew.add_argument("--programme", required=True, metavar="ID")
    renew.add_argument("--cycle", required=True, metavar="NAME",
                       help="the cycle to carry them into, as in the programmes file (2027)")
    renew.add_argument("--keep", action="append", default=[], metavar="LD-…",
                       help="carry this member although DTSEN no longer admits them (staff "
                            "checked them); repeat for more")
    renew.add_argument("--reason", help="why the --keep members continue (the staff record)")
    renew.add_argument("--yes", action="store_true", help="renew without asking to confirm")
    verify = commands.add_parser("verify-card", help="check a membership card's QR token")
    verify.add_argument("token", help="the text of the card's QR code (LD1.…)")
    return parser.parse_args(argv)


def who(parser: argparse.ArgumentParser) -> None:
    """The staff member, by one of their chats: a Telegram user id or a WhatsApp number."""
    chat = parser.add_mutually_exclusive_group(required=True)
    chat.add_argument("--telegram-id", type=telegram_id, dest="telegram",
                      help="their numeric Telegram user id")
    chat.add_argument("--whatsapp", type=whatsapp_number,
                      help="their WhatsApp number, e.g. 081234567890 or +6281234567890")
    chat.add_argument("--terminal", action="store_true",
                      help="the terminal chat of this machine (python main.py chat), to try "
                           "the staff commands locally")


def staff_area(text: str) -> Area:
    try:
        return parse_area(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def jakarta_time(text: str) -> datetime:
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=WIB)
    except ValueError:
        raise argparse.ArgumentTypeError("write the time as 'YYYY-MM-DD HH:MM' (Jakarta "
                                         "time), e.g. '2026-12-15 08:00'") from None


def telegram_id(text: str) -> str:
    if not text.isdigit() or int(text) == 0:
        raise argparse.ArgumentTypeError("a Telegram user id is a positive number, e.g. 123456789")
    return str(int(text))


def whatsapp_number(text: str) -> str:
    """The number's digits, as its WhatsApp chat is keyed (``whatsapp:6281234567890``)."""
    checked = validate_phone(text)
    if not isinstance(checked, Ok):
        raise argparse.ArgumentTypeError("a WhatsApp number looks like 081234567890 or "
                                         "+6281234567890")
    return checked.value.lstrip("+")


async def sweep_forever(conversations: Conversations, media: MediaStore | None = None,
                        reminders: Reminders | None = None,
                        retention: Schedule | None = None,
                        leases: JobLeases | None = None) -> None:
    """The upkeep, every ``SWEEP_EVERY_S``; with ``leases``, by one process at a time of
    those sharing the database (the others stand by, and one takes over when it stops)."""
    last_prune = last_retention = 0.0
    while True:
        try:
            if leases is not None and not await leases.hold(
                    UPKEEP, utc_now(), timedelta(seconds=2 * SWEEP_EVERY_S)):
                await asyncio.sleep(SWEEP_EVERY_S)
                continue
            await conversations.sweep()
            if retention is not None and time.time() - last_retention > RETENTION_EVERY_S:
                counts = await apply_retention(conversations.store, utc_now(), retention)
                if any(counts.values()):
                    log.info("retention: %d registrations erased, %d documents of closed "
                             "claims let go", counts["registrations"], counts["documents"])
                last_retention = time.time()
            if reminders is not None and (made := await reminders.run(utc_now())):
                log.info("reminders: %s", ", ".join(
                    f"{count} {kind} ({days} days)" for (kind, days), count in made.items()))
            if media is not None:
                await asyncio.to_thread(Copies(media.folder).prune, LINK_LIFETIME_S)
            if media is not None and time.time() - last_prune > PRUNE_EVERY_S:
                await prune_files(conversations.store, media)
                last_prune = time.time()
        except Exception:
            log.warning("sweep failed", exc_info=True)
        await asyncio.sleep(SWEEP_EVERY_S)


async def prune_files(store: Store, media: MediaStore) -> int:
    """Received files no claim kept, older than any conversation that could still use them."""
    keep = await store.document_paths()
    removed = await asyncio.to_thread(media.prune, keep, time.time() - UNUSED_FILE_AGE_S)
    if removed:
        log.info("%d received files no claim uses were deleted", removed)
    return removed


async def webhook_secret(settings: Settings, store: Store) -> str:
    """TELEGRAM_WEBHOOK_SECRET if set, else a token made once and kept in the database."""
    if settings.telegram_webhook_secret:
        return settings.telegram_webhook_secret.get_secret_value()
    return (await store.secret("telegram-webhook")).hex()


async def run(settings: Settings) -> None:
    """Every configured channel on this event loop: Telegram by long polling, or by its
    webhook (``WEBHOOK_BASE_URL``); WhatsApp by Twilio's webhooks; the webhooks served by
    uvicorn with ``/healthz``. SIGINT or SIGTERM stops it:
    webhooks first (a request under way is finished and stored), then polling, then the
    replies still being sent (``Conversations.stop``)."""
    store = await open_store(settings)
    catalogs, conversations = await build(settings, store)
    media = conversations.media
    # The web side (uvicorn, Starlette, Jinja2; with WhatsApp, Twilio's client and aiohttp,
    # ~28 MB) is imported only where it is served: a webhook, or the staff console
    # (CONSOLE=false: a Telegram bot that polls imports none of it).
    telegram: TelegramChannel | None = None
    whatsapp = None
    web = None
    tasks: list[asyncio.Task] = []
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    running = False
    webhook = settings.webhook_base_url
    hook = None
    leases: JobLeases | None = None
    budgets = pacers(settings, store)
    try:
        if settings.telegram_bot_token is not None:
            telegram = TelegramChannel(settings.telegram_bot_token.get_secret_value(),
                                       settings.telegram_api_base_url, conversations,
                                       settings.telegram_send_concurrency, media=media,
                                       pacer=budgets[TELEGRAM])
            conversations.add_channel(TELEGRAM, telegram)
            if webhook is None:
                await start_telegram(telegram)
            else:
                from handlers.web import TelegramHook

                hook = TelegramHook(telegram, await webhook_secret(settings, store),
                                    answers=settings.telegram_webhook_answers)
        if settings.whatsapp_configured:
            from handlers.links import MediaLinks
            from handlers.whatsapp import WhatsAppChannel

            kinds = notice_values(catalogs)
            templates = settings.templates(kinds.get)
            if missing := templates.missing(sorted(kinds)):
                log.warning("no WhatsApp template for %s: past the 24 hours these notices "
                            "wait until the chat writes again (WHATSAPP_TEMPLATES_FILE)",
                            ", ".join(missing))
            whatsapp = WhatsAppChannel(
                settings.twilio_account_sid, settings.twilio_auth_token.get_secret_value(),
                settings.twilio_whatsapp_from, settings.public_base_url,
                api_base_url=settings.twilio_api_base_url, media=media,
                links=MediaLinks(settings.public_base_url, await links_key(store)),
                store=store, templates=templates, pacer=budgets[WHATSAPP])
            conversations.add_channel(WHATSAPP, whatsapp)
        await conversations.start()
        running = True
        if whatsapp is not None or hook is not None or settings.console:
            from handlers.staff_console import ConsoleDeps
            from handlers.web import SignedMedia, WebServer, web_app

            app = web_app(conversations, whatsapp, store, settings.public_base_url,
                          settings.twilio_auth_token.get_secret_value() if whatsapp else None,
                          on_status=whatsapp.status_report if whatsapp else None,
                          media=SignedMedia(await links_key(store),
                                            conversations.engine.card_key,
                                            conversations.engine.programmes, media),
                          telegram=hook,
                          console=ConsoleDeps(conversations, settings.console_url(), media)
                          if settings.console else None)
            web = WebServer(app, settings.host, settings.port)
            try:
                await web.start()
            except OSError as exc:
                raise StartupError(f"cannot serve the webhooks on {settings.host}:"
                                   f"{settings.port} (HOST, PORT): "
                                   f"{exc.strerror or exc}") from exc
        if hook is not None:
            # Only now that the server listens: Telegram posts waiting updates at once.
            await start_telegram(telegram, f"{webhook}/telegram", hook.secret,
                                 connections=settings.telegram_webhook_connections)
        coverage_days, documents_days = settings.reminder_days()
        leases = JobLeases(store, conversations.instance)
        tasks.append(asyncio.create_task(sweep_forever(
            conversations, media, Reminders(store, ReminderDays(coverage_days, documents_days)),
            Schedule(*settings.retention()), leases)))
        tasks.append(asyncio.create_task(BroadcastDelivery(
            Broadcasts(store), conversations.renderer, conversations.senders,
            lease=broadcast_lease(settings),
            quiet=settings.quiet()).run_forever()))
        tasks.append(asyncio.create_task(ProgressReports(
            Broadcasts(store), conversations.renderer, conversations.senders,
            conversations.engine.rules, leases=leases).run_forever()))
        poller = (asyncio.create_task(telegram.poll())
                  if telegram is not None and hook is None else None)
        watched = [asyncio.create_task(stopping.wait())]
        watched += [task for task in (poller, web.task if web else None) if task is not None]
        tasks += watched
        for sig in (signal.SIGINT, signal.SIGTERM):
            # Stopping mid-poll is safe: unconfirmed updates come again and repeats are dropped.
            loop.add_signal_handler(sig, stopping.set)
        # What was loaded to start (~130,000 objects: modules, settings, the engine's rules)
        # stays for the process's life: kept out of the collector's reach, a full collection
        # scans only the objects made since, instead of pausing the loop ~40 ms and more,
        # holding back the replies due meanwhile to send them in one burst.
        gc.freeze()
        log.info("Lindungi is running on %s", " and ".join(
            name for name, channel in (("Telegram", telegram), ("WhatsApp", whatsapp))
            if channel is not None))
        await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        web_died = web is not None and web.task.done() and not stopping.is_set()
        if web is not None:
            await web.stop()
        revoked = False
        if poller is not None:
            poller.cancel()
            try:
                await poller
            except asyncio.CancelledError:
                pass
            except InvalidToken:
                revoked = True
        running = False
        await conversations.stop()
        if revoked:
            raise StartupError("Telegram no longer accepts the bot token (TELEGRAM_BOT_TOKEN)")
        if web_died:
            raise StartupError("the web server for the webhooks stopped")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        if web is not None:
            await web.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if running:
            await conversations.stop()
        if leases is not None:
            await leases.release_all()
        if telegram is not None:
            await telegram.close()
        if whatsapp is not None:
            await whatsapp.close()
        await store.close()


async def run_console(settings: Settings) -> None:
    """The staff console alone, for an office whose bot runs elsewhere (or not yet): the
    notices it stores (a sign-in link, a worker told of a decision) are sent by the running
    bot; a link for the terminal chat of this machine is printed here."""
    from handlers.staff_console import ConsoleDeps
    from handlers.staff_console.signin import PrintedLinks
    from handlers.web import WebServer, web_app

    store = await open_store(settings)
    _, conversations = await build(settings, store)
    conversations.add_channel(TERMINAL, PrintedLinks())
    web = WebServer(web_app(conversations, None, store, None, None,
                            console=ConsoleDeps(conversations, settings.console_url(),
                                                conversations.media)),
                    settings.host, settings.port)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    try:
        await conversations.start()
        try:
            await web.start()
        except OSError as exc:
            raise StartupError(f"cannot serve the console on {settings.host}:{settings.port} "
                               f"(HOST, PORT): {exc.strerror or exc}") from exc
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stopping.set)
        print(f"lindungi: the staff console is at {settings.console_url()}/ "
              f"(listening on {settings.host}:{web.port})", flush=True)
        await asyncio.wait([asyncio.create_task(stopping.wait()), web.task],
                           return_when=asyncio.FIRST_COMPLETED)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await web.stop()
        await conversations.stop()
        await store.close()


async def run_chat(settings: Settings) -> None:
    store = await open_store(settings)
    catalogs, conversations = await build(settings, store)
    intro = catalogs.text(settings.default_locale, N_("terminal.intro"))
    terminal = TerminalChannel(conversations, intro)
    conversations.add_channel("terminal", terminal)
    sweeper: asyncio.Task | None = None
    try:
        await conversations.start()
        sweeper = asyncio.create_task(sweep_forever(conversations))
        await terminal.chat()
    finally:
        if sweeper is not None:
            # Awaited, not only cancelled: a sweep cut short in a transaction must roll back
            # before the store closes, or the process hangs on exit.
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
            await conversations.stop()
        await store.close()


async def manage_staff(settings: Settings, args: argparse.Namespace) -> None:
    """The ``staff`` commands; every change is recorded with the operator's login as actor.
    Listing reads a database that exists; adding makes one if there is none yet."""
    changes = args.action in ("add", "remove")
    store = await open_store(settings, create=changes, announce=not changes)
    directory = StaffDirectory(store)
    actor = f"cli:{getpass.getuser()}"
    now = utc_now()
    try:
        if getattr(args, "terminal", False):
            channel, chat_id = TERMINAL, TERMINAL_CHAT
        elif getattr(args, "telegram", None):
            channel, chat_id = TELEGRAM, args.telegram
        else:
            channel, chat_id = WHATSAPP, getattr(args, "whatsapp", None)
        if args.action == "add":
            area = str(args.area) if args.area else None
            new = await directory.add(channel, chat_id, args.role, args.name, actor, now, area,
                                      args.username)
            print(f"{'added' if new else 'updated'}: {channel} {chat_id} as {args.role}"
                  + (f" for {area}" if area else ""))
        elif args.action == "remove":
            if not await directory.remove(channel, chat_id, actor, now):
                raise StartupError(f"{channel} {chat_id} is not staff")
            print(f"removed: {channel} {chat_id}")
        elif args.action == "list":
            members = await directory.members()
            if not members:
                print("nobody is staff yet: add someone with python main.py staff add "
                      "--telegram-id ID (or --whatsapp NUMBER, or --terminal) --role admin")
            for m in members:
                print(f"{m.channel} {m.chat_id}\t{m.role}\t{m.name or '-'}\t"
                      f"since {m.added_at:%Y-%m-%d}" + (f"\t{m.area}" if m.area else ""))
        else:
            for a in await directory.actions(args.limit):
                detail = json.dumps(a.detail, ensure_ascii=False) if a.detail else ""
                print(f"{a.at:%Y-%m-%d %H:%M:%S} UTC\t{a.actor}\t{a.action}\t"
                      f"{a.subject or '-'}\t{detail}".rstrip())
    finally:
        await store.close()


async def import_dtsen(settings: Settings, path: Path, size: int) -> None:
    """Load a DTSEN extract with a progress bar; bad rows are listed as they are found."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    key = settings.dtsen_key()
    store = await open_store(settings)
    importer = DtsenImporter(store, key, utc_now().astimezone(WIB).date(), clock=utc_now)
    columns = ("{task.description}", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task(path.name, total=size)
            report = await importer.import_file(
                path, on_bad=lambda line, why: progress.console.print(
                    f"line {line}: {why}", markup=False, highlight=False),
                on_progress=lambda done: progress.update(task, completed=done))
        waiting = await recheck_waiting(store, key, settings.programmes())
    except BadFile as exc:
        raise StartupError(f"{path}: {exc}") from exc
    finally:
        await store.close()
    print(f"{report.rows} rows: {report.added} added, {report.changed} changed, "
          f"{report.unchanged} unchanged, {report.bad} bad")
    if waiting.waiting:
        print(f"{waiting.waiting} registration(s) waiting for a verifier, against this "
              f"extract: {waiting.eligible} within their programme's desil cut-off (approve "
              f"them in /tinjau), {waiting.above} above it, {waiting.missing} not in it, "
              f"{waiting.unchecked} to check by hand (no matching consented, or no programme)")


async def export_batch(settings: Settings, programme_id: str, output: Path | None,
                       again: int | None, listing: bool) -> None:
    """``export-enrolment``: the next numbered batch (the enrolled not sent before), batch
    ``again`` made anew, or (``listing``) the history of batches. The file holds full NIKs, so
    it is made readable by its owner only, and never written over."""
    programme = programme_of(settings, programme_id)
    now = utc_now()
    store = await open_store(settings, create=False, announce=True)
    try:
        made = await batches(store, programme.id)
        if listing:
            for b in made:
                starts = f", cover from {b.starts_on:%Y-%m-%d}" if b.starts_on else ""
                print(f"batch {b.number}: {b.created_at.astimezone(WIB):%Y-%m-%d %H:%M} WIB "
                      f"by {b.created_by}, {b.workers} worker{'' if b.workers == 1 else 's'}"
                      f"{starts}, {b.file_name}")
            if not made:
                print(f"no batch of {programme.id} yet")
            return
        earlier = next((b for b in made if b.number == again), None)
        if again is not None and earlier is None:
            raise StartupError(f"{programme.id} has no batch {again}" + (
                f"; its batches are 1 to {made[-1].number}" if made else ": none yet"))
        number = again if again is not None else await next_batch(store, programme.id)
        path = output or private_folder(settings.exports_dir) / (
            f"enrolment-{programme.id}-batch-{number}-{now.astimezone(WIB):%Y%m%d}.csv")
        written = await export_enrolment(store, load_catalogs(), programme, path,
                                         f"cli:{getpass.getuser()}", now, number, earlier)
    except FileExistsError:
        raise not_overwritten(path) from None
    except BatchTaken:
        raise StartupError(f"another export made batch {number} meanwhile: run it again") \
            from None
    except OSError as exc:
        raise StartupError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        await store.close()
    if earlier is not None:
        gone = earlier.workers - written
        print(f"batch {number} again: {written} worker{'' if written == 1 else 's'} written "
              f"to {path}" + (f" ({gone} no longer registered)" if gone > 0 else ""))
    elif written:
        print(f"batch {number}: {written} worker{'' if written == 1 else 's'} written to {path}")
    else:
        print(f"nothing to send: every enrolled worker of {programme.id} is in a batch already"
              + (f" (the last: batch {made[-1].number})" if made else ""))


async def import_kpj(settings: Settings, path: Path) -> None:
    """``import-kpj``: the branch's KPJ numbers; bad rows are listed as they are found, and
    the cards go out from the running bot (this process sends nothing)."""
    catalogs = load_catalogs()
    store = await open_store(settings)
    try:
        importer = KpjImporter(store, Renderer(catalogs), settings.programmes(),
                               await card_key(settings, store), f"cli:{getpass.getuser()}",
                               utc_now().astimezone(WIB).date(), clock=utc_now)
        report = await importer.import_file(
            path, on_bad=lambda line, why: print(f"line {line}: {why}", file=sys.stderr))
    except BadFile as exc:
        raise StartupError(f"{path}: {exc}") from exc
    finally:
        await store.close()
    print(f"{report.rows} rows: {report.activated} activated, {report.unchanged} unchanged, "
          f"{report.bad} bad")


async def check_card(settings: Settings, token: str) -> bool:
    """``verify-card``: one line on whether the card is genuine and active; True if both."""
    store = await open_store(settings, create=False, announce=True)
    try:
        genuine, line = await verify_card(store, await card_key(settings, store), token,
                                          settings.programmes(),
                                          utc_now().astimezone(WIB).date())
    finally:
        await store.close()
    print(line)
    return genuine


async def consent_proof(settings: Settings, reference: str) -> bool:
    """``consent REF``: every consent answer kept for a registration or claim, each with the
    text shown in its language and whether the catalogs' text still matches its hash."""
    store = await open_store(settings, create=False, announce=True)
    try:
        async with store.transaction() as tx:
            proofs = await tx.consents_of(reference.strip().upper(), load_catalogs())
    finally:
        await store.close()
    if not proofs:
        print(f"lindungi: no consent recorded for {reference}", file=sys.stderr)
        return False
    texts: dict[tuple[str, str], str] = {}
    for p in proofs:
        channel, _, chat_id = p.chat_key.partition(":")
        if len(chat_id) > 9:  # a phone number: enough to tell it, not to read it out
            chat_id = f"{chat_id[:5]}…{chat_id[-4:]}"
        chat = f"{channel}:{chat_id}"
        print(f"{p.purpose}: {'given' if p.given else 'refused'}, version {p.version}, "
              f"{p.locale}, {chat}, {p.at.astimezone(WIB):%Y-%m-%d %H:%M} WIB")
        print(f"  text sha256 {p.text_sha256}: "
              + ("matches the catalogs' text" if p.text_matches else "DOES NOT match the "
                 "catalogs' text of that version"))
        if p.text is not None:
            texts.setdefault((p.version, p.locale), p.text)
    for (version, locale), text in texts.items():
        print(f"\n--- the text shown (version {version}, {locale}) ---\n{text}")
    return True


async def list_rights(settings: Settings, limit: int) -> None:
    """``rights``: the requests under the data protection law waiting for staff, nearest
    deadline (so the overdue) first: what to decide today to answer within 3 × 24 hours."""
    store = await open_store(settings, create=False, announce=True)
    now = utc_now()
    try:
        async with store.transaction() as tx:
            waiting, total = await tx.open_rights(max(1, limit))
    finally:
        await store.close()
    print(f"{total} open request(s) under UU PDP 27/2022"
          + (f", showing {len(waiting)}" if len(waiting) < total else ""))
    for r in waiting:
        late = "OVERDUE " if rights.overdue(r, now) else ""
        change = f" {r.field}" if r.field else ""
        print(f"{late}{r.number}  {r.kind}{change}  {r.reference}  asked "
              f"{r.created_at.astimezone(WIB):%Y-%m-%d %H:%M}  due "
              f"{r.deadline.astimezone(WIB):%Y-%m-%d %H:%M} WIB  ({r.chat_key.split(':')[0]})")
    if waiting:
        print("Decide in the chat: /setujuihak NUMBER, or /tolakhak NUMBER reason.")


async def rotate_key(settings: Settings, new: bool, drop_old: bool) -> bool:
    """``rotate-key``: every value sealed with an older key (or not at all) is resealed with
    the current one, batch by batch; run again after an interruption, it goes on."""
    if (new or drop_old) and settings.data_keys:
        raise StartupError("--new and --drop-old change the key file; with DATA_KEYS set, "
                           "change DATA_KEYS itself (a new key listed and made current)")
    if new:
        load_keys(settings)  # a missing key file is made first, then the new key added to it
        print(f"lindungi: new data key {add_key(settings.data_keys_file)} is current")
    store = await open_store(settings, create=False, announce=True)
    try:
        resealed = await seal_all(store.engine, vault())
        left = await keys_in_use(store.engine, vault().key_ids)
    finally:
        await store.close()
    print("resealed with key " + vault().current + ": " + ", ".join(
        f"{count} {table}" for table, count in resealed.items()))
    old = [key_id for key_id in vault().key_ids if key_id != vault().current]
    print("values per key: " + ", ".join(f"{k} {n}" for k, n in left.items() if n or k != "none"))
    if any(left[k] for k in old) or left.get("none"):
        print("lindungi: some values are not sealed with the current key yet: run again",
              file=sys.stderr)
        return False
    if drop_old and old:
        print("removed from the key file: " + ", ".join(
            drop_keys(settings.data_keys_file, vault().current)))
    elif old:
        print(f"nothing is sealed with {', '.join(old)} now: they may be removed "
              f"(--drop-old), once no backup made before today needs them")
    return True


async def db_upgrade(settings: Settings) -> None:
    load_keys(settings)
    store = Store.connect(settings.database_url)
    try:
        await upgrade(store.engine)
    except Exception as exc:
        raise StartupError(f"cannot open the database (DATABASE_URL): {exc}") from exc
    finally:
        await store.close()


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_libraries()


def quiet_libraries() -> None:
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # whatever it creates (the database, files, exports) is the bot's alone
    args = parse_args(argv)
    try:
        settings = load_settings()
        settings.programmes()
        if settings.whatsapp_templates_file is not None:
            settings.templates(notice_values(load_catalogs()).get)
    except BadSetting as exc:
        for line in str(exc).splitlines():
            print(f"lindungi: {line}", file=sys.stderr)
        return 2
    channels = settings.telegram_bot_token is not None or settings.whatsapp_configured
    command = args.command or ("run" if channels else "chat")
    # The operator commands report for themselves: a log line per worker would drown that.
    quiet = command in ("chat", "export-enrolment", "import-kpj", "verify-card", "consent",
                        "rights", "rotate-key", "broadcast", "renew", "import-members",
                        "billing", "report", "broadcast-status", "broadcast-cancel")
    configure_logging("WARNING" if quiet else settings.log_level)
    try:
        if command == "db":
            asyncio.run(db_upgrade(settings))
            print("lindungi: database is up to date")
        elif command == "staff":
            asyncio.run(manage_staff(settings, args))
        elif command == "import-dtsen":
            if not args.file.is_file():
                raise StartupError(f"no such file: {args.file}")
            asyncio.run(import_dtsen(settings, args.file, args.file.stat().st_size))
        elif command == "export-enrolment":
            asyncio.run(export_batch(settings, args.programme, args.output, args.batch,
                                     args.listing))
        elif command == "import-kpj":
            if not args.file.is_file():
                raise StartupError(f"no such file: {args.file}")
            asyncio.run(import_kpj(settings, args.file))
        elif command == "broadcast":
            asyncio.run(broadcast(settings, args))
        elif command == "broadcast-status":
            if not asyncio.run(broadcast_status(settings, args.id)):
                return 1
        elif command == "broadcast-cancel":
            if not asyncio.run(broadcast_cancel(settings, args.id)):
                return 1
        elif command == "consent":
            if not asyncio.run(consent_proof(settings, args.reference)):
                return 1
        elif command == "rotate-key":
            if not asyncio.run(rotate_key(settings, args.new, args.drop_old)):
                return 1
        elif command == "rights":
            asyncio.run(list_rights(settings, args.limit))
        elif command == "import-members":
            if not args.file.is_file():
                raise StartupError(f"no such file: {args.file}")
            asyncio.run(import_members(settings, args.file))
        elif command == "billing":
            asyncio.run(billing(settings, args.programme, args.month, args.output))
        elif command == "report":
            asyncio.run(programme_report(settings, args.programme, args.output, utc_now()))
        elif command == "renew":
            asyncio.run(renew(settings, args.programme, args.cycle, args.keep, args.reason,
                              args.yes, utc_now()))
        elif command == "verify-card":
            if not asyncio.run(check_card(settings, args.token)):
                return 1
        elif command == "console":
            asyncio.run(run_console(settings))
        elif command == "run":
            if settings.telegram_bot_token is None and not settings.whatsapp_configured:
                raise StartupError("no channel configured: set TELEGRAM_BOT_TOKEN, "
                                   "or use `python main.py chat`")
            asyncio.run(run(settings))
        else:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(run_chat(settings))
    except BadSetting as exc:
        print(f"lindungi: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"lindungi: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
