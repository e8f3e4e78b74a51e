from __future__ import annotations

from datetime import date

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from ceroc_donations.book import queries, receipts
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Invalid, Rejected, base_currency, parse_expense
from ceroc_donations.book.models import EXPENSE_CATEGORIES, Expense
from ceroc_donations.extensions import db
from ceroc_donations.money import to_input
from ceroc_donations.security import requires
from ceroc_donations.web import (
    active_funds,
    book_filter,
    new_idempotency_key,
    restored_form,
    void_page,
)

bp = Blueprint("expenses", __name__, url_prefix="/expenses")


@bp.get("/")
@requires("read")
def index():
    f = book_filter(receipt=True)
    page = queries.expenses_page(f, request.args.get("after"))
    return render_template(
        "book/expenses/index.html",
        page=page,
        f=f,
        funds=active_funds(),
        categories=EXPENSE_CATEGORIES,
    )


def _form(values, errors, *, expense=None, held=None, status=200):
    return render_template(
        "book/expenses/form.html",
        values=values,
        errors=errors,
        held=held,
        expense=expense,
        funds=active_funds(),
        categories=EXPENSE_CATEGORIES,
        base_currency=base_currency(),
    ), status


def _parse():
    errors: dict = {}
    upload = receipts.form_receipt(errors, current_user.id)
    try:
        data = parse_expense(request.form)
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


@bp.route("/new", methods=["GET", "POST"])
@requires("write_book")
def new():
    if request.method == "GET":
        return _form(
            restored_form()
            or {
                "paid_on": date.today().isoformat(),
                "currency": base_currency(),
                "idempotency_key": new_idempotency_key(),
            },
            _first_errors(),
        )
    key = request.form.get("idempotency_key", "")[:64] or None
    if (done := book.find_by_idempotency_key(Expense, key)) is not None:
        flash(
            _("%(ref)s was already recorded: the form was sent twice.", ref=done.reference), "info"
        )
        return redirect(url_for("expenses.detail", eid=done.id))
    try:
        data, stored, upload = _parse()
        e = book.record_expense(data, by=current_user, receipt=stored, idempotency_key=key)
    except Invalid as exc:
        db.session.rollback()
        return _form(request.form, exc.fields, held=getattr(exc, "held", None), status=422)
    db.session.commit()
    receipts.discard_pending(upload and upload.token)
    flash(_("%(ref)s recorded.", ref=e.reference), "success")
    return redirect(url_for("expenses.detail", eid=e.id))


@bp.get("/<int:eid>")
@requires("read")
def detail(eid: int):
    e = db.session.get(Expense, eid) or abort(404)
    return render_template("book/expenses/detail.html", e=e)


@bp.get("/<int:eid>/receipt")
@requires("read")
def receipt(eid: int):
    e = db.session.get(Expense, eid) or abort(404)
    return receipts.send_receipt(e.receipt_path, e.receipt_mime, e.receipt_name)


@bp.get("/<int:eid>/receipt/view")
@requires("read")
def receipt_view(eid: int):
    e = db.session.get(Expense, eid) or abort(404)
    return receipts.viewer(
        e,
        url_for("expenses.receipt", eid=eid),
        url_for("expenses.detail", eid=eid),
    )


@bp.route("/<int:eid>/edit", methods=["GET", "POST"])
@requires("write_book")
def edit(eid: int):
    e = db.session.get(Expense, eid) or abort(404)
    if e.voided:
        flash(_("A voided expense cannot be edited."), "error")
        return redirect(url_for("expenses.detail", eid=eid))
    if request.method == "GET":
        snap = book.expense_snapshot(e)
        values = {
            **{k: ("" if v is None else v) for k, v in snap.items()},
            "amount": to_input(e.amount),
            "paid_on": e.paid_on.isoformat(),
            "fund_id": str(e.fund_id),
            # A base-currency expense shows no rate, so a currency changed later needs one.
            "exchange_rate": "" if e.currency == e.base_currency else e.exchange_rate,
        }
        return _form(restored_form() or values, _first_errors(), expense=e)
    try:
        data, stored, upload = _parse()
        book.update_expense(e, data, by=current_user, receipt=stored)
    except Invalid as exc:
        db.session.rollback()
        held = getattr(exc, "held", None)
        return _form(request.form, exc.fields, expense=e, held=held, status=422)
    db.session.commit()
    receipts.discard_pending(upload and upload.token)
    flash(_("%(ref)s saved.", ref=e.reference), "success")
    return redirect(url_for("expenses.detail", eid=e.id))


@bp.route("/<int:eid>/void", methods=["GET", "POST"])
@requires("write_book")
def void(eid: int):
    e = db.session.get(Expense, eid) or abort(404)
    return void_page(e, "expense", book.void_expense, url_for("expenses.detail", eid=eid))
