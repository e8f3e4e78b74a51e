"""The members' ledger: one list, newest first, with running balance, charts and exports."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from functools import lru_cache

from babel import Locale
from flask import (
    Blueprint,
    Response,
    current_app,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from ceroc_donations import filters
from ceroc_donations.accounts import settings
from ceroc_donations.book import queries
from ceroc_donations.book.inputs import base_currency
from ceroc_donations.database import read_only
from ceroc_donations.i18n import locale_code
from ceroc_donations.ledger import service as ledger
from ceroc_donations.ledger.exports import iter_csv, write_xlsx
from ceroc_donations.pagecache import cached_html
from ceroc_donations.privacy import sees_names
from ceroc_donations.rendering import charts
from ceroc_donations.security import can, requires

bp = Blueprint("ledger", __name__, url_prefix="/ledger")


def names_for(user) -> str:
    """Names as recorded for the roles that handle gifts; as the donors asked for members."""
    return "recorded" if sees_names(user) else "public"


def chart_locale() -> str:
    return "km" if locale_code() == "km" else "en"


def flow_chart(f: filters.LedgerFilter, months: list | None = None) -> dict:
    points = tuple(
        charts.MonthlyFlow(p.month, p.in_minor, p.out_minor, p.balance_minor)
        for p in ledger.monthly_flow(f, months)
    )
    svg, table = _flow_drawn(points, base_currency(), chart_locale(), _("Money in and out"))
    return {"svg": svg, "table": table}


def bar(rows, title: str, label_header: str, pid: str) -> dict:
    key = (tuple(map(tuple, rows)), base_currency(), chart_locale(), title, label_header, pid)
    svg, table = _bar_drawn(*key)
    return {"svg": svg, "table": table}


# Drawing a chart costs far more than reading its numbers (a page of the ledger spent 70 % of
# its time drawing twelve years of months): the same numbers in the same language are drawn
# once per process, as finished HTML. The numbers are part of the key, so a change in the
# books is never served stale.
@lru_cache(maxsize=32)
def _flow_drawn(points: tuple, cur: str, loc: str, title: str) -> tuple[Markup, Markup]:
    return (
        Markup(
            charts.monthly_flow_chart(
                points, currency=cur, locale=loc, title=title, gettext=_, id_prefix="flow"
            )
        ),
        Markup(charts.flow_table(points, currency=cur, locale=loc, title=title, gettext=_)),
    )


@lru_cache(maxsize=64)
def _bar_drawn(rows: tuple, cur: str, loc: str, title: str, label_header: str, pid: str):
    return (
        Markup(
            charts.bar_chart(
                rows,
                currency=cur,
                locale=loc,
                title=title,
                label_header=label_header,
                gettext=_,
                id_prefix=pid,
            )
        ),
        Markup(
            charts.bar_table(
                rows, currency=cur, locale=loc, title=title, label_header=label_header, gettext=_
            )
        ),
    )


def all_charts(f: filters.LedgerFilter) -> list[dict]:
    """The four charts, each with its table: flow, spending by category, gifts by place."""
    territories = Locale.parse(chart_locale()).territories
    countries, cities = ledger.contributions_by_place(f)
    spending = [(ledger.category_label(c), v) for c, v in ledger.spending_by_category(f)]
    return [
        flow_chart(f),
        bar(spending, _("Spending by category"), _("Category"), "category"),
        bar(
            [(territories.get(c, c), v) for c, v in countries],
            _("Contributions by donor country"),
            _("Country"),
            "country",
        ),
        bar(cities, _("Contributions by donor city"), _("City"), "city"),
    ]


def _parse():
    """Filter, cursor and the errors to show next to the filter fields."""
    args = filters.strict(request.args)
    f = visible_filter(filters.ledger_filter(args), names_for(current_user))
    after = args.cursor("after")
    return f, after, args.errors


def filter_choices(*, public: bool = False, balances: list | None = None) -> dict:
    """Choices for the filter row. Only the roles that see names filter by donor: for
    anyone else the filter would tell who gave a gift shown as anonymous. *balances* are
    :func:`~ceroc_donations.book.queries.fund_balances`, when the caller has them."""
    donors = []
    if not public and names_for(current_user) == "recorded":
        donors = queries.donor_choices()
    if balances is None:
        balances = queries.fund_balances()
    return {"funds": balances, "categories": ledger.categories(), "donors": donors}


def visible_filter(f: filters.LedgerFilter, names: str) -> filters.LedgerFilter:
    """Drop the donor filter for those who see public names (see :func:`filter_choices`)."""
    return f if names == "recorded" else replace(f, donor_id=None)


@bp.get("/")
@requires("read")
def index():
    f, after, errors = _parse()
    if errors:
        return _index_page(_index_body(None, None, errors)), 422
    # Drawn once per books, language and query for each role: what a role may see of a
    # donor (and the admins' transparency switch) is all that differs between viewers.
    body = cached_html("ledger.index", (current_user.role,), lambda: _index_body(f, after, {}))
    return _index_page(body)


def _index_page(body) -> str:
    return render_template("ledger/index.html", body=Markup(body))


def _index_body(f: filters.LedgerFilter | None, after, errors: dict) -> str:
    """The ledger page's main part: balances, the flow chart, the filters and fifty rows."""
    funds = queries.all_funds()
    balances = queries.fund_balances(funds=funds)
    context = _index_context(balances, errors)
    if f is None:
        return render_template("ledger/_index_body.html", f=None, page=None, flow=None, **context)
    names = ledger.fund_names(funds)
    months = ledger.month_totals(f.fund_id)  # the page's balances and the chart share them
    page = ledger.ledger_page(
        f,
        after,
        int(current_app.config.get("PAGE_SIZE", 50)),
        names=names_for(current_user),
        balances=ledger.Balances(f.fund_id, months),
    )
    return render_template(
        "ledger/_index_body.html",
        f=f,
        page=page,
        flow=flow_chart(f, months),
        fund_names=names,
        **context,
    )


def _index_context(balances: list, errors: dict) -> dict:
    return {
        "balances": balances,
        "total": queries.totals(balances),
        "errors": errors,
        "args": request.args,
        "public": False,
        # Shown to admins only (with the link to change it): nobody else's page reads it.
        "transparency_on": can(current_user, "admin") and settings.transparency_public(),
        **filter_choices(balances=balances),
    }


@bp.get("/charts")
@requires("read")
def charts_page():
    f, _after, errors = _parse()
    if errors:
        f = filters.LedgerFilter()
    return render_template(
        "ledger/charts.html",
        charts=all_charts(f),
        f=f,
        errors=errors,
        args=request.args,
        public=False,
        **filter_choices(),
    )


def csv_response(f: filters.LedgerFilter, *, names: str, public: bool, filename: str):
    def generate():
        with read_only():
            for chunk in iter_csv(
                ledger.export_header(public=public),
                ledger.export_rows(f, names=names, public=public),
            ):
                yield chunk.encode("utf-8")

    return Response(
        stream_with_context(generate()),
        mimetype="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def xlsx_response(f: filters.LedgerFilter, *, names: str, public: bool, filename: str):
    """Build the workbook in a temporary file (openpyxl's write-only mode keeps memory
    flat), then send that file in chunks."""
    out = tempfile.TemporaryFile()
    try:
        write_xlsx(
            ledger.export_header(public=public),
            ledger.export_rows(f, names=names, public=public),
            out,
            sheet_title=_("Ledger"),
        )
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise

    def chunks():
        with out:
            while chunk := out.read(64 * 1024):
                yield chunk

    response = Response(
        chunks(),
        mimetype=("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Content-Length": str(size),
        },
    )
    response.call_on_close(out.close)
    return response


def _export_filter():
    args = filters.strict(request.args)
    f = visible_filter(filters.ledger_filter(args), names_for(current_user))
    return (None, args.errors) if args.errors else (f, None)


@bp.get("/export.csv")
@requires("read")
def export_csv():
    f, errors = _export_filter()
    if errors:
        return _export_error(errors)
    return csv_response(f, names=names_for(current_user), public=False, filename="ceroc-ledger.csv")


@bp.get("/export.xlsx")
@requires("read")
def export_xlsx():
    f, errors = _export_filter()
    if errors:
        return _export_error(errors)
    return xlsx_response(
        f, names=names_for(current_user), public=False, filename="ceroc-ledger.xlsx"
    )


def _export_error(errors: dict):
    return _index_page(_index_body(None, None, errors)), 422


def page_url(endpoint: str, **changes) -> str:
    """The current address with some query arguments changed (``None`` removes one)."""
    args = {k: v for k, v in request.args.items() if k not in changes}
    args.update({k: v for k, v in changes.items() if v is not None})
    return url_for(endpoint, **args)


@bp.app_context_processor
def _helpers():
    return {
        "ledger_url": page_url,
        "category_label": ledger.category_label,
    }
