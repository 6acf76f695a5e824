"""Figures, no person's data: the programmes (quota used, waiting list, cycles, batches, the
month's bill) and the dashboards (registrations per day, coverage against the target, per
kecamatan, kelurahan and occupation, claims by status and time to decision). Each chart is
drawn on the server as SVG beside its table, and can be downloaded as CSV."""

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from starlette.responses import Response

from bot import claims, enrolment
from bot.billing import month_of
from bot.flows.claim import STATUS_TEXT
from bot.i18n import N_
from bot.programmes import Programme
from bot.quiet_hours import WIB
from bot.roles import DASHBOARDS
from handlers.staff_console.app import NO_STORE, View, route
from models.billing import CannotBill, statement
from models.console_queries import claim_counts, worker_programme_counts
from models.enrolment_io import batches
from models.report import report
from models.schema import as_utc, claim, worker

DAYS = 30
FRESH = timedelta(minutes=1)
"""How long the dashboards' figures are reused: a full count of a province's workers takes
a few hundred milliseconds, and a figure a minute old is as good to a mayor's office."""
COVERED = (enrolment.ENROLLED, enrolment.ACTIVE)
DECIDED = (claims.APPROVED, claims.REJECTED, claims.PAID)


@dataclass(frozen=True)
class Chart:
    """One chart: its rows (a label and a value, and a target where there is one), and the
    column names of its table and CSV."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]
    """(label, value, *more columns)"""

    @property
    def top(self) -> int:
        return max([r[1] for r in self.rows] + [r[2] for r in self.rows
                                                  if len(r) > 2 and isinstance(r[2], int)]
                   + [1])


def routes():
    return [route("/programmes", DASHBOARDS, programmes_page),
            route("/dashboards", DASHBOARDS, dashboards),
            route("/dashboards/{name}.csv", DASHBOARDS, chart_csv)]


def _today(view: View) -> date:
    return view.now.astimezone(WIB).date()


async def programmes_page(view: View) -> Response:
    today = _today(view)
    programmes = view.deps.programmes.programme if view.deps.programmes else ()
    async with view.deps.store.reading() as tx:
        counts = await worker_programme_counts(tx)
    shown = []
    for programme in programmes:
        cycle = programme.cycle_on(today)
        try:
            bill = await statement(view.deps.store, programme, month_of(today))
        except CannotBill:
            bill = None
        shown.append({
            "programme": programme, "cycle": cycle,
            "covered": sum(counts.get((programme.id, s), 0) for s in COVERED),
            "waiting_list": counts.get((programme.id, enrolment.WAITING_LIST), 0),
            "waiting_review": counts.get((programme.id, enrolment.WAITING_VERIFICATION), 0),
            "batches": await batches(view.deps.store, programme.id), "bill": bill})
    return view.page("programmes.html", shown=shown, today=today)


async def charts(view: View, programme: Programme | None) -> list[Chart]:
    today = _today(view)
    t = view.t
    async with view.deps.store.reading() as tx:
        per_day = await registrations_per_day(tx, today, programme)
        counts = await worker_programme_counts(tx)
        by_status = await claim_counts(tx)
        decision_days = await days_to_decision(tx)
    all_programmes = view.deps.programmes.programme if view.deps.programmes else ()
    coverage = []
    for p in all_programmes:
        cycle = p.cycle_on(today)
        covered = sum(counts.get((p.id, s), 0) for s in COVERED)
        coverage.append((p.name, covered, cycle.quota if cycle and cycle.quota else "-"))
    found = [
        Chart("registrations", t(N_("console.chart.registrations"), days=DAYS),
              (t(N_("console.column.day")), t(N_("console.column.registrations"))), per_day),
        Chart("coverage", t(N_("console.chart.coverage")),
              (t(N_("console.column.programme")), t(N_("console.column.covered")),
               t(N_("console.column.target"))), coverage),
        Chart("claims", t(N_("console.chart.claims")),
              (t(N_("console.column.status")), t(N_("console.column.claims"))),
              [(t(STATUS_TEXT[s]), by_status.get(s, 0)) for s in claims.STATUSES]),
        Chart("decisions", t(N_("console.chart.decisions")),
              (t(N_("console.column.status")), t(N_("console.column.days")),
               t(N_("console.column.claims"))),
              [(t(STATUS_TEXT[s]), *decision_days.get(s, (0, 0))) for s in DECIDED]),
    ]
    if programme is not None:
        figures = await report(view.deps.store, programme, today)
        columns = (t(N_("console.column.covered")), t(N_("console.column.registered")))
        for name, title, lines, label in (
                ("kecamatan", N_("console.chart.kecamatan"), figures.by_kecamatan,
                 lambda x: x.kecamatan),
                ("kelurahan", N_("console.chart.kelurahan"), figures.by_place,
                 lambda x: f"{x.kelurahan} ({x.kecamatan})"),
                ("occupation", N_("console.chart.occupation"), figures.by_occupation,
                 lambda x: x.occupation)):
            found.append(Chart(name, t(title, programme=programme.name),
                               (t(N_("console.column.place")), *columns),
                               [(label(x), x.figures["enrolled"] + x.figures["active"],
                                 x.figures["registered"]) for x in lines]))
    return found


def _programme(view: View) -> Programme | None:
    asked = view.query("programme")
    return view.deps.programmes.by_id(asked) if asked and view.deps.programmes else None


async def fresh_charts(view: View, programme: Programme | None) -> tuple[list[Chart], datetime]:
    """The charts, counted at most ``FRESH`` ago (in this process), and when."""
    key = (programme.id if programme else "", view.locale)
    kept = view.deps.figures.get(key)
    if kept is None or view.now - kept[1] >= FRESH:
        kept = (await charts(view, programme), view.now)
        view.deps.figures[key] = kept
    return kept


async def dashboards(view: View) -> Response:
    programme = _programme(view)
    found, counted = await fresh_charts(view, programme)
    return view.page("dashboards.html", charts=found, counted=counted, programme=programme,
                     programmes=view.deps.programmes.programme if view.deps.programmes
                     else ())


async def chart_csv(view: View) -> Response:
    programme = _programme(view)
    name = view.request.path_params["name"]
    chart = next((c for c in (await fresh_charts(view, programme))[0] if c.name == name), None)
    if chart is None:
        return Response(status_code=404)
    out = io.StringIO()
    rows = csv.writer(out)
    rows.writerow(chart.columns)
    rows.writerows(chart.rows)
    file_name = f"{name}-{programme.id if programme else 'semua'}-{_today(view)}.csv"
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=NO_STORE | {
        "Content-Disposition": f'attachment; filename="{file_name}"'})


async def registrations_per_day(tx, today: date, programme: Programme | None) -> list[tuple]:
    """Registrations a day over the last ``DAYS`` days, Jakarta time, days without any
    included."""
    first = today - timedelta(days=DAYS - 1)
    since = datetime.combine(first, time(), WIB)
    if tx.postgres:
        day = func.date(func.timezone("Asia/Jakarta", worker.c.created_at))
    else:
        day = func.date(worker.c.created_at, "+7 hours")
    where = [worker.c.created_at >= since]
    if programme is not None:
        where.append(worker.c.programme_id == programme.id)
    rows = await tx.conn.execute(select(day.label("day"), func.count()).where(*where)
                                 .group_by(day))
    found = {str(d): n for d, n in rows}
    return [(str(first + timedelta(days=n)), found.get(str(first + timedelta(days=n)), 0))
            for n in range(DAYS)]


async def days_to_decision(tx) -> dict[str, tuple[int, int]]:
    """For each decided status: the median days from filing to the decision, and how many."""
    rows = await tx.conn.execute(select(claim.c.status, claim.c.created_at, claim.c.changed_at)
                                 .where(claim.c.status.in_(DECIDED)))
    spans: dict[str, list[float]] = {}
    for status, created, changed in rows:
        spans.setdefault(status, []).append(
            (as_utc(changed) - as_utc(created)).total_seconds() / 86400)
    return {status: (round(sorted(days)[len(days) // 2]), len(days))
            for status, days in spans.items()}
