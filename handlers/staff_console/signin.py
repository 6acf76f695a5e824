"""Signing in without a password: a staff member types their Telegram id or username, or
their WhatsApp number; the bot sends a one-time link to that chat. Opening the link shows a
button (a link preview fetching the address must not use it up); pressing it starts the
session. The answer to a request is the same whether or not the account is staff."""

import hmac
import logging
import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.channels import TELEGRAM, TERMINAL, WHATSAPP
from bot.i18n import LOCALES, N_
from bot.limits import CONSOLE_ACCOUNT, CONSOLE_ADDRESS
from bot.messages import Notify, Reply
from bot.roles import SESSION_IDLE, SIGN_IN_LINK_LIFE
from bot.validators import Ok, validate_phone
from handlers.staff_console.app import (
    COOKIE,
    PREFIX,
    ConsoleDeps,
    View,
    navigation,
    read_form,
    refusal,
    same_origin,
    with_headers,
)
from models.staff import Member

log = logging.getLogger("lindungi.console")

LANG_COOKIE = "lindungi_lang"
TERMINAL_WORDS = {"terminal", "lokal", "local"}


def accounts(typed: str) -> list[tuple[str, str | None, str | None]]:
    """The accounts (channel, chat id, username) what was typed can name: a Telegram id,
    ``@username``, a WhatsApp number in any usual form, or this machine's terminal."""
    text = typed.strip()
    found: list[tuple[str, str | None, str | None]] = []
    if text.casefold() in TERMINAL_WORDS:
        return [(TERMINAL, "local", None)]
    if re.fullmatch(r"@?[A-Za-z][A-Za-z0-9_]{3,31}", text):
        return [(TELEGRAM, None, text.lstrip("@").casefold())]
    digits = re.sub(r"[\s.\-()]", "", text)
    if re.fullmatch(r"\d{4,15}", digits):
        found.append((TELEGRAM, digits, None))
    phone = validate_phone(text)
    if isinstance(phone, Ok):
        found.append((WHATSAPP, phone.value.lstrip("+"), None))
    return found


def routes() -> list[Route]:
    return [Route("/", home, methods=["GET"]),
            Route("/signin", signin_form, methods=["GET"]),
            Route("/signin", signin_request, methods=["POST"]),
            Route("/link/{token}", link_page, methods=["GET"]),
            Route("/link", link_use, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/language", language, methods=["POST"])]


def _deps(request: Request) -> ConsoleDeps:
    return request.app.state.console


def _next(value: str | None) -> str:
    """Where to go back to after choosing a language: a page of the console only."""
    if value and value.startswith(PREFIX + "/") and not value.startswith("//") and \
            "\\" not in value and len(value) < 200:
        return value
    return PREFIX + "/"


async def home(request: Request) -> Response:
    deps = _deps(request)
    signed = await deps.access.session(request.cookies.get(COOKIE), deps.clock())
    if signed is None:
        return with_headers(RedirectResponse(PREFIX + "/signin", status_code=303))
    first = View(request, deps, signed, None, deps.clock())
    pages = navigation(signed)
    return with_headers(first.back(pages[0][0] if pages else "/signin"))


async def signin_form(request: Request) -> Response:
    deps = _deps(request)
    view = View(request, deps, None, None, deps.clock())
    response = view.page("signin.html", sent=False)
    return with_headers(_remember_language(response, request))


async def signed_out_form(request: Request) -> tuple[View, Response | None]:
    """A form posted before signing in (no session, so no CSRF token): it must come from
    the console's own pages."""
    deps = _deps(request)
    form = await read_form(request)
    view = View(request, deps, None, form, deps.clock())
    if form is None or not same_origin(request):
        return view, refusal(request, deps, None, 403, N_("console.error.csrf"))
    return view, None


async def signin_request(request: Request) -> Response:
    view, refused = await signed_out_form(request)
    if refused is not None:
        return refused
    deps, form = view.deps, view.form
    typed = form.get("account", "").strip()[:64]
    if not typed:
        return with_headers(view.page("signin.html", status_code=400, sent=False,
                                      error=view.t(N_("console.signin.empty"))))
    address = request.client.host if request.client else "?"
    found: list[Member] = []
    for channel, chat_id, username in accounts(typed):
        member = await deps.access.find_staff(channel, chat_id, username)
        if member is not None:
            found.append(member)
    refused = False

    async def counted(ctx, turn) -> None:
        nonlocal refused
        key = typed.casefold()
        refused = await CONSOLE_ACCOUNT.reached(ctx, key) or \
            await CONSOLE_ADDRESS.reached(ctx, address)
        if not refused:
            turn.do(CONSOLE_ACCOUNT.count(key))
            turn.do(CONSOLE_ADDRESS.count(address))

    await deps.conversations.act(counted)
    links = [] if refused else [(m, await deps.access.issue_link(m, deps.clock()))
                                for m in found]

    async def send(ctx, turn) -> None:
        for member, token in links:
            turn.do(Notify(f"{member.channel}:{member.chat_id}", view.locale, (Reply(
                N_("notice.console_signin"), {
                    "name": member.name or member.chat_id,
                    "link": f"{deps.base_url.rstrip('/')}/link/{token}",
                    "minutes": int(SIGN_IN_LINK_LIFE.total_seconds() // 60)}),)))

    if links:
        await deps.conversations.act(send)
    if refused:
        log.warning("console: too many sign-in requests (%s)", address)
        return with_headers(view.page("signin.html", status_code=429, sent=False,
                                      error=view.t(N_("console.signin.too_many"))))
    log.info("console: sign-in link asked for %d staff accounts", len(found))
    return with_headers(view.page("signin.html", sent=True))


def expired(view: View) -> Response:
    return with_headers(view.page("signin.html", status_code=410, sent=False,
                                  error=view.t(N_("console.signin.expired"))))


async def link_page(request: Request) -> Response:
    """What a link opens: who it signs in, and the button that does it."""
    deps = _deps(request)
    token = request.path_params["token"][:100]
    view = View(request, deps, None, None, deps.clock())
    member = await deps.access.link_member(token, deps.clock())
    if member is None:
        return expired(view)
    return with_headers(view.page("link.html", token=token, member=member))


async def link_use(request: Request) -> Response:
    view, refused = await signed_out_form(request)
    if refused is not None:
        return refused
    deps, form = view.deps, view.form
    session = await deps.access.redeem(form.get("token", "")[:100], view.locale, deps.clock())
    if session is None:
        return expired(view)
    response = RedirectResponse(PREFIX + "/", status_code=303)
    # Secure always: browsers keep such a cookie from http://127.0.0.1 and localhost too;
    # anywhere else the console is served over TLS.
    response.set_cookie(COOKIE, session, max_age=int(SESSION_IDLE.total_seconds()) * 48,
                        path=PREFIX, secure=True, httponly=True, samesite="strict")
    return with_headers(response)


async def signout(request: Request) -> Response:
    deps = _deps(request)
    signed = await deps.access.session(request.cookies.get(COOKIE), deps.clock())
    form = await read_form(request)
    if signed is not None and form is not None and same_origin(request) and \
            hmac.compare_digest(form.get("csrf", "").encode(), signed.csrf.encode()):
        await deps.access.end(signed, deps.clock())
    response = RedirectResponse(PREFIX + "/signin", status_code=303)
    response.delete_cookie(COOKIE, path=PREFIX, secure=True, httponly=True,
                           samesite="strict")
    return with_headers(response)


async def language(request: Request) -> Response:
    """Indonesian or English, for this session (or this browser, before signing in)."""
    deps = _deps(request)
    form = await read_form(request) or {}
    chosen = form.get("lang") if form.get("lang") in LOCALES else LOCALES[0]
    signed = await deps.access.session(request.cookies.get(COOKIE), deps.clock())
    if signed is not None and same_origin(request) and \
            hmac.compare_digest(form.get("csrf", "").encode(), signed.csrf.encode()):
        await deps.access.set_locale(signed, chosen)
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path=PREFIX,
                        secure=True, samesite="strict")
    return with_headers(response)


def _remember_language(response: Response, request: Request) -> Response:
    asked = request.query_params.get("lang")
    if asked in LOCALES:
        response.set_cookie(LANG_COOKIE, asked, max_age=365 * 86400, path=PREFIX,
                            samesite="strict")
    return response



class PrintedLinks:
    """The terminal chat's messages, for ``main.py console``: whoever sits at this machine's
    terminal is that chat (``staff add --terminal``), so its sign-in link is printed."""

    async def send(self, chat_id: str, message) -> None:
        print(message.text, flush=True)
