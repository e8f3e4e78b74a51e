"""Validation of what people type, shared by the pages, the API and the CSV import.

Each ``parse_*`` function takes a mapping of strings (a form, a JSON body, a CSV row) and
returns plain, checked values, or raises :class:`Invalid` with one message per field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from ceroc_donations.book.countries import is_country
from ceroc_donations.book.models import (
    DONOR_DISPLAY,
    DONOR_KINDS,
    DONOR_PAPER,
    EXPENSE_CATEGORIES,
    GIFT_DISPLAY,
    LETTER_LANGUAGES,
    METHODS,
    Donor,
    Fund,
)
from ceroc_donations.extensions import db
from ceroc_donations.money import (
    CURRENCIES,
    Money,
    MoneyError,
    base_value,
    check_currency,
    parse_amount,
    parse_rate,
)

EARLIEST = date(1990, 1, 1)
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")
#: The longest address SMTP carries (RFC 5321), and the column's width.
MAX_EMAIL = 254


def is_email(value: str | None) -> bool:
    """The one email check (donors, accounts, the CSV import): one ``@``, a dot in the
    domain, no spaces or angle brackets, at most 254 characters."""
    return bool(value) and len(value) <= MAX_EMAIL and _EMAIL.fullmatch(value) is not None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: The largest primary key the databases hold (PostgreSQL's ``integer``, the type of every id
#: column); larger ids cannot exist, and the drivers raise on them instead of finding nothing.
MAX_ID = 2**31 - 1


def db_id(raw) -> int | None:
    """*raw* as a row id when it is one a database can hold, else None."""
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or int(text) > MAX_ID:
        return None
    return int(text)


def money_message(exc: MoneyError) -> str:
    """The :class:`MoneyError`'s message in the page's language."""
    return _(exc.message, **exc.params)


class Invalid(ValueError):
    """Input a person must correct: ``fields`` maps a field name to its message."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


class Rejected(Invalid):
    """A form's messages, and the receipt kept on the server for its next submit
    (a :class:`~ceroc_donations.book.receipts.PendingReceipt`, or None)."""

    def __init__(self, fields: dict[str, str], held=None):
        super().__init__(fields)
        self.held = held


@dataclass
class Checker:
    """Collects messages per field while values are read."""

    data: Mapping
    errors: dict[str, str] = field(default_factory=dict)

    def raw(self, name: str) -> str:
        value = self.data.get(name)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else ""
        if isinstance(value, float):
            self.errors[name] = _('Send numbers as strings, e.g. "400.00".')
            return ""
        value = str(value)
        if "\x00" in value:  # no database stores it; PostgreSQL refuses it outright
            self.errors[name] = _("Remove the control characters from this text.")
            return ""
        return value.strip()

    def text(
        self,
        name: str,
        *,
        max_len: int,
        required: bool = False,
        label: str | None = None,
        multiline: bool = False,
    ) -> str | None:
        value = self.raw(name)
        if not multiline:
            value = " ".join(value.split())
        if _CONTROL.search(value):
            self.errors[name] = _("Remove the control characters from this text.")
            return None
        if not value:
            if required:
                self.errors[name] = (
                    _("Enter %(what)s.", what=label) if label else _("Enter a value.")
                )
            return None
        if len(value) > max_len:
            self.errors[name] = _(
                "Keep this under %(max)d characters (now %(now)d).", max=max_len, now=len(value)
            )
            return None
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.raw(name) or default
        if value not in choices:
            self.errors[name] = _("Choose one of: %(choices)s.", choices=", ".join(choices))
            return default
        return value

    def day(self, name: str, *, required: bool = True, label: str | None = None) -> date | None:
        value = self.raw(name)
        if not value:
            if required:
                self.errors[name] = _("Enter %(what)s (YYYY-MM-DD).", what=label or _("the date"))
            return None
        try:
            parsed = date.fromisoformat(value)
        except ValueError:
            self.errors[name] = _("Enter a real date as YYYY-MM-DD, e.g. 2014-03-09.")
            return None
        future_days = current_app.config["MAX_FUTURE_DAYS"]
        if parsed > date.today() + timedelta(days=future_days):
            self.errors[name] = _("This date is in the future: enter the day it happened.")
            return None
        if parsed < EARLIEST:
            self.errors[name] = _(
                "Dates before %(day)s are not accepted.", day=EARLIEST.isoformat()
            )
            return None
        return parsed

    def currency(self, name: str = "currency") -> str | None:
        try:
            return check_currency(self.raw(name))
        except MoneyError:
            self.errors[name] = _(
                "Unknown currency: choose one of %(codes)s.", codes=", ".join(CURRENCIES)
            )
            return None

    def money(self, name: str, currency: str | None) -> Money | None:
        if currency is None:
            if not self.raw(name):
                self.errors[name] = _("Enter an amount.")
            return None
        try:
            return parse_amount(self.raw(name), currency)
        except MoneyError as exc:
            self.errors[name] = money_message(exc)
            return None

    def rate(self, name: str, currency: str | None, base: str) -> Decimal | None:
        """The rate to *base*: 1 for a *base* amount; required, never assumed, otherwise."""
        raw = self.raw(name)
        if currency is None:
            return None
        if currency == base:
            if raw:
                try:
                    same = parse_rate(raw) == 1
                except MoneyError:
                    same = False
                if not same:
                    self.errors[name] = _(
                        "A %(base)s amount has no exchange rate: leave it at 1.", base=base
                    )
            return Decimal(1)
        if not raw:
            self.errors[name] = _(
                "Enter how many %(base)s one %(currency)s was worth that day.",
                base=base,
                currency=currency,
            )
            return None
        try:
            return parse_rate(raw)
        except MoneyError as exc:
            self.errors[name] = money_message(exc)
            return None

    def base_value(
        self, amount: Money | None, rate: Decimal | None, base: str, name: str = "exchange_rate"
    ) -> Money | None:
        """*amount* at *rate* in *base*, refused when the book could not hold it."""
        if amount is None or rate is None:
            return None
        try:
            return base_value(amount, rate, base)
        except MoneyError as exc:
            self.errors[name] = money_message(exc)
            return None

    def email(self, name: str) -> str | None:
        value = self.text(name, max_len=MAX_EMAIL)
        if value and not is_email(value):
            self.errors[name] = _("Enter an email address such as name@example.org.")
            return None
        return value

    def fund(self, name: str = "fund_id") -> Fund | None:
        raw = self.raw(name)
        fund = None
        if raw.isdigit():
            fund = db.session.get(Fund, db_id(raw)) if db_id(raw) else None
        elif raw:
            fund = db.session.execute(select(Fund).where(Fund.code == raw)).scalar()
        if fund is None:
            self.errors[name] = _("Choose a fund.")
        elif fund.archived:
            self.errors[name] = _("This fund is archived: choose another.")
        return fund

    def done(self) -> None:
        if self.errors:
            raise Invalid(self.errors)


def base_currency() -> str:
    """The currency the book is kept in (``BASE_CURRENCY``)."""
    return current_app.config["BASE_CURRENCY"]


@dataclass(frozen=True)
class DonorInput:
    kind: str
    name_en: str
    name_km: str | None
    city: str | None
    region: str | None
    country: str | None
    email: str | None
    postal_address: str | None
    letter_language: str
    public_display: str
    note: str | None
    paper: str = "auto"


#: A postal address fits a window envelope in this many lines (the name is printed above).
MAX_ADDRESS_LINES = 5


def parse_donor(data: Mapping) -> DonorInput:
    c = Checker(data)
    country = c.text("country", max_len=2)
    if country and not is_country(country.upper()):
        c.errors["country"] = _("Choose a country (ISO 3166 code, e.g. US, CA, AU, FR, KH).")
        country = None
    address = c.text("postal_address", max_len=1000, multiline=True)
    if address:
        lines = [line.strip() for line in address.splitlines() if line.strip()]
        if len(lines) > MAX_ADDRESS_LINES:
            c.errors["postal_address"] = _(
                "Write the address in at most %(max)d lines, as on an envelope (now %(now)d).",
                max=MAX_ADDRESS_LINES,
                now=len(lines),
            )
        address = "\n".join(lines)
    result = DonorInput(
        kind=c.choice("kind", DONOR_KINDS, "group"),
        name_en=c.text("name_en", max_len=200, required=True, label=_("the donor's name")) or "",
        name_km=c.text("name_km", max_len=200),
        city=c.text("city", max_len=100),
        region=c.text("region", max_len=100),
        country=country.upper() if country else None,
        email=c.email("email"),
        postal_address=address,
        letter_language=c.choice("letter_language", LETTER_LANGUAGES, "bilingual"),
        public_display=c.choice("public_display", DONOR_DISPLAY, "named"),
        note=c.text("note", max_len=5000, multiline=True),
        paper=c.choice("paper", DONOR_PAPER, "auto"),
    )
    c.done()
    return result


@dataclass(frozen=True)
class ShareInput:
    donor: Donor
    share: Money | None


@dataclass(frozen=True)
class ContributionInput:
    shares: tuple[ShareInput, ...]
    amount: Money
    rate: Decimal
    received_on: date
    received_by: str | None
    occasion: str | None
    occasion_km: str | None
    purpose: str | None
    purpose_km: str | None
    method: str
    in_kind_description: str | None
    fund: Fund
    public_display: str
    note: str | None


def _ids(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


def parse_contribution(data: Mapping, *, donor_ids=None, shares=None) -> ContributionInput:
    """Check a contribution. *donor_ids* and *shares* are lists (forms send several values)."""
    c = Checker(data)
    currency = c.currency()
    amount = c.money("amount", currency)
    rate = c.rate("exchange_rate", currency, base_currency())
    c.base_value(amount, rate, base_currency())
    ids = _ids(donor_ids if donor_ids is not None else data.get("donor_ids"))
    raw_shares = list(shares if shares is not None else data.get("shares") or [])
    share_inputs: list[ShareInput] = []
    if not ids:
        c.errors["donor_ids"] = _("Choose the donor (or several for a joint gift).")
    elif len(set(ids)) != len(ids):
        c.errors["donor_ids"] = _("The same donor is listed twice.")
    else:
        for i, raw_id in enumerate(ids):
            donor = db.session.get(Donor, db_id(raw_id)) if db_id(raw_id) else None
            if donor is None:
                c.errors["donor_ids"] = _("No donor with id %(id)s.", id=repr(raw_id))
                break
            share = None
            raw_share = str(raw_shares[i]).strip() if i < len(raw_shares) else ""
            if raw_share and currency:
                try:
                    share = parse_amount(raw_share, currency)
                except MoneyError as exc:
                    c.errors["shares"] = _(
                        "Share of %(name)s: %(problem)s",
                        name=donor.name_en,
                        problem=money_message(exc),
                    )
            share_inputs.append(ShareInput(donor, share))
        known = [s.share for s in share_inputs if s.share is not None]
        if amount and known and "shares" not in c.errors:
            total = sum(s.minor for s in known)
            if total > amount.minor or (len(known) == len(share_inputs) and total != amount.minor):
                c.errors["shares"] = _("The shares must add up to the amount.")
    method = c.choice("method", METHODS, "cash")
    in_kind = c.text("in_kind_description", max_len=2000, multiline=True)
    if method == "in_kind" and not in_kind:
        c.errors["in_kind_description"] = _(
            "Describe the gift in kind; its estimated value is the amount."
        )
    result = ContributionInput(
        shares=tuple(share_inputs),
        amount=amount,  # type: ignore[arg-type]
        rate=rate,  # type: ignore[arg-type]
        received_on=c.day("received_on", label=_("the day it was received")),  # type: ignore[arg-type]
        received_by=c.text("received_by", max_len=120),
        occasion=c.text("occasion", max_len=300),
        occasion_km=c.text("occasion_km", max_len=300),
        purpose=c.text("purpose", max_len=300),
        purpose_km=c.text("purpose_km", max_len=300),
        method=method,
        in_kind_description=in_kind if method == "in_kind" else None,
        fund=c.fund(),  # type: ignore[arg-type]
        public_display=c.choice("public_display", GIFT_DISPLAY, "default"),
        note=c.text("note", max_len=5000, multiline=True),
    )
    c.done()
    return result


@dataclass(frozen=True)
class ExpenseInput:
    paid_on: date
    payee: str
    amount: Money
    rate: Decimal
    category: str
    fund: Fund
    description_en: str | None
    description_km: str | None


def parse_expense(data: Mapping) -> ExpenseInput:
    c = Checker(data)
    currency = c.currency()
    amount = c.money("amount", currency)
    rate = c.rate("exchange_rate", currency, base_currency())
    c.base_value(amount, rate, base_currency())
    result = ExpenseInput(
        paid_on=c.day("paid_on", label=_("the day it was paid")),  # type: ignore[arg-type]
        payee=c.text("payee", max_len=200, required=True, label=_("who was paid")) or "",
        amount=amount,  # type: ignore[arg-type]
        rate=rate,  # type: ignore[arg-type]
        category=c.choice("category", EXPENSE_CATEGORIES, ""),
        fund=c.fund(),  # type: ignore[arg-type]
        description_en=c.text("description_en", max_len=2000, multiline=True),
        description_km=c.text("description_km", max_len=2000, multiline=True),
    )
    c.done()
    return result


def parse_void_reason(data: Mapping) -> str:
    c = Checker(data)
    reason = c.text("reason", max_len=1000, required=True, label=_("why this entry is voided"))
    c.done()
    return reason or ""


def parse_fund(data: Mapping) -> dict:
    c = Checker(data)
    code = c.text("code", max_len=40, required=True, label=_("a short code"))
    if code and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", code):
        c.errors["code"] = _("Use lower-case letters, digits and dashes, e.g. promotion.")
    result = {
        "code": code,
        "name_en": c.text("name_en", max_len=120, required=True, label=_("the fund's name")),
        "name_km": c.text("name_km", max_len=120),
        "description": c.text("description", max_len=2000, multiline=True),
        "description_km": c.text("description_km", max_len=2000, multiline=True),
    }
    c.done()
    return result
