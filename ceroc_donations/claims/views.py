"""Expense claims: members ask to be paid back, the board decides, the treasurer pays."""

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

from ceroc_donations.book import receipts
from ceroc_donations.book.inputs import Invalid, base_currency
from ceroc_donations.book.models import EXPENSE_CATEGORIES
from ceroc_donations.book.service import Conflict
from ceroc_donations.claims import service as claims
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db
from ceroc_donations.security import can, requires
from ceroc_donations.web import active_funds, new_idempotency_key, restored_form

bp = Blueprint("claims", __name__, url_prefix="/claims")


def _claim(cid: int) -> ExpenseClaim:
    claim = db.session.get(ExpenseClaim, cid) or abort(404)
    # The claimant follows their own claim; the board and the treasurer handle everyone's.
    if not (
        claim.claimant_id == current_user.id
        or can(current_user, "approve_claims")
        or can(current_user, "write_book")
    ):
        abort(403)
    return claim


def _not_allowed(exc: Exception):
    return render_template("error.html", status=403, title=_("Not allowed"), message=str(exc)), 403


@bp.get("/")
@requires("claim")
def index():
    return render_template(
        "claims/index.html",
        claims=claims.claims_of(current_user),
        to_decide=claims.count_waiting("submitted")
        if can(current_user, "approve_claims")
        else None,
        to_pay=claims.count_waiting("approved") if can(current_user, "write_book") else None,
    )


def _form(values, errors, held=None, status=200):
    return render_template(
        "claims/form.html",
        values=values,
        errors=errors,
        held=held,
        categories=EXPENSE_CATEGORIES,
    ), status


@bp.route("/new", methods=["GET", "POST"])
@requires("claim")
def new():
    if request.method == "GET":
        return _form(
            restored_form()
            or {
                "spent_on": date.today().isoformat(),
                "currency": base_currency(),
                "idempotency_key": new_idempotency_key(),
            },
            {"receipt": receipts.too_large_message()} if request.args.get("too_large") else {},
        )
    key = request.form.get("idempotency_key", "")[:64] or None
    if (done := claims.find_by_idempotency_key(key)) is not None:
        flash(
            _("%(ref)s was already sent: the form was submitted twice.", ref=done.reference), "info"
        )
        return redirect(url_for("claims.detail", cid=done.id))
    errors: dict = {}
    # Stored only when the whole form is valid; kept under a token for the next submit if not.
    upload = receipts.form_receipt(errors, current_user.id, required=True)
    try:
        data = claims.parse_claim(request.form)
    except Invalid as exc:
        errors = {**exc.fields, **errors}
    if errors:
        held = receipts.held_receipt(upload, current_user.id)
        return _form(request.form, errors, held=held, status=422)
    stored = receipts.store_receipt(upload.content, upload.filename)
    claim = claims.submit_claim(data, stored, by=current_user, idempotency_key=key)
    db.session.commit()
    receipts.discard_pending(upload.token)
    flash(_("%(ref)s sent to the board. You can follow it here.", ref=claim.reference), "success")
    return redirect(url_for("claims.detail", cid=claim.id))


def _detail(claim: ExpenseClaim, *, errors=None, values=None, problem=None, status=200):
    return render_template(
        "claims/detail.html",
        claim=claim,
        errors=errors or {},
        values=values or {},
        problem=problem,
        funds=active_funds(),
        base_currency=base_currency(),
        today=date.today().isoformat(),
    ), status


@bp.get("/<int:cid>")
@requires("claim")
def detail(cid: int):
    return _detail(_claim(cid))


@bp.get("/<int:cid>/receipt")
@requires("claim")
def receipt(cid: int):
    # A receipt may show the claimant's card or address: only those who may open the claim
    # (the claimant, the board, the treasurer, admins) get it; never the public.
    claim = _claim(cid)
    return receipts.send_receipt(claim.receipt_path, claim.receipt_mime, claim.receipt_name)


@bp.get("/<int:cid>/receipt/view")
@requires("claim")
def receipt_view(cid: int):
    claim = _claim(cid)
    return receipts.viewer(
        claim,
        url_for("claims.receipt", cid=cid),
        url_for("claims.detail", cid=cid),
    )


def _back(claim: ExpenseClaim):
    where = request.form.get("back")
    if where == "review":
        return redirect(url_for("claims.review"))
    if where == "pay":
        return redirect(url_for("claims.to_pay"))
    return redirect(url_for("claims.detail", cid=claim.id))


def _step(cid: int, action):
    """Run *action(claim)*; map the service's refusals to pages."""
    claim = _claim(cid)
    try:
        message = action(claim)
    except claims.NotAllowed as exc:
        db.session.rollback()
        return _not_allowed(exc)
    except Conflict as exc:
        db.session.rollback()
        return _detail(db.session.get(ExpenseClaim, cid), problem=str(exc), status=409)
    except Invalid as exc:
        db.session.rollback()
        return _detail(
            db.session.get(ExpenseClaim, cid), errors=exc.fields, values=request.form, status=422
        )
    db.session.commit()
    flash(message, "success")
    return _back(claim)


@bp.post("/<int:cid>/withdraw")
@requires("claim")
def withdraw(cid: int):
    def action(claim):
        claims.withdraw(claim, by=current_user)
        return _("%(ref)s withdrawn.", ref=claim.reference)

    return _step(cid, action)


@bp.get("/review")
@requires("approve_claims")
def review():
    return render_template(
        "claims/queue.html",
        mode="review",
        claims=claims.queue("submitted"),
        funds=[],
        base_currency=base_currency(),
        today=None,
    )


@bp.post("/<int:cid>/approve")
@requires("approve_claims")
def approve(cid: int):
    def action(claim):
        claims.approve(
            claim, claims.parse_decision_note(request.form, required=False), by=current_user
        )
        return _("%(ref)s approved: the treasurer can now pay it.", ref=claim.reference)

    return _step(cid, action)


@bp.post("/<int:cid>/reject")
@requires("approve_claims")
def reject(cid: int):
    def action(claim):
        reason = claims.parse_decision_note(request.form, required=True)
        claims.reject(claim, reason or "", by=current_user)
        return _("%(ref)s rejected; the claimant sees your reason.", ref=claim.reference)

    return _step(cid, action)


@bp.get("/pay")
@requires("write_book")
def to_pay():
    return render_template(
        "claims/queue.html",
        mode="pay",
        claims=claims.queue("approved"),
        funds=active_funds(),
        base_currency=base_currency(),
        today=date.today().isoformat(),
    )


@bp.post("/<int:cid>/pay")
@requires("write_book")
def pay(cid: int):
    def action(claim):
        claims.expect_step(claim, "pay")  # say the state before complaining about the form
        claims.mark_paid(claim, claims.parse_payment(claim, request.form), by=current_user)
        return _(
            "%(ref)s paid: recorded as expense %(expense)s.",
            ref=claim.reference,
            expense=claim.expense.reference,
        )

    return _step(cid, action)
