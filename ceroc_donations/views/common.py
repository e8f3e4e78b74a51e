"""Small helpers shared by the page views."""

from __future__ import annotations

import uuid
from datetime import date

from flask import request
from sqlalchemy import select

from ..extensions import db
from ..models import Fund
from ..services.queries import BookFilter


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None


def _int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def book_filter() -> BookFilter:
    """The list filters from the query string; anything malformed is ignored."""
    return BookFilter(
        q=(request.args.get("q") or "").strip()[:100] or None,
        fund_id=_int("fund"),
        date_from=_day("from"),
        date_to=_day("to"),
        include_void=request.args.get("void") == "1",
        thank_status=request.args.get("thanks") or None,
        category=request.args.get("category") or None,
        donor_id=_int("donor"),
    )


def active_funds() -> list[Fund]:
    return list(db.session.execute(
        select(Fund).where(Fund.archived.is_(False)).order_by(Fund.id)).scalars())
