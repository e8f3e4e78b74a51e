from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ceroc_donations.book import queries
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Invalid, parse_fund
from ceroc_donations.book.models import Fund
from ceroc_donations.extensions import db
from ceroc_donations.security import requires

bp = Blueprint("funds", __name__, url_prefix="/funds")


@bp.get("/")
@requires("read")
def index():
    return render_template(
        "book/funds/index.html", balances=queries.fund_balances(), errors={}, values={}
    )


@bp.post("/")
@requires("write_book")
def create():
    try:
        data = parse_fund(request.form)
        fund = book.create_fund(
            data["code"],
            data["name_en"],
            name_km=data["name_km"],
            description=data["description"],
            description_km=data["description_km"],
            by=current_user,
        )
    except Invalid as exc:
        return render_template(
            "book/funds/index.html",
            balances=queries.fund_balances(),
            errors=exc.fields,
            values=request.form,
        ), 422
    db.session.commit()
    flash(_("Fund %(name)s added.", name=fund.name_en), "success")
    return redirect(url_for("funds.index"))


@bp.post("/<int:fund_id>/archive")
@requires("write_book")
def archive(fund_id: int):
    fund = db.session.get(Fund, fund_id) or abort(404)
    book.update_fund(fund, {"archived": not fund.archived}, by=current_user)
    db.session.commit()
    flash(_("Fund %(name)s updated.", name=fund.name_en), "success")
    return redirect(url_for("funds.index"))
