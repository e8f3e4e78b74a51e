"""Small helpers shared by the page views."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

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
