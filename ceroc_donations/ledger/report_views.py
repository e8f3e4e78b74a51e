"""The transparency report as a PDF, for any logged-in member.

The PDF is built by a job and cached until the books change: while it is being built the
page says so and reloads itself (202).
"""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _

from ceroc_donations.i18n import locale_code
from ceroc_donations.ledger import report_jobs
from ceroc_donations.rendering.report import LANGUAGES
from ceroc_donations.security import requires

bp = Blueprint("report", __name__)


def _period() -> tuple[date, date] | str:
    """The period asked for (default: this calendar year), or a message saying what to fix."""
    today = date.today()
    days = {}
    for name, default in (("from", date(today.year, 1, 1)), ("to", date(today.year, 12, 31))):
        raw = (request.args.get(name) or "").strip()
        if not raw:
            days[name] = default
            continue
        try:
            days[name] = date.fromisoformat(raw)
        except ValueError:
            return _("“%(name)s” must be a date as YYYY-MM-DD, e.g. 2026-01-31.", name=name)
    if days["from"] > days["to"]:
        return _("The period starts after it ends: “from” must be on or before “to”.")
    return days["from"], days["to"]


@bp.get("/ledger/report.pdf")
@requires("read")
def pdf():
    """``?from=YYYY-MM-DD&to=YYYY-MM-DD&lang=en|km`` → the report as a PDF download."""
    from ceroc_donations.blueprints import _error

    period = _period()
    if isinstance(period, str):
        return _error(400, _("Wrong report period"), period)
    lang = request.args.get("lang") or ("km" if locale_code() == "km" else "en")
    if lang not in LANGUAGES:
        return _error(400, _("Wrong report language"), _("“lang” must be en or km."))
    since, until = period
    build = report_jobs.report_for(since, until, lang)
    if build.status == "failed":
        return _error(
            500,
            _("Report not made"),
            _("The report could not be made. The details are in the server log."),
        )
    if build.status != "done":
        return render_template("ledger/report_wait.html", build=build), 202
    try:
        body = report_jobs.read(build)
    except report_jobs.ReportDamaged as exc:
        return _error(500, _("Report not made"), str(exc))
    name = f"ceroc-report-{since.isoformat()}-{until.isoformat()}-{lang}.pdf"
    return Response(
        body,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )
