"""Query strings: list filters, cursors and page sizes, read one way for pages and the API.

One set of rules, two modes:

* **strict** (the API, and the ledger pages whose filter row shows messages): a malformed
  value is kept in :attr:`QueryArgs.errors` and :meth:`QueryArgs.check` raises
  :class:`~ceroc_donations.book.inputs.Invalid` naming each field; the API answers 422.
* **lenient** (list pages): a malformed value is ignored, as if it had not been sent.

Numbers are ASCII digits within bounds (:func:`whole_number`), so a huge number such as
``?page=99999999999999999999`` is a message or ignored, never an overflow in the database.
Cursors are opaque to callers and have one codec (:func:`encode_cursor`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from flask import current_app, has_app_context, has_request_context
from flask_babel import gettext
from sqlalchemy import Select, select

from ceroc_donations.book.inputs import MAX_ID, Invalid
from ceroc_donations.book.models import EXPENSE_CATEGORIES, THANK_STATUSES, ContributionDonor

#: The most items one page of a list may hold, on every list of the API.
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
#: Longer than any cursor this app hands out (a 200-character name escaped in JSON).
MAX_CURSOR = 4096
MAX_QUERY_TEXT = 100
DIRECTIONS = ("in", "out")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _(message: str, **variables) -> str:
    """Translate in a request (the page's language); as written elsewhere (CLI, bench)."""
    if has_request_context():
        return gettext(message, **variables)
    return message % variables if variables else message


def whole_number(raw, low: int = 0, high: int = MAX_ID) -> int | None:
    """*raw* as an int from *low* to *high* when it is written with ASCII digits, else None."""
    text = str(raw if raw is not None else "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > len(str(high)):
        return None
    value = int(text)
    return value if low <= value <= high else None


# --- the one cursor codec ------------------------------------------------------------------


def encode_cursor(*key: date | str | int) -> str:
    """An opaque cursor for the row whose sort key is *key* (dates, texts and ids)."""
    values = [v.isoformat() if isinstance(v, date) else v for v in key]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _storable(text: str) -> bool:
    # A NUL or a lone surrogate cannot be compared with a database text column.
    return "\x00" not in text and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


def decode_cursor(cursor: str | None, shape: tuple[type, ...] = (date, int)) -> tuple | None:
    """The sort key inside *cursor* when it has *shape* (e.g. ``(date, int)``), else None.

    A cursor is read as untrusted input: wrong shapes, ids past 64 bits, unstorable text
    and oversized strings all give None.
    """
    if not cursor or len(cursor) > MAX_CURSOR:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        return None
    if not isinstance(values, list) or len(values) != len(shape):
        return None
    key: list = []
    for kind, value in zip(shape, values, strict=True):
        if kind is int:
            if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ID:
                return None
        elif not isinstance(value, str) or not _storable(value):
            return None
        elif kind is date:
            try:
                value = date.fromisoformat(value)
            except ValueError:
                return None
        key.append(value)
    return tuple(key)


# --- the filters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BookFilter:
    """The filters of the contribution and expense lists."""

    q: str | None = None
    fund_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_void: bool = False
    thank_status: str | None = None
    category: str | None = None
    donor_id: int | None = None
    #: Only expenses that have no receipt file (the treasurer's to-do).
    receipt_missing: bool = False
    #: Whether ``q`` also matches donors' names (not for those who see public names only).
    search_donors: bool = True


@dataclass(frozen=True)
class LedgerFilter:
    """The ledger's filters; the fund is also the running balance's scope."""

    date_from: date | None = None
    date_to: date | None = None
    fund_id: int | None = None
    category: str | None = None
    donor_id: int | None = None
    direction: str | None = None
    include_void: bool = False

    @property
    def contiguous(self) -> bool:
        """True when the shown rows are consecutive entries of the balance scope."""
        return not (self.category or self.donor_id or self.direction)

    def as_args(self) -> dict[str, str]:
        """The filter as query-string arguments (for links and exports)."""
        args = {
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "fund": str(self.fund_id) if self.fund_id else None,
            "category": self.category,
            "donor": str(self.donor_id) if self.donor_id else None,
            "direction": self.direction,
            "void": "1" if self.include_void else None,
        }
        return {k: v for k, v in args.items() if v}


class QueryArgs:
    """Reads values from a query string; see the module's docstring for the two modes."""

    def __init__(self, args: Mapping[str, str], *, strict: bool):
        self.args = args
        self.strict = strict
        self.errors: dict[str, str] = {}

    def raw(self, name: str) -> str:
        getlist = getattr(self.args, "getlist", None)
        if getlist is not None and len(getlist(name)) > 1:
            self.bad(name, _("Give this filter once."))
        return (self.args.get(name) or "").strip()

    def bad(self, name: str, message: str) -> None:
        """Note a malformed value (strict mode); the value is then read as not sent."""
        if self.strict:
            self.errors.setdefault(name, message)

    def check(self) -> None:
        """Raise :class:`Invalid` with a message per malformed field (strict mode)."""
        if self.errors:
            raise Invalid(dict(self.errors))

    def text(self, name: str, max_len: int = MAX_QUERY_TEXT) -> str | None:
        value = self.raw(name)
        if not _storable(value):
            self.bad(name, _("This text contains a character that cannot be searched for."))
            return None
        return value[:max_len].strip() or None

    def day(self, name: str) -> date | None:
        raw = self.raw(name)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.bad(name, _("Enter a real date as YYYY-MM-DD, e.g. 2014-03-09."))
            return None

    def ident(self, name: str) -> int | None:
        """A row id (1 to MAX_ID)."""
        raw = self.raw(name)
        if not raw:
            return None
        value = whole_number(raw, 1)
        if value is None:
            self.bad(name, _("Choose one from the list."))
        return value

    def number(self, name: str, low: int, high: int, default: int | None = None) -> int | None:
        raw = self.raw(name)
        if not raw:
            return default
        value = whole_number(raw, low, high)
        if value is None:
            self.bad(name, _("Choose a number from %(low)d to %(high)d.", low=low, high=high))
            return default
        return value

    def choice(self, name: str, choices: Iterable[str]) -> str | None:
        raw, allowed = self.raw(name), list(choices)
        if not raw:
            return None
        if raw not in allowed:
            self.bad(name, _("Choose one of: %(choices)s.", choices=", ".join(allowed)))
            return None
        return raw

    def flag(self, name: str) -> bool:
        raw = self.raw(name).lower()
        if raw not in _TRUE + _FALSE:
            self.bad(name, _("Use 1 to include void entries or 0 to leave them out."))
        return raw in _TRUE

    def limit(self, default: int | None = None) -> int:
        """The page size: 1 to :data:`MAX_LIMIT`; by default the app's ``PAGE_SIZE``."""
        if default is None:
            default = current_app.config["PAGE_SIZE"] if has_app_context() else DEFAULT_LIMIT
        raw = self.raw("limit")
        value = whole_number(raw, 1, MAX_LIMIT) if raw else min(default, MAX_LIMIT)
        if value is None:
            self.bad("limit", _("Choose a number from 1 to %(max)d.", max=MAX_LIMIT))
            return min(default, MAX_LIMIT)
        return value

    def cursor(self, name: str = "cursor", shape: tuple[type, ...] = (date, int)) -> str | None:
        """The cursor as sent when it is one this app made, else None."""
        raw = self.raw(name)
        if raw and decode_cursor(raw, shape) is None:
            self.bad(name, _("This page link is damaged: start again from the newest."))
            return None
        return raw or None


# --- applying them ------------------------------------------------------------------------


def where_shared(stmt: Select, f: BookFilter | LedgerFilter, *, voided, fund, day) -> Select:
    """*stmt* narrowed by what every list's filter has: void rows, a fund, a date range."""
    if not f.include_void:
        stmt = stmt.where(voided.is_(False))
    if f.fund_id:
        stmt = stmt.where(fund == f.fund_id)
    if f.date_from:
        stmt = stmt.where(day >= f.date_from)
    if f.date_to:
        stmt = stmt.where(day <= f.date_to)
    return stmt


def gifts_of(donor_id: int) -> Select:
    """The ids of the contributions *donor_id* gave, alone or jointly (for ``IN``)."""
    return select(ContributionDonor.contribution_id).where(ContributionDonor.donor_id == donor_id)


# --- reading them --------------------------------------------------------------------------


def book_filter(
    qa: QueryArgs,
    *,
    thanks: bool = True,
    category: bool = True,
    donor: bool = True,
    receipt: bool = False,
) -> BookFilter:
    """The contribution and expense lists' filter (``q``, ``fund``, ``from``, ``to``,
    ``void``, and where asked ``thanks``, ``category``, ``donor``, ``no_receipt``)."""
    return BookFilter(
        q=qa.text("q"),
        fund_id=qa.ident("fund"),
        date_from=qa.day("from"),
        date_to=qa.day("to"),
        include_void=qa.flag("void"),
        thank_status=qa.choice("thanks", THANK_STATUSES) if thanks else None,
        category=qa.choice("category", EXPENSE_CATEGORIES) if category else None,
        donor_id=qa.ident("donor") if donor else None,
        receipt_missing=qa.flag("no_receipt") if receipt else False,
    )


def ledger_filter(qa: QueryArgs) -> LedgerFilter:
    """The ledger's filter (``from``, ``to``, ``fund``, ``category``, ``donor``,
    ``direction``, ``void``), with messages fit for the filter row."""
    from ceroc_donations.book.models import Fund
    from ceroc_donations.extensions import db
    from ceroc_donations.ledger.service import categories

    date_from, date_to = qa.day("from"), qa.day("to")
    if date_from and date_to and date_from > date_to:
        qa.bad("to", _("The end date is before the start date."))
        date_to = None
    fund_id = qa.ident("fund")
    if fund_id is not None and db.session.get(Fund, fund_id) is None:
        qa.bad("fund", _("There is no such fund: choose one from the list."))
        fund_id = None
    category = qa.raw("category") or None
    if category and category not in categories():
        qa.bad("category", _("There is no such category: choose one from the list."))
        category = None
    direction = qa.raw("direction") or None
    if direction and direction not in DIRECTIONS:
        qa.bad("direction", _("Choose money in or money out."))
        direction = None
    return LedgerFilter(
        date_from,
        date_to,
        fund_id,
        category,
        qa.ident("donor"),
        direction,
        qa.flag("void"),
    )


def strict(args: Mapping[str, str]) -> QueryArgs:
    return QueryArgs(args, strict=True)


def lenient(args: Mapping[str, str]) -> QueryArgs:
    return QueryArgs(args, strict=False)
