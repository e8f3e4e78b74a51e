from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup, escape

from ceroc_donations.book import queries, receipts
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import (
    Checker,
    Invalid,
    Rejected,
    base_currency,
    db_id,
    parse_contribution,
)
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.extensions import db
from ceroc_donations.i18n import date_filter, money_filter
from ceroc_donations.money import to_input
from ceroc_donations.security import requires
from ceroc_donations.web import (
    active_funds,
    book_filter,
    new_idempotency_key,
    restored_form,
    void_page,
)

bp = Blueprint("contributions", __name__, url_prefix="/contributions")


@bp.get("/")
@requires("read")
def index():
    f = queries.visible_to(book_filter(), current_user)
    page = queries.contributions_page(f, request.args.get("after"))
    return render_template("book/contributions/index.html", page=page, f=f, funds=active_funds())


def _conversion(values) -> dict:
    """The base value of the amount typed and the last rate used for its currency.

    Read by the same rules as the form (:class:`~ceroc_donations.book.inputs.Checker`), so
    what the page shows is what will be stored.
    """
    base = base_currency()
    c = Checker(values)
    currency = c.currency() if values.get("currency") else None
    amount = c.money("amount", currency) if currency and values.get("amount") else None
    rate = None
    if currency and (values.get("exchange_rate") or currency == base):
        rate = c.rate("exchange_rate", currency, base)
    value = c.base_value(amount, rate, base)
    last = queries.last_rate(currency) if currency else None
    return {
        "text": "= " + money_filter(value) if value and currency != base else "",
        "problems": c.errors,
        "last_rate": {
            "rate": last.exchange_rate,
            "text": _(
                "Last rate used for %(currency)s: %(rate)s on %(day)s (%(ref)s).",
                currency=currency,
                rate=last.exchange_rate,
                day=date_filter(last.received_on),
                ref=last.reference,
            ),
        }
        if last
        else None,
    }


def _form(values, errors, *, contribution=None, held=None, status=200):
    ids = values.getlist("donor_ids") if hasattr(values, "getlist") else values.get("donor_ids", [])
    chosen = [d for d in (db.session.get(Donor, i) for i in map(db_id, ids) if i) if d]
    return render_template(
        "book/contributions/form.html",
        values=values,
        errors=errors,
        contribution=contribution,
        held=held,
        chosen=chosen,
        funds=active_funds(),
        base_currency=base_currency(),
        conversion=_conversion(values),
        all_donors=queries.search_donors(None, limit=500),
        shares=values.getlist("shares") if hasattr(values, "getlist") else values.get("shares", []),
    ), status


def _parse():
    """The checked gift and its stored receipt; :class:`Rejected` (the messages, and the
    receipt kept for the next submit) when anything is wrong. Nothing is stored then."""
    errors: dict = {}
    upload = receipts.form_receipt(errors, current_user.id)
    try:
        data = parse_contribution(
            request.form,
            donor_ids=request.form.getlist("donor_ids"),
            shares=request.form.getlist("shares"),
        )
    except Invalid as exc:
        errors = {**exc.fields, **errors}
        data = None
    if errors:
        raise Rejected(errors, receipts.held_receipt(upload, current_user.id))
    stored = receipts.store_receipt(upload.content, upload.filename) if upload else None
    return data, stored, upload


def _first_errors() -> dict:
    """Messages for a form shown again after the server refused it as too large (413)."""
    return {"receipt": receipts.too_large_message()} if request.args.get("too_large") else {}


@bp.get("/convert.json")
@requires("write_book")
def convert_json():
    """The form's live base value ("= $365.60") and the last rate used for the currency."""
    values = {k: request.args.get(k, "")[:100] for k in ("amount", "currency", "exchange_rate")}
    return jsonify(_conversion(values))


@bp.route("/new", methods=["GET", "POST"])
@requires("write_book")
def new():
    if request.method == "GET":
        values = restored_form() or {
            "received_on": date.today().isoformat(),
            "currency": base_currency(),
            "idempotency_key": new_idempotency_key(),
            "donor_ids": [request.args["donor"]] if request.args.get("donor") else [],
        }
        return _form(values, _first_errors())
    key = request.form.get("idempotency_key", "")[:64] or None
    if (done := book.find_by_idempotency_key(Contribution, key)) is not None:
        flash(
            _("%(ref)s was already recorded: the form was sent twice.", ref=done.reference), "info"
        )
        return redirect(url_for("contributions.new"))
    try:
        data, stored, upload = _parse()
        c = book.record_contribution(data, by=current_user, idempotency_key=key, receipt=stored)
    except Invalid as exc:
        db.session.rollback()
        return _form(request.form, exc.fields, held=getattr(exc, "held", None), status=422)
    db.session.commit()
    receipts.discard_pending(upload and upload.token)
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


@bp.get("/<int:cid>/receipt")
@requires("donor_names")
def receipt(cid: int):
    # A cheque or transfer slip names the donor: only those who see donors' names get it.
    c = db.session.get(Contribution, cid) or abort(404)
    return receipts.send_receipt(c.receipt_path, c.receipt_mime, c.receipt_name)


@bp.get("/<int:cid>/receipt/view")
@requires("donor_names")
def receipt_view(cid: int):
    c = db.session.get(Contribution, cid) or abort(404)
    return receipts.viewer(
        c,
        url_for("contributions.receipt", cid=cid),
        url_for("contributions.detail", cid=cid),
    )


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
            # A base-currency gift shows no rate, so a currency changed later needs one typed.
            "exchange_rate": "" if c.currency == c.base_currency else c.exchange_rate,
            "received_on": c.received_on.isoformat(),
            "donor_ids": [str(s.donor_id) for s in c.shares],
            "shares": [
                to_input(type(c.amount)(s.share_minor, c.currency)) if s.share_minor else ""
                for s in c.shares
            ],
        }
        return _form(restored_form() or values, _first_errors(), contribution=c)
    try:
        data, stored, upload = _parse()
        book.update_contribution(c, data, by=current_user, receipt=stored)
    except Invalid as exc:
        db.session.rollback()
        held = getattr(exc, "held", None)
        return _form(request.form, exc.fields, contribution=c, held=held, status=422)
    db.session.commit()
    receipts.discard_pending(upload and upload.token)
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
