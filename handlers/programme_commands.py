"""The programme-year commands of ``main.py``: ``renew`` (a programme's members carried into
its next cycle, after a preview and a confirmation), ``import-members`` (the members from
before the bot), ``billing`` (the funder's statement) and ``report`` (the compliance
meeting's figures and chart)."""

import argparse
import asyncio
import getpass
import sys
from datetime import date, datetime
from pathlib import Path

from bot import renewal
from bot.config import Settings
from bot.programmes import Programme
from bot.quiet_hours import WIB
from bot.render import Renderer
from handlers.conversations import new_reference, utc_now
from handlers.report_chart import write_chart
from handlers.startup import StartupError, load_catalogs, not_overwritten, open_store
from models import billing as bills
from models import renewal as renewals
from models import report as reports
from models.csvfile import BadFile
from models.members_import import MembersImporter
from models.private_files import private_folder

SHOWN = 20
"""Members listed by name in a preview (for review: all of them)."""


def programme_of(settings: Settings, programme_id: str) -> Programme:
    programmes = settings.programmes()
    programme = programmes.by_id(programme_id)
    if programme is None:
        raise StartupError(f"unknown programme {programme_id!r}; the programmes are: "
                           + ", ".join(p.id for p in programmes.programme))
    return programme


async def renew(settings: Settings, programme_id: str, cycle: str, keep: list[str],
                reason: str | None, yes: bool, now: datetime) -> bool:
    """``renew``: the preview (carried, in line past the quota, for review, already), then,
    confirmed, the changes and each member's notice. False if nothing was written."""
    programme = programme_of(settings, programme_id)
    kept = frozenset(r.strip().upper() for r in keep)
    if kept and not (reason and len(reason.strip()) >= 5):
        raise StartupError("--keep needs --reason: why these members continue although "
                           "DTSEN no longer admits them (it goes in the staff record)")
    store = await open_store(settings, create=False, announce=True)
    try:
        try:
            the_plan = await renewals.plan(store, programme, cycle, now.astimezone(WIB).date(),
                                           kept)
        except renewals.CannotRenew as exc:
            raise StartupError(str(exc)) from None
        unknown = kept - {s.worker.reference for s in the_plan.steps}
        if unknown:
            raise StartupError("not members of cycle " + the_plan.before.name + " to carry: "
                               + ", ".join(sorted(unknown)))
        show(the_plan)
        if not the_plan.changes:
            print("nothing to change: every member of the cycle before is already carried, "
                  "in line or kept for review as shown")
            return False
        if not yes:
            try:
                answer = await asyncio.to_thread(input, "Renew? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "ya", "yes"):
                print("nothing changed")
                return False
        done = await renewals.apply(store, Renderer(load_catalogs()), the_plan,
                                    f"cli:{getpass.getuser()}", now, reason)
    finally:
        await store.close()
    print(f"renewed into {the_plan.cycle.name}: {done.carried} carried, {done.waiting} in "
          f"line, {done.review} for review; their notices go out from the running bot")
    if done.skipped:
        print(f"{done.skipped} changed meanwhile and were left as they are: run again")
    return True


def show(the_plan: renewals.Plan) -> None:
    cycle, before = the_plan.cycle, the_plan.before
    quota = "no quota (universal)" if cycle.quota is None else f"quota {cycle.quota:,}"
    print(f"{the_plan.programme.name}: cycle {before.name} -> {cycle.name} "
          f"({cycle.start:%Y-%m-%d} to {cycle.end:%Y-%m-%d}, {quota}, paid by "
          f"{the_plan.programme.funder_of(cycle)})")
    print(f"already in {cycle.name}: {the_plan.confirmed:,}")
    if not the_plan.dtsen_checked:
        print("DTSEN not re-checked: no extract is loaded (import-dtsen, DTSEN_HMAC_KEY)")
    for result, label in ((renewal.CARRY, "to carry"), (renewal.WAIT, "past the quota, in "
                                                         "line by registration date"),
                          (renewal.REVIEW, "for staff review (not carried)")):
        steps = [s for s in the_plan.steps if s.result == result]
        new = sum(1 for s in steps if s.changed)
        print(f"{label}: {len(steps):,}" + (f" ({new:,} new)" if new != len(steps) else ""))
        listed = steps if result == renewal.REVIEW else steps[:SHOWN]
        for s in listed:
            detail = f"#{s.position}" if s.position else (s.reason or "")
            if s.kept:
                detail = "kept by staff (--keep)"
            print(f"  {s.worker.reference}  {s.worker.full_name}  {detail}".rstrip())
        if len(listed) < len(steps):
            print(f"  … and {len(steps) - len(listed):,} more")
    print("left out: deaths reported, and those whose cover stopped (withdrawn, ended, "
          "erased)")


async def import_members(settings: Settings, path: Path) -> None:
    """``import-members``: bad rows are listed as they are found; a repeated import changes
    nothing."""
    store = await open_store(settings)
    try:
        importer = MembersImporter(store, settings.programmes(), new_reference,
                                   f"cli:{getpass.getuser()}", utc_now().astimezone(WIB).date(),
                                   clock=utc_now)
        report = await importer.import_file(
            path, on_bad=lambda line, why: print(f"line {line}: {why}", file=sys.stderr))
    except BadFile as exc:
        raise StartupError(f"{path}: {exc}") from exc
    finally:
        await store.close()
    print(f"{report.rows} rows: {report.added} members added, {report.history} earlier "
          f"cycles added to members already here, {report.unchanged} unchanged, "
          f"{report.bad} bad")


def statement_month(text: str) -> date:
    """``--month 2026-11``."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError("write the month as YYYY-MM, e.g. 2026-11") from None


async def billing(settings: Settings, programme_id: str, month: date,
                  output: Path | None) -> None:
    """``billing``: the readable summary here, the month-by-month CSV to a new file (under
    EXPORTS_DIR unless ``--output``), never over an earlier one."""
    programme = programme_of(settings, programme_id)
    store = await open_store(settings, create=False, announce=True)
    try:
        the_statement = await bills.statement(store, programme, month)
    except bills.CannotBill as exc:
        raise StartupError(str(exc)) from None
    finally:
        await store.close()
    path = output or private_folder(settings.exports_dir) / (
        f"billing-{programme.id}-{the_statement.cycle.name}-{month:%Y-%m}.csv")
    try:
        the_statement.write_csv(path)
    except FileExistsError:
        raise not_overwritten(path) from None
    except OSError as exc:
        raise StartupError(f"cannot write {path}: {exc.strerror}") from None
    print("\n".join(the_statement.summary()))
    print(f"month by month: {path}")


async def programme_report(settings: Settings, programme_id: str, output: Path | None,
                           now: datetime) -> None:
    """``report``: the totals here; every line as a CSV and the kecamatan as a chart (PNG),
    side by side under EXPORTS_DIR unless ``--output`` names the CSV."""
    programme = programme_of(settings, programme_id)
    today = now.astimezone(WIB).date()
    store = await open_store(settings, create=False, announce=True)
    try:
        found = await reports.report(store, programme, today)
    finally:
        await store.close()
    table = output or private_folder(settings.exports_dir) / (
        f"report-{programme.id}-{today:%Y%m%d}.csv")
    chart = table.with_suffix(".png")
    if chart.exists():
        raise not_overwritten(chart)
    try:
        found.write_csv(table)
        write_chart(found, chart)
    except FileExistsError:
        raise not_overwritten(table) from None
    except OSError as exc:
        raise StartupError(f"cannot write {exc.filename}: {exc.strerror}") from None
    total = found.total.figures
    print(f"{programme.name}, {today:%d %B %Y}: target {found.target_text}; "
          + ", ".join(f"{name.replace('_', ' ')} {total[name]:,}" for name in total))
    print(f"by kecamatan, kelurahan and occupation: {table}")
    print(f"chart: {chart}")
