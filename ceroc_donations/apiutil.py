"""What every ``/api/v1`` blueprint shares: one way to authenticate, to fail, to read a
body, to show money and to make a create call safe to retry.

* **Auth**: :func:`token_required`. Every endpoint but the OpenAPI document needs
  ``Authorization: Bearer <token>``; a browser session is never read here, for reads or
  writes, so a page on another site cannot act through a logged-in browser. That is why
  the API blueprints are exempt from the form CSRF check (:func:`api_blueprint`).
* **Errors**: :func:`api_error` — ``{"error": "...", "fields": {"name": "message"}}`` with
  a 4xx status; a 422 names each field to correct.
* **Money**: :func:`money_json` — ``{"amount": "400.00", "currency": "USD", "minor": 40000}``
  everywhere.
* **Bodies**: :func:`json_body` checks JSON types; :func:`parse_with` runs a form parser.
* **Idempotency-Key** on every create call: :func:`replayed` and :func:`commit_created`.
  The key is stored with the SHA-256 of the request; the same key with the same request
  returns what the first one made (200), with another request a 422.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import date, datetime
from functools import wraps

from flask import Blueprint, g, jsonify, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from ceroc_donations.accounts.models import IdempotencyKey, User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.extensions import csrf, db
from ceroc_donations.filters import QueryArgs
from ceroc_donations.money import Money, to_input
from ceroc_donations.security import can, user_from_bearer

IDEMPOTENCY_KEY_MAX = 64
MAX_LIST_ITEMS = 100


def api_error(status: int, message: str, fields: Mapping[str, str] | None = None):
    """The one JSON error shape of the API."""
    response = jsonify({"error": message, "fields": dict(fields or {})})
    response.status_code = status
    return response


class BadBody(Exception):
    """The request cannot be read as the JSON object (or header) an endpoint expects."""

    def __init__(self, status: int, message: str, fields: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = dict(fields or {})


def api_blueprint(name: str, import_name: str) -> Blueprint:
    """A blueprint under ``/api/v1`` with the API's error shapes and no form CSRF check
    (it reads no cookies: see :func:`token_required`)."""
    bp = Blueprint(name, import_name, url_prefix="/api/v1")
    csrf.exempt(bp)

    @bp.errorhandler(BadBody)
    def _bad_body(exc: BadBody):
        db.session.rollback()
        return api_error(exc.status, exc.message, exc.fields)

    @bp.errorhandler(Invalid)
    def _invalid(exc: Invalid):
        db.session.rollback()
        return api_error(422, "Some fields are not valid: see 'fields'.", exc.fields)

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        return api_error(exc.code or 400, exc.description or exc.name)

    return bp


# --- who may call ---------------------------------------------------------------------------


def token_required(capability: str = "read") -> Callable:
    """401 without a valid bearer token, 403 when its user's role lacks *capability*."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            user = user_from_bearer()
            if user is None:
                return api_error(
                    401,
                    "Authentication required: send 'Authorization: Bearer <token>'. "
                    "The API does not read browser sessions.",
                )
            if user.must_change_password:
                return api_error(403, "Change your temporary password on /account first.")
            if not can(user, capability):
                return api_error(403, "Your role may not do this.")
            g.api_user = user
            return view(*args, **kwargs)

        return wrapped

    return decorator


def caller() -> User:
    """The user whose token authorised this request."""
    return g.api_user


# --- shapes -----------------------------------------------------------------------------------


def money_json(money: Money) -> dict:
    """An exact amount: the decimal as a string, its currency, and integer minor units."""
    return {"amount": to_input(money), "currency": money.currency, "minor": money.minor}


def day_json(value: date | None) -> str | None:
    return value.isoformat() if value else None


def moment_json(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None  # stored as naive UTC


def page_json(items: list, next_cursor: str | None, shape: Callable) -> dict:
    return {"items": [shape(item) for item in items], "next_cursor": next_cursor}


def query() -> QueryArgs:
    """The query string, read strictly: :meth:`QueryArgs.check` raises a 422."""
    return QueryArgs(request.args, strict=True)


# --- what a JSON body may hold ------------------------------------------------------------

TEXT, AMOUNT, ID_OR_TEXT, ID_LIST, SHARE_LIST, BOOLEAN = (
    "text",
    "amount",
    "id_or_text",
    "ids",
    "shares",
    "boolean",
)
_NUMBER_AS_TEXT = 'Send numbers as strings, e.g. "400.00".'


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_id(value) -> bool:
    """An id as JSON may write it: 12, or 12.0 (JSON Schema counts both as integers)."""
    return _is_int(value) or (isinstance(value, float) and value.is_integer())


def _id_value(kind: str, value):
    """Ids written as 12.0 read as 12."""
    if kind == ID_LIST and isinstance(value, list):
        return [int(v) if isinstance(v, float) else v for v in value]
    if kind == ID_OR_TEXT and isinstance(value, float):
        return int(value)
    return value


def _bad_text(value: str) -> bool:
    # Lone surrogates come through JSON escapes ("\ud800") and cannot be stored as UTF-8.
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)


def _list_error(kind: str, value) -> str | None:
    if isinstance(value, list) and len(value) > MAX_LIST_ITEMS:
        if kind == ID_LIST:
            return f"At most {MAX_LIST_ITEMS} donors share one contribution."
        return f"At most {MAX_LIST_ITEMS} shares, one per donor."
    if kind == ID_LIST:
        if isinstance(value, list) and all(_is_id(v) for v in value):
            return None
        return "Send a list of donor ids, e.g. [12, 15]."
    items = value if isinstance(value, list) else [value]
    if any(_is_int(item) or isinstance(item, float) for item in items):
        return _NUMBER_AS_TEXT
    if isinstance(value, list) and all(
        item is None or (isinstance(item, str) and not _bad_text(item)) for item in value
    ):
        return None
    return 'Send a list of amounts as strings (or null), e.g. ["250.00", "150.00"].'


def _type_error(kind: str, value) -> str | None:
    """A message when *value* has the wrong JSON type for a field of *kind*, else None."""
    if value is None:
        return None
    if kind == BOOLEAN:
        return None if isinstance(value, bool) else "Send true or false."
    if kind in (ID_LIST, SHARE_LIST):
        return _list_error(kind, value)
    if isinstance(value, str):
        return "This text is not valid Unicode." if _bad_text(value) else None
    if kind == AMOUNT:
        return (
            _NUMBER_AS_TEXT
            if _is_int(value) or isinstance(value, float)
            else ('Send the amount as a string, e.g. "400.00".')
        )
    if kind == ID_OR_TEXT:
        return None if _is_id(value) else "Send the id as a number or the code as a string."
    return "Send text (a JSON string)."


def json_body(fields: Mapping[str, str], *, required: bool = True) -> tuple[dict, dict]:
    """Read the JSON object body: (values with good types, messages for the others).

    Unknown fields are refused by name. With ``required=False`` an empty body reads as
    ``{}``.
    """
    if not required and not request.get_data(cache=True):
        return {}, {}
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
            values[key] = _id_value(fields[key], value)
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


# --- Idempotency-Key ------------------------------------------------------------------------


def idempotency_key() -> str | None:
    """The request's ``Idempotency-Key`` header, or None; 400 when it is too long."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise BadBody(400, f"Keep the Idempotency-Key under {IDEMPOTENCY_KEY_MAX} characters.")
    if key:
        request_sha256()  # now, before the view reads (and stores) any uploaded file
    return key or None


def request_sha256() -> str:
    """A fingerprint of what the request asks for: method, path and body (JSON compared by
    value, so key order and spacing do not count; form fields and files by content).
    Computed once per request."""
    if "request_sha256" in g:
        return g.request_sha256
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    if request.is_json:
        data = request.get_json(silent=True)
        digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    else:
        for name in sorted(request.form):
            digest.update(json.dumps([name, request.form.getlist(name)]).encode())
        for name in sorted(request.files):
            for upload in request.files.getlist(name):
                content = upload.stream.read()
                upload.stream.seek(0)
                digest.update(json.dumps([name, upload.filename]).encode())
                digest.update(hashlib.sha256(content).digest())
    g.request_sha256 = digest.hexdigest()
    return g.request_sha256


def _own(scope: str) -> str:
    """A key belongs to the kind of record and to the caller: two users (or two scripts
    with their own tokens) who happen to pick the same key never get each other's result."""
    return f"{scope}/user-{caller().id}"


def _stored(scope: str, key: str) -> IdempotencyKey | None:
    return db.session.execute(
        select(IdempotencyKey).where(IdempotencyKey.scope == _own(scope), IdempotencyKey.key == key)
    ).scalar()


def replayed(scope: str, key: str | None) -> list[int] | None:
    """The ids the first request with *key* made, when this request is the same one again;
    None when the key is new. A different request with a used key is a 422."""
    row = _stored(scope, key) if key else None
    if row is None:
        return None
    if row.request_sha256 is not None and row.request_sha256 != request_sha256():
        raise BadBody(
            422,
            "This Idempotency-Key was already used with a different request: send a new key "
            "for a new request, or the same body to get the first result again.",
            {"Idempotency-Key": "Already used with a different request body."},
        )
    return row.result_ids


def commit_created(
    scope: str,
    key: str | None,
    ids: list[int],
    shape: Callable[[list[int]], dict],
    *,
    location: str | None = None,
    status: int = 201,
    conflict: tuple[str, dict] | None = None,
    reread: bool = True,
):
    """Commit what a create call made (and its key); respond with ``shape(ids)``.

    When another request with the same key committed first, answer as :func:`replayed`
    does; any other conflict is a 409 (*conflict* gives its message and fields).
    ``reread=False`` answers from the objects just written, as they were flushed, instead
    of loading them again after the commit (for shapes that read nothing else).
    """
    if key:
        db.session.add(
            IdempotencyKey(
                scope=_own(scope),
                key=key,
                request_sha256=request_sha256(),
                result_ids_json=json.dumps(ids),
                user_id=caller().id,
            )
        )
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = reread
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        first = replayed(scope, key)
        if first is None:
            message, fields = conflict or ("This conflicts with what is stored already.", {})
            return api_error(409, message, fields)
        return jsonify(shape(first)), 200
    finally:
        session.expire_on_commit = expire
    response = jsonify(shape(ids))
    response.status_code = status
    if location:
        response.headers["Location"] = location
    return response
