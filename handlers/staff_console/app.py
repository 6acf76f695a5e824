"""The console's plumbing: what it needs, the Jinja2 environment, and the guard every page
goes through (session, role, CSRF), so each page is only what it shows and does."""

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape
from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.i18n import LOCALES, N_, Catalogs
from bot.programmes import Programmes
from bot.quiet_hours import WIB
from bot.render import Renderer
from bot.roles import (
    ADMIN,
    BROADCASTS,
    CLAIMS,
    CLAIMS_WORK,
    DASHBOARDS,
    REGISTRATIONS,
    STAFF,
    VERIFIER,
    VIEWER,
    may,
)
from bot.rules import Rules
from bot.validators import mask_nik
from handlers.conversations import Conversations
from handlers.media import MediaStore
from models.console_access import ConsoleAccess, Signed
from models.store import Store

log = logging.getLogger("lindungi.console")

PREFIX = "/console"
COOKIE = "lindungi_console"
HERE = Path(__file__).parent


@dataclass
class ConsoleDeps:
    """What the pages use: the bot's own store and conversations (a decision here is stored
    and its notices sent as from the chat), and where sign-in links point."""

    conversations: Conversations
    base_url: str
    """The console's address as staff reach it (``CONSOLE_BASE_URL``), for sign-in links."""
    files: MediaStore | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    flashes: dict[int, list[str]] = field(default_factory=dict)
    """What the last action came to, per session, shown once on the next page."""
    figures: dict[tuple[str, str], tuple[Any, datetime]] = field(default_factory=dict)
    """The dashboards' charts lately counted, by programme and language
    (``figures.fresh_charts``)."""

    @property
    def store(self) -> Store:
        return self.conversations.store

    @property
    def access(self) -> ConsoleAccess:
        return ConsoleAccess(self.store)

    @property
    def catalogs(self) -> Catalogs:
        return self.conversations.renderer.catalogs

    @property
    def renderer(self) -> Renderer:
        return self.conversations.renderer

    @property
    def programmes(self) -> Programmes | None:
        return self.conversations.engine.programmes

    @property
    def rules(self) -> Rules:
        return self.conversations.engine.rules


class View:
    """One request that passed the guard: who, their language, the form, and how to answer."""

    def __init__(self, request: Request, deps: ConsoleDeps, signed: Signed | None,
                 form: MultiDict | None, now: datetime):
        self.request, self.deps, self.signed, self.form, self.now = (
            request, deps, signed, form or MultiDict(), now)
        self.locale = signed.locale if signed else _locale_of(request)

    def t(self, msgid: str, **params: Any) -> str:
        return self.deps.catalogs.text(self.locale, msgid, params)

    def say(self, text: str) -> None:
        """Show ``text`` on the next page this session opens."""
        self.deps.flashes.setdefault(self.signed.session_id, []).append(text)

    def said(self, turn) -> None:
        for reply in turn.replies:
            self.say(self.deps.renderer.render(reply, self.locale).text)

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        flashes = self.deps.flashes.pop(self.signed.session_id, []) if self.signed else []
        html = ENV.get_template(template).render(
            view=self, locale=self.locale, signed=self.signed, flashes=flashes,
            csrf=self.signed.csrf if self.signed else "", prefix=PREFIX,
            nav=navigation(self.signed), **context)
        return HTMLResponse(html, status_code=status_code, headers=NO_STORE)

    def back(self, path: str) -> RedirectResponse:
        return RedirectResponse(PREFIX + path, status_code=303)

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()[:100]


NO_STORE = {"Cache-Control": "private, no-store"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; "
                               "object-src 'self'; frame-src 'self'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
"""Every answer: no script or style from elsewhere, no framing by other sites, and no link
(a sign-in token in the address) sent to another site as a referrer ("no-referrer" would
make the browser send "Origin: null" with our own forms)."""

PAGES = ((REGISTRATIONS, "/registrations", N_("console.nav.registrations")),
         (CLAIMS_WORK, "/claims", N_("console.nav.claims")),
         (DASHBOARDS, "/programmes", N_("console.nav.programmes")),
         (BROADCASTS, "/broadcasts", N_("console.nav.broadcasts")),
         (DASHBOARDS, "/dashboards", N_("console.nav.dashboards")),
         (STAFF, "/staff", N_("console.nav.staff")),
         (STAFF, "/audit", N_("console.nav.audit")))


def navigation(signed: Signed | None) -> list[tuple[str, str]]:
    if signed is None:
        return []
    return [(path, label) for permission, path, label in PAGES
            if may(signed.member.role, permission)]


def _locale_of(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get("lindungi_lang")
    return asked if asked in LOCALES else LOCALES[0]


Handler = Callable[[View], Awaitable[Response]]


def guarded(permission: str, handler: Handler, *, methods=("GET",)) -> Callable:
    """The endpoint of a page: a session (else to sign-in), the role's permission (else 403),
    and for a POST the form's CSRF token and a same-origin request (else 403, nothing done)."""

    async def endpoint(request: Request) -> Response:
        deps: ConsoleDeps = request.app.state.console
        now = deps.clock()
        signed = await deps.access.session(request.cookies.get(COOKIE), now)
        if signed is None:
            if request.method == "GET":
                return with_headers(RedirectResponse(f"{PREFIX}/signin", status_code=303))
            return refusal(request, deps, None, 401, N_("console.error.signed_out"))
        if not may(signed.member.role, permission):
            log.warning("console: %s (%s) refused %s %s", signed.actor, signed.member.role,
                        request.method, request.url.path)
            return refusal(request, deps, signed, 403, N_("console.error.role"))
        form = None
        if request.method == "POST":
            form = await read_form(request)
            if form is None:
                return refusal(request, deps, signed, 413, N_("console.error.too_big"))
            if not same_origin(request) or not hmac.compare_digest(
                    form.get("csrf", "").encode(), signed.csrf.encode()):
                log.warning("console: %s posted %s with a missing or wrong CSRF token",
                            signed.actor, request.url.path)
                return refusal(request, deps, signed, 403, N_("console.error.csrf"))
        return with_headers(await handler(View(request, deps, signed, form, now)))

    return endpoint


def same_origin(request: Request) -> bool:
    """A browser names the page a form came from (``Origin``): it must be this site."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")


def refusal(request: Request, deps: ConsoleDeps, signed: Signed | None, status: int,
            msgid: str) -> Response:
    view = View(request, deps, signed, None, deps.clock())
    return with_headers(view.page("error.html", status_code=status, message=view.t(msgid)))


def with_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


async def read_form(request: Request) -> MultiDict | None:
    from handlers.web import read_form as read  # the webhooks' parser: one for the app

    return await read(request)


@pass_context
def _t(context, msgid: str, **params: Any) -> str:
    return context["view"].t(msgid, **params)


ENV = Environment(loader=FileSystemLoader(HERE / "templates"),
                  autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
ROLE_LABELS = {ADMIN: N_("console.role.admin"), VERIFIER: N_("console.role.verifier"),
               CLAIMS: N_("console.role.claims"), VIEWER: N_("console.role.viewer")}
ENV.globals.update(t=_t, role_labels=ROLE_LABELS)
def _wib(value: datetime | None) -> str:
    """A time as the office reads it: Jakarta time."""
    return value.astimezone(WIB).strftime("%Y-%m-%d %H:%M") if value else "-"


ENV.filters.update(mask=mask_nik, wib=_wib)


def console_routes(deps: ConsoleDeps) -> tuple[Mount, Callable]:
    """The console's routes, mounted at ``/console``, and what stores ``deps`` on the app."""
    from handlers.staff_console import (
        broadcasts,
        claims,
        figures,
        office,
        registrations,
        signin,
    )

    routes = [Mount("/static", StaticFiles(directory=HERE / "static"), name="static")]
    for module in (signin, registrations, claims, broadcasts, figures, office):
        routes += module.routes()

    def install(app) -> None:
        app.state.console = deps

    return Mount(PREFIX, routes=routes), install


def route(path: str, permission: str, handler: Handler, methods=("GET",)) -> Route:
    return Route(path, guarded(permission, handler), methods=list(methods))
