"""The office: the staff list with roles (admins add, change and remove members; removing
one ends their console sessions), the staff-action record with filters, and the open
requests under the personal data law with their deadlines."""

from starlette.responses import Response

from bot import rights
from bot.areas import parse_area
from bot.channels import TELEGRAM, WHATSAPP
from bot.i18n import N_
from bot.roles import ROLES, STAFF
from bot.validators import Ok, validate_phone
from handlers.staff_console.app import View, route
from models.staff import StaffDirectory

RECORD_SHOWN = 200


def routes():
    return [route("/staff", STAFF, staff_page),
            route("/staff/add", STAFF, add, methods=("POST",)),
            route("/staff/remove", STAFF, remove, methods=("POST",)),
            route("/audit", STAFF, audit)]


async def staff_page(view: View) -> Response:
    directory = StaffDirectory(view.deps.store)
    async with view.deps.store.reading() as tx:
        requests, open_count = await tx.open_rights(50)
    return view.page("staff.html", members=await directory.members(), roles=ROLES,
                     requests=requests, open_count=open_count,
                     kinds=rights.KIND_LABELS, overdue=lambda r: rights.overdue(r, view.now))


def account(view: View) -> tuple[str, str] | None:
    """The chat a form names: a Telegram user id, or a WhatsApp number in any usual form."""
    channel, typed = view.form.get("channel", ""), view.form.get("account", "").strip()
    if channel == TELEGRAM and typed.isdigit() and int(typed) > 0 and len(typed) < 20:
        return TELEGRAM, str(int(typed))
    if channel == WHATSAPP and isinstance(checked := validate_phone(typed), Ok):
        return WHATSAPP, checked.value.lstrip("+")
    return None


async def add(view: View) -> Response:
    chat = account(view)
    role = view.form.get("role", "")
    try:
        area = parse_area(view.form.get("area", "").strip() or None)
    except ValueError:
        view.say(view.t(N_("console.staff.bad_area")))
        return view.back("/staff")
    if chat is None or role not in ROLES:
        view.say(view.t(N_("console.staff.bad_account")))
        return view.back("/staff")
    new = await StaffDirectory(view.deps.store).add(
        *chat, role, view.form.get("name", "").strip()[:80] or None, view.signed.actor,
        view.now, str(area) if area else None,
        view.form.get("username", "").strip()[:64] or None)
    view.say(view.t(N_("console.staff.added") if new else N_("console.staff.changed"),
                    account=":".join(chat), role=role))
    return view.back("/staff")


async def remove(view: View) -> Response:
    chat = view.form.get("member", "")
    channel, _, chat_id = chat.partition(":")
    if chat == view.signed.actor:
        view.say(view.t(N_("console.staff.not_yourself")))
    elif await StaffDirectory(view.deps.store).remove(channel, chat_id, view.signed.actor,
                                                      view.now):
        view.say(view.t(N_("console.staff.removed"), account=chat))
    else:
        view.say(view.t(N_("console.error.not_found")))
    return view.back("/staff")


async def audit(view: View) -> Response:
    chosen = {name: view.query(name) for name in ("actor", "action", "subject")}
    actions = await StaffDirectory(view.deps.store).actions(
        RECORD_SHOWN, **{k: v or None for k, v in chosen.items()})
    return view.page("audit.html", actions=actions, chosen=chosen, shown=RECORD_SHOWN)
