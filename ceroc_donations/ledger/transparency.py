"""The public transparency page (off unless an admin turns it on) and its switch.

Nothing personal leaves here: donors appear as they asked to be shown (anonymous,
initials, group only), expenses by category; no references, emails, addresses, void
reasons or receipt links.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup

from ceroc_donations import filters
from ceroc_donations.accounts import settings
from ceroc_donations.book import queries
from ceroc_donations.book.models import DONOR_DISPLAY
from ceroc_donations.extensions import db
from ceroc_donations.filters import LedgerFilter
from ceroc_donations.ledger import service as ledger
from ceroc_donations.ledger.views import all_charts, csv_response, filter_choices
from ceroc_donations.pagecache import cached_html
from ceroc_donations.security import requires

bp = Blueprint("transparency", __name__)

PUBLIC_ARGS = ("from", "to", "fund", "category", "direction")


def _public_filter() -> tuple[LedgerFilter, str | None, dict[str, str]]:
    """The public filter (no donor, never voided entries), the page's cursor, the errors."""
    args = filters.strict({k: request.args.get(k, "") for k in (*PUBLIC_ARGS, "after")})
    f, after = filters.ledger_filter(args), args.cursor("after")
    if args.errors:
        return LedgerFilter(), None, args.errors
    return f, after, {}


def _require_public() -> None:
    if not settings.transparency_public():
        abort(404)


@bp.get("/transparency")
def index():
    _require_public()
    f, after, errors = _public_filter()
    if errors:
        return _page(_body(f, after, errors)), 422
    return _page(cached_html("transparency.index", (), lambda: _body(f, after, {})))


def _page(body: str) -> str:
    return render_template("ledger/transparency.html", body=Markup(body))


def _body(f: LedgerFilter, after, errors: dict) -> str:
    """The public page's main part: balances, the four charts, the filters and fifty rows."""
    balances = queries.fund_balances()
    choices = filter_choices(public=True, balances=balances)
    return render_template(
        "ledger/_transparency_body.html",
        f=f,
        page=ledger.ledger_page(f, after, 50, names="public"),
        balances=balances,
        total=queries.totals(balances),
        charts=all_charts(f),
        errors=errors,
        args={k: v for k, v in request.args.items() if k in PUBLIC_ARGS},
        fund_names=ledger.fund_names(),
        funds=choices["funds"],
        categories=choices["categories"],
    )


@bp.get("/transparency/export.csv")
def export_csv():
    _require_public()
    f, _after, errors = _public_filter()
    if errors:
        abort(404)
    return csv_response(f, names="public", public=True, filename="ceroc-transparency.csv")


@bp.route("/settings", methods=["GET", "POST"])
@requires("admin")
def settings_page():
    """Admins switch the public page on and off; each change goes to the audit trail."""
    if request.method == "POST":
        on = request.form.get("transparency_public") == "1"
        display = request.form.get("import_donor_display")
        signatory = request.form.get("signatory_name_km")
        errors = {}
        if display is not None and display not in DONOR_DISPLAY:
            errors["import_donor_display"] = _("Choose shown by name or anonymous.")
        if signatory is not None and len(" ".join(signatory.split())) > 200:
            errors["signatory_name_km"] = _("At most %(n)d characters.", n=200)
        if errors:
            return render_template(
                "ledger/settings.html",
                on=settings.transparency_public(),
                import_display=settings.import_donor_display(),
                signatory_name_km=signatory or "",
                errors=errors,
            ), 422
        settings.set_transparency_public(on, by=current_user)
        if display is not None:
            settings.set_import_donor_display(display, by=current_user)
        if signatory is not None:
            try:
                settings.set_signatory_name_km(signatory, by=current_user)
            except ValueError:
                db.session.rollback()
                message = _("This text contains a character that cannot be stored.")
                return render_template(
                    "ledger/settings.html",
                    on=settings.transparency_public(),
                    import_display=settings.import_donor_display(),
                    signatory_name_km=signatory,
                    errors={"signatory_name_km": message},
                ), 422
        db.session.commit()
        flash(
            _("The public transparency page is now on.")
            if on
            else _("The public transparency page is now off."),
            "success",
        )
        return redirect(url_for("transparency.settings_page"))
    return render_template(
        "ledger/settings.html",
        on=settings.transparency_public(),
        import_display=settings.import_donor_display(),
        signatory_name_km=settings.signatory_name_km(),
        errors={},
    )
