"""The JSON API of the treasurer's book, ``/api/v1/``; described in :mod:`..openapi`.

Reads accept a bearer token or the browser session; writes accept only a bearer token, so
a page on another site cannot write through a logged-in browser. That is why this
blueprint is exempt from the form CSRF check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request, url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from ceroc_donations.book import queries, receipts
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import (
    MAX_ID,
    Invalid,
    db_id,
    parse_contribution,
    parse_donor,
    parse_expense,
    parse_fund,
    parse_void_reason,
)
from ceroc_donations.book.models import (
    EXPENSE_CATEGORIES,
    THANK_STATUSES,
    Contribution,
    Donor,
    Expense,
    Fund,
)
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import csrf, db
from ceroc_donations.money import Money, to_input
from ceroc_donations.privacy import public_name, sees_names
from ceroc_donations.security import api_error, api_requires, api_user, can, user_from_bearer

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_LIMIT = 200
IDEMPOTENCY_KEY_MAX = 64
MAX_DONORS = 100

# --- what a JSON body may hold ------------------------------------------------------------
TEXT, AMOUNT, ID_OR_TEXT, ID_LIST, SHARE_LIST = "text", "amount", "id_or_text", "ids", "shares"

DONOR_FIELDS = dict.fromkeys(
    (
        "kind",
        "name_en",
        "name_km",
        "city",
        "region",
        "country",
        "email",
        "postal_address",
        "letter_language",
        "public_display",
        "note",
    ),
    TEXT,
)
CONTRIBUTION_FIELDS = {
    "donor_ids": ID_LIST,
    "shares": SHARE_LIST,
    "amount": AMOUNT,
    "currency": TEXT,
    "exchange_rate": AMOUNT,
    "received_on": TEXT,
    "received_by": TEXT,
    "occasion": TEXT,
    "purpose": TEXT,
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
FUND_FIELDS = dict.fromkeys(("code", "name_en", "name_km", "description"), TEXT)
VOID_FIELDS = {"reason": TEXT}

_NUMBER_AS_TEXT = 'Send numbers as strings, e.g. "400.00".'


class BadBody(Exception):
    """The request body cannot be read as the JSON object an endpoint expects."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bad_text(value: str) -> bool:
    # Lone surrogates come through JSON escapes ("\ud800") and cannot be stored as UTF-8.
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def _type_error(kind: str, value) -> str | None:
    """A message when *value* has the wrong JSON type for a field of *kind*, else None."""
    if value is None:
        return None
    if isinstance(value, str):
        if _bad_text(value):
            return "This text is not valid Unicode."
        if kind in (TEXT, AMOUNT, ID_OR_TEXT):
            return None
    if kind == AMOUNT and (_is_int(value) or isinstance(value, float)):
        return _NUMBER_AS_TEXT
    if kind == ID_OR_TEXT and _is_int(value):
        return None
    if kind == ID_LIST:
        if isinstance(value, list) and len(value) > MAX_DONORS:
            return f"At most {MAX_DONORS} donors share one contribution."
        if isinstance(value, list) and all(_is_int(v) for v in value):
            return None
        return "Send a list of donor ids, e.g. [12, 15]."
    if kind == SHARE_LIST:
        if isinstance(value, list) and len(value) > MAX_DONORS:
            return f"At most {MAX_DONORS} shares, one per donor."
        items = value if isinstance(value, list) else [value]
        for item in items:
            if _is_int(item) or isinstance(item, float):
                return _NUMBER_AS_TEXT
        if isinstance(value, list) and all(
            item is None or (isinstance(item, str) and not _bad_text(item)) for item in value
        ):
            return None
        return 'Send a list of amounts as strings (or null), e.g. ["250.00", "150.00"].'
    if kind == AMOUNT:
        return 'Send the amount as a string, e.g. "400.00".'
    if kind == ID_OR_TEXT:
        return "Send the id as a number or the code as a string."
    return "Send text (a JSON string)."


def json_body(fields: Mapping[str, str]) -> tuple[dict, dict]:
    """Read the JSON object body: (values with good types, messages for the others)."""
    if not request.is_json:
        raise BadBody(415, "Send the body as JSON with 'Content-Type: application/json'.")
    try:
        data = request.get_json(silent=True)
    except RecursionError:
        data = None
    if data is None:
        raise BadBody(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        raise BadBody(400, 'The body must be a JSON object, e.g. {"amount": "400.00"}.')
    errors: dict[str, str] = {}
    values: dict = {}
    for key, value in data.items():
        if key not in fields:
            errors[key] = "Unknown field."
        elif (message := _type_error(fields[key], value)) is not None:
            errors[key] = message
        else:
            values[key] = value
    return values, errors


def parse_with(parser: Callable, values: dict, type_errors: dict, **kwargs):
    """Run *parser*; raise :class:`Invalid` with its messages and the type messages together."""
    try:
        result = parser(values, **kwargs)
    except Invalid as exc:
        raise Invalid({**exc.fields, **type_errors}) from None
    if type_errors:
        raise Invalid(type_errors)
    return result


def _unprocessable(exc: Invalid):
    return api_error(422, "Some fields are not valid: see 'fields'.", exc.fields)


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody):
    return api_error(exc.status, exc.message)


@bp.errorhandler(Invalid)
def _invalid(exc: Invalid):
    db.session.rollback()
    return _unprocessable(exc)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return api_error(exc.code or 400, exc.description or exc.name)


# --- who may call ---------------------------------------------------------------------------


def writes(capability: str = "write_book") -> Callable:
    """Writes need a bearer token: a browser's session cookie alone is refused (CSRF)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = user_from_bearer()
            if user is None:
                if api_user() is not None:
                    return api_error(
                        401,
                        "Writes through the API need 'Authorization: Bearer "
                        "<token>'; a browser session cannot write here.",
                    )
                return api_error(
                    401, "Authentication required: send 'Authorization: Bearer <token>'."
                )
            g.api_user = user
            if not can(user, capability):
                return api_error(403, "Your role may not do this.")
            return view(*args, **kwargs)

        return wrapped

    return decorator


reads = api_requires("read")


# --- JSON shapes ----------------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None  # stored as naive UTC


def _amount(minor: int, currency: str) -> str:
    return to_input(Money(minor, currency))


def money_json(entry) -> dict:
    return {
        "amount": _amount(entry.amount_minor, entry.currency),
        "currency": entry.currency,
        "amount_minor": entry.amount_minor,
        "base_amount": _amount(entry.base_amount_minor, entry.base_currency),
        "base_currency": entry.base_currency,
        "base_amount_minor": entry.base_amount_minor,
        "exchange_rate": entry.exchange_rate,
    }


def fund_ref(fund: Fund) -> dict:
    return {"id": fund.id, "code": fund.code, "name_en": fund.name_en, "name_km": fund.name_km}


def fund_json(fund: Fund, balance: queries.FundBalance | None) -> dict:
    cur = balance.money_in.currency if balance else current_app.config["BASE_CURRENCY"]
    money_in = balance.money_in.minor if balance else 0
    money_out = balance.money_out.minor if balance else 0
    return {
        **fund_ref(fund),
        "description": fund.description,
        "archived": fund.archived,
        "currency": cur,
        "money_in": _amount(money_in, cur),
        "money_out": _amount(money_out, cur),
        "balance": _amount(money_in - money_out, cur),
    }


def donor_json(donor: Donor) -> dict:
    return {"id": donor.id, **book.donor_snapshot(donor), "created_at": _moment(donor.created_at)}


def _voiding(entry) -> dict:
    return {
        "voided": entry.voided,
        "void_reason": entry.void_reason,
        "voided_at": _moment(entry.voided_at),
        "is_example": entry.is_example,
        "created_at": _moment(entry.created_at),
        "updated_at": _moment(entry.updated_at),
    }


def _co_donor(c: Contribution, share, viewer) -> dict:
    """A co-donor as *viewer* may see them: without the donor's id (which would link the
    gifts of an anonymous donor) unless they see names as recorded."""
    shown = public_name(share.donor, c, viewer)
    return {
        **({"id": share.donor_id} if sees_names(viewer) else {}),
        "name_en": shown.en,
        "name_km": share.donor.name_km if sees_names(viewer) else shown.km,
        "share": None if share.share_minor is None else _amount(share.share_minor, c.currency),
        "share_minor": share.share_minor,
    }


def contribution_json(c: Contribution) -> dict:
    viewer = api_user()
    return {
        "id": c.id,
        "reference": c.reference,
        **money_json(c),
        "donors": [_co_donor(c, s, viewer) for s in c.shares],
        "received_on": _day(c.received_on),
        "received_by": c.received_by,
        "occasion": c.occasion,
        "purpose": c.purpose,
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
        **money_json(e),
        "paid_on": _day(e.paid_on),
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


def _limit() -> int:
    raw = request.args.get("limit", "")
    if not raw:
        return min(current_app.config.get("PAGE_SIZE", 50), MAX_LIMIT)
    value = db_id(raw)
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise Invalid({"limit": f"Send a whole number from 1 to {MAX_LIMIT}."})
    return value


def _filter(*, thanks: bool = False, category: bool = False, donor: bool = False):
    """The pages' list filters, checked: a malformed value is a 422, never ignored."""
    args, errors = request.args, {}

    def day(name):
        raw = args.get(name, "")
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            errors[name] = "Enter a date as YYYY-MM-DD."
            return None

    def ident(name):
        raw = args.get(name, "")
        if not raw:
            return None
        value = db_id(raw)
        if value is None:
            errors[name] = "Send a numeric id."
        return value

    void = args.get("void", "")
    if void not in ("", "0", "1", "true", "false"):
        errors["void"] = "Send 1 to include voided entries, 0 to leave them out."
    status = args.get("thanks") or None if thanks else None
    if status and status not in THANK_STATUSES:
        errors["thanks"] = "Choose one of: " + ", ".join(THANK_STATUSES) + "."
    cat = args.get("category") or None if category else None
    if cat and cat not in EXPENSE_CATEGORIES:
        errors["category"] = "Choose one of: " + ", ".join(EXPENSE_CATEGORIES) + "."
    f = queries.BookFilter(
        q=(args.get("q") or "").strip()[:100] or None,
        fund_id=ident("fund"),
        date_from=day("from"),
        date_to=day("to"),
        include_void=void in ("1", "true"),
        thank_status=status,
        category=cat,
        donor_id=ident("donor") if donor else None,
    )
    cursor = _cursor(queries.decode_cursor, errors)
    try:
        limit = _limit()
    except Invalid as exc:
        errors.update(exc.fields)
        limit = 0
    if errors:
        raise Invalid(errors)
    return f, cursor, limit


def _cursor(decode: Callable, errors: dict) -> str | None:
    cursor = request.args.get("cursor") or None
    if cursor and decode(cursor) is None:
        errors["cursor"] = "This cursor is not one this API gave out: start again without it."
    return cursor


def _page(page: queries.Page, shape: Callable):
    return jsonify({"items": [shape(item) for item in page.items], "next_cursor": page.next_cursor})


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise BadBody(400, f"Keep the Idempotency-Key under {IDEMPOTENCY_KEY_MAX} characters.")
    return key or None


def _commit_created(model, key: str | None, obj, shape: Callable, endpoint: str, **ids):
    """Commit a new *obj*; 201 with its JSON, or 200 with the first one when *key* won a race."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = book.find_by_idempotency_key(model, key)
        if existing is None:
            return api_error(409, "This conflicts with what is stored already.")
        return jsonify(shape(existing)), 200
    response = jsonify(shape(obj))
    response.status_code = 201
    response.headers["Location"] = url_for(endpoint, **ids)
    return response


# --- the OpenAPI document -------------------------------------------------------------------


@bp.get("/openapi.json")
def openapi():
    from ceroc_donations.openapi import build_spec

    return jsonify(build_spec())


# --- donors ---------------------------------------------------------------------------------


@bp.get("/donors")
@api_requires("donor_names")
def list_donors():
    errors: dict = {}
    cursor = _cursor(queries.decode_donor_cursor, errors)
    try:
        limit = _limit()
    except Invalid as exc:
        errors.update(exc.fields)
    if errors:
        raise Invalid(errors)
    q = (request.args.get("q") or "").strip()[:100] or None
    return _page(queries.donors_page(q, cursor, limit), donor_json)


@bp.get("/donors/<int:donor_id>")
@api_requires("donor_names")
def get_donor(donor_id: int):
    return jsonify(donor_json(_get(Donor, donor_id)))


@bp.post("/donors")
@writes()
def create_donor():
    values, type_errors = json_body(DONOR_FIELDS)
    donor = book.create_donor(parse_with(parse_donor, values, type_errors), by=g.api_user)
    db.session.commit()
    response = jsonify(donor_json(donor))
    response.headers["Location"] = url_for("api.get_donor", donor_id=donor.id)
    return response, 201


@bp.patch("/donors/<int:donor_id>")
@writes()
def update_donor(donor_id: int):
    donor = _get(Donor, donor_id)
    values, type_errors = json_body(DONOR_FIELDS)
    merged = {**book.donor_snapshot(donor), **values}
    book.update_donor(donor, parse_with(parse_donor, merged, type_errors), by=g.api_user)
    db.session.commit()
    return jsonify(donor_json(donor))


# --- funds ----------------------------------------------------------------------------------


def _balances() -> dict[int, queries.FundBalance]:
    return {b.fund.id: b for b in queries.fund_balances()}


@bp.get("/funds")
@reads
def list_funds():
    balances = _balances()
    funds = db.session.execute(select(Fund).order_by(Fund.id)).scalars()
    return jsonify(
        {"items": [fund_json(f, balances.get(f.id)) for f in funds], "next_cursor": None}
    )


@bp.get("/funds/<int:fund_id>")
@reads
def get_fund(fund_id: int):
    fund = _get(Fund, fund_id)
    return jsonify(fund_json(fund, _balances().get(fund.id)))


@bp.post("/funds")
@writes()
def create_fund():
    values, type_errors = json_body(FUND_FIELDS)
    data = parse_with(parse_fund, values, type_errors)
    if db.session.execute(select(Fund.id).where(Fund.code == data["code"])).scalar():
        return api_error(
            409,
            "A fund with this code exists already.",
            {"code": "A fund with this code exists already."},
        )
    fund = book.create_fund(
        data["code"],
        data["name_en"],
        name_km=data["name_km"],
        description=data["description"],
        by=g.api_user,
    )
    try:
        db.session.commit()
    except IntegrityError:  # the same code, created by someone else a moment ago
        db.session.rollback()
        return api_error(
            409,
            "A fund with this code exists already.",
            {"code": "A fund with this code exists already."},
        )
    response = jsonify(fund_json(fund, None))
    response.headers["Location"] = url_for("api.get_fund", fund_id=fund.id)
    return response, 201


# --- contributions --------------------------------------------------------------------------


@bp.get("/contributions")
@reads
def list_contributions():
    f, cursor, limit = _filter(thanks=True, donor=True)
    f = queries.visible_to(f, api_user())
    return _page(queries.contributions_page(f, cursor, limit), contribution_json)


@bp.get("/contributions/<int:cid>")
@reads
def get_contribution(cid: int):
    return jsonify(contribution_json(_get(Contribution, cid)))


@bp.post("/contributions")
@writes()
def create_contribution():
    key = _idempotency_key()
    values, type_errors = json_body(CONTRIBUTION_FIELDS)
    if (done := book.find_by_idempotency_key(Contribution, key)) is not None:
        return jsonify(contribution_json(done)), 200
    shares = ["" if s is None else s for s in values.get("shares") or []]
    data = parse_with(
        parse_contribution,
        values,
        type_errors,
        donor_ids=values.get("donor_ids") or [],
        shares=shares,
    )
    c = book.record_contribution(data, by=g.api_user, idempotency_key=key)
    return _commit_created(
        Contribution, key, c, contribution_json, "api.get_contribution", cid=c.id
    )


@bp.post("/contributions/<int:cid>/void")
@writes()
def void_contribution(cid: int):
    return _void(_get(Contribution, cid), book.void_contribution, contribution_json)


def _void(item, void, to_json):
    """Void *item* with the body's reason: 409 when it is void already."""
    values, type_errors = json_body(VOID_FIELDS)
    reason = parse_with(parse_void_reason, values, type_errors)
    try:
        void(item, reason, by=g.api_user)
    except Conflict as exc:
        db.session.rollback()
        return api_error(409, str(exc))
    db.session.commit()
    return jsonify(to_json(item))


# --- expenses -------------------------------------------------------------------------------


@bp.get("/expenses")
@reads
def list_expenses():
    f, cursor, limit = _filter(category=True)
    return _page(queries.expenses_page(f, cursor, limit), expense_json)


@bp.get("/expenses/<int:eid>")
@reads
def get_expense(eid: int):
    return jsonify(expense_json(_get(Expense, eid)))


def _multipart_expense():
    """A form body with an optional ``receipt`` file; the file is stored only if all is valid."""
    errors: dict = {}
    values = {k: v for k, v in request.form.items() if k in EXPENSE_FIELDS}
    upload = receipts.read_upload(request.files.get("receipt"), errors)
    data = parse_with(parse_expense, values, errors)
    stored = receipts.store_receipt(*upload) if upload else None
    return data, stored


@bp.post("/expenses")
@writes()
def create_expense():
    key = _idempotency_key()
    if request.mimetype == "multipart/form-data":
        if (done := book.find_by_idempotency_key(Expense, key)) is not None:
            return jsonify(expense_json(done)), 200
        data, stored = _multipart_expense()
    else:
        values, type_errors = json_body(EXPENSE_FIELDS)
        if (done := book.find_by_idempotency_key(Expense, key)) is not None:
            return jsonify(expense_json(done)), 200
        data, stored = parse_with(parse_expense, values, type_errors), None
    e = book.record_expense(data, by=g.api_user, receipt=stored, idempotency_key=key)
    return _commit_created(Expense, key, e, expense_json, "api.get_expense", eid=e.id)


@bp.post("/expenses/<int:eid>/void")
@writes()
def void_expense(eid: int):
    return _void(_get(Expense, eid), book.void_expense, expense_json)
