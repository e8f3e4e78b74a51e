from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from ceroc_donations.book import queries
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Invalid, base_currency, db_id, parse_contribution
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.extensions import db
from ceroc_donations.money import to_input
from ceroc_donations.security import requires
from ceroc_donations.web import active_funds, book_filter, new_idempotency_key, void_page

bp = Blueprint("contributions", __name__, url_prefix="/contributions")


@bp.get("/")
@requires("read")
def index():
    f = book_filter()
    page = queries.contributions_page(f, request.args.get("after"))
    return render_template("book/contributions/index.html", page=page, f=f, funds=active_funds())


def _form(values, errors, *, contribution=None, status=200):
    ids = values.getlist("donor_ids") if hasattr(values, "getlist") else values.get("donor_ids", [])
    chosen = [d for d in (db.session.get(Donor, i) for i in map(db_id, ids) if i) if d]
    return render_template(
        "book/contributions/form.html",
        values=values,
        errors=errors,
        contribution=contribution,
        chosen=chosen,
        funds=active_funds(),
        base_currency=base_currency(),
        all_donors=queries.search_donors(None, limit=500),
        shares=values.getlist("shares") if hasattr(values, "getlist") else values.get("shares", []),
    ), status


@bp.route("/new", methods=["GET", "POST"])
@requires("write_book")
def new():
    if request.method == "GET":
        values = {
            "received_on": date.today().isoformat(),
            "currency": base_currency(),
            "exchange_rate": "1",
            "idempotency_key": new_idempotency_key(),
            "donor_ids": [request.args["donor"]] if request.args.get("donor") else [],
        }
        return _form(values, {})
    key = request.form.get("idempotency_key", "")[:64] or None
    if (done := book.find_by_idempotency_key(Contribution, key)) is not None:
        flash(
            _("%(ref)s was already recorded: the form was sent twice.", ref=done.reference), "info"
        )
        return redirect(url_for("contributions.new"))
    try:
        data = parse_contribution(
            request.form,
            donor_ids=request.form.getlist("donor_ids"),
            shares=request.form.getlist("shares"),
        )
    except Invalid as exc:
        return _form(request.form, exc.fields, status=422)
    c = book.record_contribution(data, by=current_user, idempotency_key=key)
    db.session.commit()
    flash(
        Markup(_("%(ref)s recorded — %(undo)s / %(thank)s"))
        % {
            "ref": escape(c.reference),
            "undo": Markup('<a href="{}">{}</a>').format(
                url_for("contributions.void", cid=c.id, undo=1), _("Undo")
            ),
            "thank": Markup('<a href="{}">{}</a>').format(
                url_for("contributions.detail", cid=c.id) + "#thanks", _("Thank now")
            ),
        },
        "success",
    )
    return redirect(url_for("contributions.new"))


@bp.get("/<int:cid>")
@requires("read")
def detail(cid: int):
    c = db.session.get(Contribution, cid) or abort(404)
    return render_template("book/contributions/detail.html", c=c)


@bp.route("/<int:cid>/edit", methods=["GET", "POST"])
@requires("write_book")
def edit(cid: int):
    c = db.session.get(Contribution, cid) or abort(404)
    if c.voided:
        flash(_("A voided contribution cannot be edited."), "error")
        return redirect(url_for("contributions.detail", cid=cid))
    if request.method == "GET":
        snap = book.contribution_snapshot(c)
        values = {
            **{k: ("" if v is None else v) for k, v in snap.items()},
            "amount": to_input(c.amount),
            "received_on": c.received_on.isoformat(),
            "donor_ids": [str(s.donor_id) for s in c.shares],
            "shares": [
                to_input(type(c.amount)(s.share_minor, c.currency)) if s.share_minor else ""
                for s in c.shares
            ],
        }
        return _form(values, {}, contribution=c)
    try:
        data = parse_contribution(
            request.form,
            donor_ids=request.form.getlist("donor_ids"),
            shares=request.form.getlist("shares"),
        )
        book.update_contribution(c, data, by=current_user)
    except Invalid as exc:
        db.session.rollback()
        return _form(request.form, exc.fields, contribution=c, status=422)
    db.session.commit()
    flash(_("%(ref)s saved.", ref=c.reference), "success")
    return redirect(url_for("contributions.detail", cid=c.id))


@bp.route("/<int:cid>/void", methods=["GET", "POST"])
@requires("write_book")
def void(cid: int):
    c = db.session.get(Contribution, cid) or abort(404)
    undo = _("Recorded by mistake (undone right after saving)") if request.args.get("undo") else ""
    return void_page(
        c,
        "contribution",
        book.void_contribution,
        url_for("contributions.detail", cid=cid),
        default_reason=undo,
    )
