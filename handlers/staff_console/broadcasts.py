"""Broadcasts, for admins: compose (a text in Indonesian and English, or a ready reminder)
with the chat's filters and a live count; preview exactly what each language's recipients
get, how many, how long at the channels' rates and when it ends past the quiet hours; send
now or schedule; follow its progress live; cancel. Stored by ``models.broadcasts`` as from the
chat or the command line, and delivered by the running bot."""

from datetime import datetime

from starlette.responses import JSONResponse, Response

from bot import enrolment
from bot.broadcasting import (
    MAX_TEXT,
    READY,
    Audience,
    finish_time,
    progress_reply,
    reminder_reply,
    sending_seconds,
    text_reply,
)
from bot.channels import BROADCAST, NAMES
from bot.i18n import LOCALES, N_
from bot.occupations import OCCUPATIONS
from bot.quiet_hours import WIB
from bot.roles import BROADCASTS
from bot.status import STATE
from handlers.staff_console.app import NO_STORE, View, route
from models.broadcasts import Broadcasts, NotApplicable

FILTERS = ("programme", "status", "occupation", "kelurahan", "locale", "channel")


def routes():
    return [route("/broadcasts", BROADCASTS, compose),
            route("/broadcasts/count", BROADCASTS, count),
            route("/broadcasts/preview", BROADCASTS, preview),
            route("/broadcasts", BROADCASTS, send, methods=("POST",)),
            route("/broadcasts/{number:int}", BROADCASTS, follow),
            route("/broadcasts/{number:int}/progress", BROADCASTS, progress),
            route("/broadcasts/{number:int}/cancel", BROADCASTS, cancel, methods=("POST",))]


class Draft:
    """A broadcast as the form gives it, checked: the texts, the reminder, the audience and
    when to send; ``problem`` is what to tell the admin when it cannot go."""

    def __init__(self, view: View, source):
        get = source.get
        self.text_id = get("text_id", "").strip()
        self.text_en = get("text_en", "").strip()
        self.reminder = get("reminder", "") if get("reminder", "") in READY else ""
        given = {name: get(name, "").strip()[:60] for name in FILTERS}
        self.audience = Audience(**{k: v or None for k, v in given.items()},
                                 invite=get("invite") == "1")
        self.at = get("at", "").strip()
        self.problem: str | None = None
        self.scheduled_at: datetime | None = None
        if self.at:
            try:
                self.scheduled_at = datetime.fromisoformat(self.at).replace(tzinfo=WIB)
            except ValueError:
                self.problem = view.t(N_("console.broadcast.bad_time"))
            else:
                if self.scheduled_at <= view.now:
                    self.problem = view.t(N_("console.broadcast.past"))
        if not self.reminder and not self.text_id:
            self.problem = view.t(N_("console.broadcast.no_text"))
        elif max(len(self.text_id), len(self.text_en)) > MAX_TEXT:
            self.problem = view.t(N_("console.broadcast.too_long"), most=MAX_TEXT)

    def fields(self) -> dict[str, str]:
        """What the preview's form carries on to sending."""
        return {"text_id": self.text_id, "text_en": self.text_en, "reminder": self.reminder,
                "at": self.at, "invite": "1" if self.audience.invite else "",
                **{name: getattr(self.audience, name) or "" for name in FILTERS}}


def _choices(view: View) -> dict:
    programmes = view.deps.programmes.programme if view.deps.programmes else ()
    return {"programmes": programmes, "statuses": [(s, STATE[s]) for s in enrolment.STATUSES],
            "occupations": OCCUPATIONS, "locales": LOCALES,
            "channels": {c: NAMES[c] for c in BROADCAST},
            "ready": READY, "filters": FILTERS}


async def compose(view: View) -> Response:
    draft = Draft(view, view.request.query_params)
    return view.page("broadcasts.html", draft=draft, recent=await Broadcasts(
        view.deps.store).recent(), quiet=view.deps.rules.quiet_hours,
                     reply_text=lambda p: view.deps.renderer.render(progress_reply(
                         p, view.now, view.deps.rules.broadcast_rates,
                         view.deps.rules.quiet_hours), view.locale).text, **_choices(view))


async def _preview(view: View, draft: Draft):
    try:
        return await Broadcasts(view.deps.store).preview(
            draft.audience, draft.reminder or None, view.now.astimezone(WIB).date())
    except NotApplicable as exc:
        draft.problem = view.t(N_("console.broadcast.not_applicable"), filters=str(exc))
        return None


async def count(view: View) -> Response:
    """The live count under the compose form."""
    draft = Draft(view, view.request.query_params)
    found = await _preview(view, draft)
    if found is None:
        return JSONResponse({"text": draft.problem}, headers=NO_STORE)
    return JSONResponse({"count": found.reachable, "text": view.t(
        N_("console.broadcast.count"), count=found.reachable, stopped=found.opted_out)},
        headers=NO_STORE)


async def preview(view: View) -> Response:
    draft = Draft(view, view.request.query_params)
    found = await _preview(view, draft)
    if draft.problem is not None or found is None:
        view.say(draft.problem)
        return view.page("broadcasts.html", status_code=400, draft=draft, recent=[],
                         quiet=view.deps.rules.quiet_hours, reply_text=str, **_choices(view))
    rates = view.deps.rules.broadcast_rates
    start = max(view.now, draft.scheduled_at or view.now).astimezone(WIB)
    seconds = sending_seconds(found.by_channel, rates)
    if draft.reminder:
        reply = reminder_reply(draft.reminder, found.sample or {})
        messages = {locale: view.deps.renderer.render(reply, locale).text for locale in LOCALES}
    else:
        messages = {locale: view.deps.renderer.render(text_reply(
            draft.text_en if locale == "en" and draft.text_en else draft.text_id),
            locale).text for locale in LOCALES}
    return view.page("broadcast_preview.html", draft=draft, found=found, messages=messages,
                     seconds=round(seconds), start=start,
                     finish=finish_time(start, seconds, view.deps.rules.quiet_hours),
                     quiet=view.deps.rules.quiet_hours, channels=NAMES)


async def send(view: View) -> Response:
    draft = Draft(view, view.form)
    if draft.problem is not None:
        view.say(draft.problem)
        return view.back("/broadcasts")
    try:
        started = await Broadcasts(view.deps.store).create(
            draft.audience, draft.text_id or None, draft.text_en or None, view.signed.actor,
            view.now, draft.scheduled_at, draft.reminder or None,
            view.now.astimezone(WIB).date())
    except NotApplicable as exc:
        view.say(view.t(N_("console.broadcast.not_applicable"), filters=str(exc)))
        return view.back("/broadcasts")
    return view.back(f"/broadcasts/{started.broadcast_id}")


def _progress_text(view: View, found) -> str:
    return view.deps.renderer.render(progress_reply(
        found, view.now, view.deps.rules.broadcast_rates, view.deps.rules.quiet_hours),
        view.locale).text


async def follow(view: View) -> Response:
    number = view.request.path_params["number"]
    found = await Broadcasts(view.deps.store).progress(number)
    if found is None:
        return view.page("error.html", status_code=404,
                         message=view.t(N_("console.error.not_found")))
    return view.page("broadcast.html", found=found, text=_progress_text(view, found))


async def progress(view: View) -> Response:
    """The progress page's live figures."""
    found = await Broadcasts(view.deps.store).progress(view.request.path_params["number"])
    if found is None:
        return JSONResponse({}, status_code=404)
    return JSONResponse({"status": found.status, "sent": found.sent, "failed": found.failed,
                         "waiting": found.pending, "text": _progress_text(view, found)},
                        headers=NO_STORE)


async def cancel(view: View) -> Response:
    number = view.request.path_params["number"]
    stopped = await Broadcasts(view.deps.store).cancel(number, view.signed.actor, view.now)
    if stopped is not None:
        view.say(_progress_text(view, stopped))
    return view.back(f"/broadcasts/{number}")
