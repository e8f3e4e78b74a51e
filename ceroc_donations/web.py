"""Small helpers shared by the page views."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from ceroc_donations import filters
from ceroc_donations.book.inputs import Invalid, parse_void_reason
from ceroc_donations.book.models import Fund
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.filters import BookFilter


def external_url(endpoint: str, **values) -> str:
    """An absolute URL for links that leave the app: emails, letters, API answers.

    Built from ``PUBLIC_URL`` (``CEROC_PUBLIC_URL``) when it is set, so a link is the same
    behind any proxy and from a job without a request; otherwise from the request's host.
    """
    public = current_app.config.get("PUBLIC_URL")
    if not public:
        return url_for(endpoint, _external=True, **values)
    parts = urlsplit(public)
    adapter = current_app.url_map.bind(
        parts.netloc, script_name=parts.path.rstrip("/") or "/", url_scheme=parts.scheme
    )
    return adapter.build(endpoint, values, force_external=True)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def book_filter(*, receipt: bool = False) -> BookFilter:
    """The list filters from the query string; anything malformed is ignored."""
    return filters.book_filter(filters.lenient(request.args), receipt=receipt)


def active_funds() -> list[Fund]:
    return list(
        db.session.execute(select(Fund).where(Fund.archived.is_(False)).order_by(Fund.id)).scalars()
    )


def void_page(entry, kind: str, void, back: str, *, default_reason: str = ""):
    """The void form of a contribution or expense: ask for a reason, then void and commit."""
    errors: dict = {}
    if request.method == "POST":
        try:
            void(entry, parse_void_reason(request.form), by=current_user)
        except Invalid as exc:
            errors = exc.fields
        except Conflict as exc:
            flash(str(exc), "error")
            return redirect(back)
        else:
            db.session.commit()
            flash(
                _(
                    "%(ref)s is void: kept, struck through, left out of totals.",
                    ref=entry.reference,
                ),
                "success",
            )
            return redirect(back)
    reason = request.form.get("reason") or default_reason
    return render_template(
        "void.html", entry=entry, kind=kind, reason=reason, errors=errors, back=back
    ), 422 if errors else 200


def _typed_fields(form) -> MultiDict:
    """What a person typed in *form*: no token, no password, no file (never re-shown)."""
    return MultiDict(
        (name, value)
        for name, value in form.items(multi=True)
        if name not in ("csrf_token", "receipt_token") and "password" not in name.lower()
    )


def restored_form() -> MultiDict | None:
    """The typed fields of a submit refused as expired (:func:`expired_form_page`), for the
    form's GET branch to show instead of its defaults; None on an ordinary request."""
    return g.get("restored_form")


def restored_form_json() -> dict | None:
    """The same, as ``{name: [values]}`` for static/js/form-keep.js (forms of any page)."""
    form = restored_form()
    return None if form is None else {name: form.getlist(name) for name in form}


def expired_form_page():
    """The form page again, with what was typed, after its CSRF check failed (token missing
    or expired): the endpoint's own GET, a notice and a fresh token. None when the address
    has no such page (a POST-only action) or the request is not a browser's form."""
    rule = request.url_rule
    if request.method != "POST" or rule is None or "GET" not in (rule.methods or ()):
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None:
        return None
    g.restored_form = _typed_fields(request.form)
    # The view runs as the GET it also answers: it reads no submitted data, changes nothing.
    request.method = "GET"
    request.environ["REQUEST_METHOD"] = "GET"
    flash(
        _(
            "Your form had expired (its security token was missing or too old); check and "
            "submit again. Nothing was saved."
        ),
        "error",
    )
    try:
        response = current_app.make_response(view(**(request.view_args or {})))
    except HTTPException:  # the page itself is not theirs (403) or gone (404)
        session.get("_flashes", []).pop()
        g.pop("restored_form", None)
        return None
    if response.status_code == 200:
        response.status_code = 400
    return response
