"""The JSON API of the treasurer's book, ``/api/v1/``; described in :mod:`..openapi`.

Reads need any role's bearer token, writes a treasurer's or an admin's; every create call
honours ``Idempotency-Key``. The shared rules (auth, errors, money, bodies, keys) are in
:mod:`ceroc_donations.apiutil`.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, jsonify, request, url_for
from sqlalchemy import select

from ceroc_donations.apiutil import (
    AMOUNT,
    ID_LIST,
    ID_OR_TEXT,
    SHARE_LIST,
    TEXT,
    BadBody,
    api_blueprint,
    api_error,
    caller,
    commit_created,
    day_json,
    idempotency_key,
    json_body,
    moment_json,
    money_json,
    page_json,
    parse_with,
    query,
    replayed,
    token_required,
)
from ceroc_donations.book import queries, receipts
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import (
    MAX_ID,
    parse_contribution,
    parse_donor,
    parse_expense,
    parse_fund,
    parse_void_reason,
)
from ceroc_donations.book.models import Contribution, Donor, Expense, Fund
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.filters import book_filter
from ceroc_donations.money import Money
from ceroc_donations.privacy import public_name, sees_names

bp = api_blueprint("api", __name__)

# --- what a JSON body may hold ------------------------------------------------------------

DONOR_FIELDS = dict.fromkeys(book.DONOR_FIELDS, TEXT)
CONTRIBUTION_FIELDS = {
    "donor_ids": ID_LIST,
    "shares": SHARE_LIST,
    "amount": AMOUNT,
    "currency": TEXT,
    "exchange_rate": AMOUNT,
    "received_on": TEXT,
    "received_by": TEXT,
    "occasion": TEXT,
    "occasion_km": TEXT,
    "purpose": TEXT,
    "purpose_km": TEXT,
    "method": TEXT,
    "in_kind_description": TEXT,
    "fund_id": ID_OR_TEXT,
    "public_display": TEXT,
    "note": TEXT,
}
EXPENSE_FIELDS = {
    "paid_on": TEXT,
    "payee": TEXT,
    "amount": AMOUNT,
    "currency": TEXT,
    "exchange_rate": AMOUNT,
    "category": TEXT,
    "fund_id": ID_OR_TEXT,
    "description_en": TEXT,
    "description_km": TEXT,
}
FUND_FIELDS = dict.fromkeys(("code", "name_en", "name_km", "description", "description_km"), TEXT)
VOID_FIELDS = {"reason": TEXT}

reads = token_required("read")
writes = token_required("write_book")


# --- JSON shapes ----------------------------------------------------------------------------


def money_fields(entry) -> dict:
    """A contribution's or expense's amount as given, in the base currency, and the rate."""
    return {
        "amount": money_json(Money(entry.amount_minor, entry.currency)),
        "base_amount": money_json(Money(entry.base_amount_minor, entry.base_currency)),
        "exchange_rate": entry.exchange_rate,
    }


def fund_ref(fund: Fund) -> dict:
    return {"id": fund.id, "code": fund.code, "name_en": fund.name_en, "name_km": fund.name_km}


def fund_json(fund: Fund, balance: queries.FundBalance | None) -> dict:
    base = current_app.config["BASE_CURRENCY"]
    money_in = balance.money_in if balance else Money(0, base)
    money_out = balance.money_out if balance else Money(0, base)
    return {
        **fund_ref(fund),
        "description": fund.description,
        "description_km": fund.description_km,
        "archived": fund.archived,
        "money_in": money_json(money_in),
        "money_out": money_json(money_out),
        "balance": money_json(Money(money_in.minor - money_out.minor, money_in.currency)),
    }


def donor_json(donor: Donor) -> dict:
    return {
        "id": donor.id,
        **book.donor_snapshot(donor),
        "created_at": moment_json(donor.created_at),
    }


def _voiding(entry) -> dict:
    return {
        "voided": entry.voided,
        "void_reason": entry.void_reason,
        "voided_at": moment_json(entry.voided_at),
        "is_example": entry.is_example,
        "created_at": moment_json(entry.created_at),
        "updated_at": moment_json(entry.updated_at),
    }


def _co_donor(c: Contribution, share, viewer) -> dict:
    """A co-donor as *viewer* may see them: without the donor's id (which would link the
    gifts of an anonymous donor) unless they see names as recorded."""
    shown = public_name(share.donor, c, viewer)
    return {
        **({"id": share.donor_id} if sees_names(viewer) else {}),
        "name_en": shown.en,
        "name_km": share.donor.name_km if sees_names(viewer) else shown.km,
        "share": None
        if share.share_minor is None
        else money_json(Money(share.share_minor, c.currency)),
    }


def contribution_json(c: Contribution) -> dict:
    viewer = caller()
    return {
        "id": c.id,
        "reference": c.reference,
        **money_fields(c),
        "donors": [_co_donor(c, s, viewer) for s in c.shares],
        "received_on": day_json(c.received_on),
        "received_by": c.received_by,
        "occasion": c.occasion,
        "occasion_km": c.occasion_km,
        "purpose": c.purpose,
        "purpose_km": c.purpose_km,
        "method": c.method,
        "in_kind_description": c.in_kind_description,
        "fund": fund_ref(c.fund),
        "public_display": c.public_display,
        "note": c.note if sees_names(viewer) else None,
        "thank_status": c.thank_status,
        **_voiding(c),
    }


def expense_json(e: Expense) -> dict:
    receipt = None
    if e.receipt_path:
        receipt = {
            "name": e.receipt_name,
            "mime": e.receipt_mime,
            "sha256": e.receipt_sha256,
            "url": url_for("expenses.receipt", eid=e.id),
        }
    return {
        "id": e.id,
        "reference": e.reference,
        **money_fields(e),
        "paid_on": day_json(e.paid_on),
        "payee": e.payee,
        "category": e.category,
        "fund": fund_ref(e.fund),
        "description_en": e.description_en,
        "description_km": e.description_km,
        "receipt": receipt,
        **_voiding(e),
    }


# --- helpers for the views ------------------------------------------------------------------


def _get(model, ident: int):
    row = db.session.get(model, ident) if 0 < ident <= MAX_ID else None
    if row is None:
        raise BadBody(404, f"No {model.__tablename__} with id {ident}.")
    return row


def _list(page: queries.Page, shape: Callable):
    return jsonify(page_json(page.items, page.next_cursor, shape))


def _one(model, shape: Callable) -> Callable[[list[int]], dict]:
    """The JSON of the one row a create call made (for its first answer and for replays)."""
    return lambda ids: shape(_get(model, ids[0]))


# --- the OpenAPI document -------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi():
    from ceroc_donations.openapi import build_spec

    return jsonify(build_spec())


# --- donors ---------------------------------------------------------------------------------


@bp.get("/donors")
@token_required("donor_names")
def list_donors():
    args = query()
    q, cursor, limit = args.text("q"), args.cursor(shape=(str, int)), args.limit()
    args.check()
    return _list(queries.donors_page(q, cursor, limit), donor_json)


@bp.get("/donors/<int:donor_id>")
@token_required("donor_names")
def get_donor(donor_id: int):
    return jsonify(donor_json(_get(Donor, donor_id)))


@bp.post("/donors")
@writes
def create_donor():
    key = idempotency_key()
    values, type_errors = json_body(DONOR_FIELDS)
    shape = _one(Donor, donor_json)
    if (done := replayed("donors", key)) is not None:
        return jsonify(shape(done)), 200
    donor = book.create_donor(parse_with(parse_donor, values, type_errors), by=caller())
    location = url_for("api.get_donor", donor_id=donor.id)
    return commit_created("donors", key, [donor.id], shape, location=location, reread=False)


@bp.patch("/donors/<int:donor_id>")
@writes
def update_donor(donor_id: int):
    donor = _get(Donor, donor_id)
    values, type_errors = json_body(DONOR_FIELDS)
    merged = {**book.donor_snapshot(donor), **values}
    book.update_donor(donor, parse_with(parse_donor, merged, type_errors), by=caller())
    db.session.commit()
    return jsonify(donor_json(donor))


# --- funds ----------------------------------------------------------------------------------


def _balances() -> dict[int, queries.FundBalance]:
    return {b.fund.id: b for b in queries.fund_balances()}


def _fund(ids: list[int]) -> dict:
    fund = _get(Fund, ids[0])
    return fund_json(fund, _balances().get(fund.id))


@bp.get("/funds")
@reads
def list_funds():
    balances = _balances()
    funds = db.session.execute(select(Fund).order_by(Fund.id)).scalars()
    return jsonify(page_json(list(funds), None, lambda f: fund_json(f, balances.get(f.id))))


@bp.get("/funds/<int:fund_id>")
@reads
def get_fund(fund_id: int):
    return jsonify(_fund([fund_id]))


_CODE_TAKEN = "A fund with this code exists already."


@bp.post("/funds")
@writes
def create_fund():
    key = idempotency_key()
    values, type_errors = json_body(FUND_FIELDS)
    if (done := replayed("funds", key)) is not None:
        return jsonify(_fund(done)), 200
    data = parse_with(parse_fund, values, type_errors)
    if db.session.execute(select(Fund.id).where(Fund.code == data["code"])).scalar():
        return api_error(409, _CODE_TAKEN, {"code": _CODE_TAKEN})
    fund = book.create_fund(
        data["code"],
        data["name_en"],
        name_km=data["name_km"],
        description=data["description"],
        description_km=data["description_km"],
        by=caller(),
    )
    return commit_created(
        "funds",
        key,
        [fund.id],
        _fund,
        location=url_for("api.get_fund", fund_id=fund.id),
        # the same code, created by someone else a moment ago
        conflict=(_CODE_TAKEN, {"code": _CODE_TAKEN}),
    )


# --- contributions --------------------------------------------------------------------------


@bp.get("/contributions")
@reads
def list_contributions():
    args = query()
    f = queries.visible_to(book_filter(args, category=False), caller())
    cursor, limit = args.cursor(), args.limit()
    args.check()
    return _list(queries.contributions_page(f, cursor, limit), contribution_json)


@bp.get("/contributions/<int:cid>")
@reads
def get_contribution(cid: int):
    return jsonify(contribution_json(_get(Contribution, cid)))


@bp.post("/contributions")
@writes
def create_contribution():
    key = idempotency_key()
    values, type_errors = json_body(CONTRIBUTION_FIELDS)
    shape = _one(Contribution, contribution_json)
    if (done := replayed("contributions", key)) is not None:
        return jsonify(shape(done)), 200
    shares = ["" if s is None else s for s in values.get("shares") or []]
    data = parse_with(
        parse_contribution,
        values,
        type_errors,
        donor_ids=values.get("donor_ids") or [],
        shares=shares,
    )
    c = book.record_contribution(data, by=caller())
    location = url_for("api.get_contribution", cid=c.id)
    return commit_created("contributions", key, [c.id], shape, location=location, reread=False)


@bp.post("/contributions/<int:cid>/void")
@writes
def void_contribution(cid: int):
    return _void(_get(Contribution, cid), book.void_contribution, contribution_json)


def _void(item, void, to_json):
    """Void *item* with the body's reason: 409 when it is void already."""
    values, type_errors = json_body(VOID_FIELDS)
    reason = parse_with(parse_void_reason, values, type_errors)
    try:
        void(item, reason, by=caller())
    except Conflict as exc:
        db.session.rollback()
        return api_error(409, str(exc))
    db.session.commit()
    return jsonify(to_json(item))


# --- expenses -------------------------------------------------------------------------------


@bp.get("/expenses")
@reads
def list_expenses():
    args = query()
    f = book_filter(args, thanks=False, donor=False)
    cursor, limit = args.cursor(), args.limit()
    args.check()
    return _list(queries.expenses_page(f, cursor, limit), expense_json)


@bp.get("/expenses/<int:eid>")
@reads
def get_expense(eid: int):
    return jsonify(expense_json(_get(Expense, eid)))


def _expense_input(body: tuple[dict, dict] | None):
    """The checked expense and its stored receipt, from a JSON *body* or, when that is
    None, a form with an optional ``receipt`` file (stored only when all is valid)."""
    if body is not None:
        return parse_with(parse_expense, *body), None
    errors: dict = {}
    values = {k: v for k, v in request.form.items() if k in EXPENSE_FIELDS}
    upload = receipts.read_upload(request.files.get("receipt"), errors)
    data = parse_with(parse_expense, values, errors)
    return data, receipts.store_receipt(*upload) if upload else None


@bp.post("/expenses")
@writes
def create_expense():
    key = idempotency_key()
    multipart = request.mimetype == "multipart/form-data"
    body = None if multipart else json_body(EXPENSE_FIELDS)
    shape = _one(Expense, expense_json)
    if (done := replayed("expenses", key)) is not None:
        return jsonify(shape(done)), 200
    data, stored = _expense_input(body)
    e = book.record_expense(data, by=caller(), receipt=stored)
    location = url_for("api.get_expense", eid=e.id)
    return commit_created("expenses", key, [e.id], shape, location=location, reread=False)


@bp.post("/expenses/<int:eid>/void")
@writes
def void_expense(eid: int):
    return _void(_get(Expense, eid), book.void_expense, expense_json)
