"""Read-only queries for pages and the API (no writes here)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, and_, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from ceroc_donations.book.inputs import MAX_ID, base_currency
from ceroc_donations.book.models import (
    Contribution,
    ContributionDonor,
    Donor,
    Expense,
    Fund,
    FundMonthTotal,
    LedgerEntry,
)
from ceroc_donations.extensions import db
from ceroc_donations.money import Money


@dataclass(frozen=True)
class FundBalance:
    fund: Fund
    money_in: Money
    money_out: Money

    @property
    def balance(self) -> Money:
        return Money(self.money_in.minor - self.money_out.minor, self.money_in.currency)


def fund_balances(*, since: date | None = None, until: date | None = None) -> list[FundBalance]:
    """In, out and balance per fund, from the monthly totals (fast at any size)."""
    cur = base_currency()
    stmt = select(
        FundMonthTotal.fund_id,
        func.coalesce(func.sum(FundMonthTotal.in_minor), 0),
        func.coalesce(func.sum(FundMonthTotal.out_minor), 0),
    ).group_by(FundMonthTotal.fund_id)
    if since is not None:
        stmt = stmt.where(FundMonthTotal.month >= since.replace(day=1))
    if until is not None:
        stmt = stmt.where(FundMonthTotal.month <= until)
    sums = {fid: (i, o) for fid, i, o in db.session.execute(stmt)}
    funds = db.session.execute(select(Fund).order_by(Fund.id)).scalars()
    return [
        FundBalance(
            f,
            Money(int(sums.get(f.id, (0, 0))[0]), cur),
            Money(int(sums.get(f.id, (0, 0))[1]), cur),
        )
        for f in funds
        if not f.archived or f.id in sums
    ]


def totals(balances: list[FundBalance]) -> FundBalance | None:
    if not balances:
        return None
    cur = base_currency()
    return FundBalance(
        Fund(code="all", name_en="All funds"),
        Money(sum(b.money_in.minor for b in balances), cur),
        Money(sum(b.money_out.minor for b in balances), cur),
    )


def recent_entries(limit: int = 5) -> list[LedgerEntry]:
    return list(
        db.session.execute(
            select(LedgerEntry)
            .where(LedgerEntry.voided.is_(False))
            .order_by(LedgerEntry.entry_on.desc(), LedgerEntry.id.desc())
            .limit(limit)
        ).scalars()
    )


def count_to_thank() -> int:
    return db.session.execute(
        select(func.count())
        .select_from(Contribution)
        .where(
            Contribution.thank_status.in_(("not_thanked", "drafted")),
            Contribution.voided.is_(False),
        )
    ).scalar_one()


# --- keyset pagination ---------------------------------------------------------------------


def encode_cursor(day: date, ident: int) -> str:
    raw = json.dumps([day.isoformat(), ident]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[date, int] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        day, ident = json.loads(base64.urlsafe_b64decode(padded))
        if isinstance(ident, bool) or not isinstance(ident, int) or abs(ident) > MAX_ID:
            return None  # larger ids would overflow the database's integer
        return date.fromisoformat(day), ident
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None


def _keyset(stmt: Select, day_col, id_col, cursor: str | None, limit: int, key) -> Page:
    after = decode_cursor(cursor)
    if after is not None:
        # A row value, so the (day, id) index seeks to the cursor; "day < d OR (day = d AND
        # id < i)" made SQLite walk the index from the newest row (20 ms at 100,000 rows).
        stmt = stmt.where(tuple_(day_col, id_col) < tuple_(after[0], after[1]))
    rows = list(
        db.session.execute(stmt.order_by(day_col.desc(), id_col.desc()).limit(limit + 1)).scalars()
    )
    nxt = encode_cursor(*key(rows[limit - 1])) if len(rows) > limit else None
    return Page(rows[:limit], nxt)


@dataclass(frozen=True)
class BookFilter:
    q: str | None = None
    fund_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    include_void: bool = False
    thank_status: str | None = None
    category: str | None = None
    donor_id: int | None = None


def contributions_page(f: BookFilter, cursor: str | None = None, limit: int = 50) -> Page:
    stmt = select(Contribution).options(
        selectinload(Contribution.shares).selectinload(ContributionDonor.donor),
        selectinload(Contribution.fund),
    )
    if not f.include_void:
        stmt = stmt.where(Contribution.voided.is_(False))
    if f.fund_id:
        stmt = stmt.where(Contribution.fund_id == f.fund_id)
    if f.date_from:
        stmt = stmt.where(Contribution.received_on >= f.date_from)
    if f.date_to:
        stmt = stmt.where(Contribution.received_on <= f.date_to)
    if f.thank_status:
        stmt = stmt.where(Contribution.thank_status == f.thank_status)
    if f.donor_id:
        stmt = stmt.where(
            Contribution.id.in_(
                select(ContributionDonor.contribution_id).where(
                    ContributionDonor.donor_id == f.donor_id
                )
            )
        )
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(
            or_(
                Contribution.reference.ilike(like),
                Contribution.occasion.ilike(like),
                Contribution.id.in_(
                    select(ContributionDonor.contribution_id)
                    .join(Donor)
                    .where(or_(Donor.name_en.ilike(like), Donor.name_km.like(like)))
                ),
            )
        )
    return _keyset(
        stmt,
        Contribution.received_on,
        Contribution.id,
        cursor,
        limit,
        lambda c: (c.received_on, c.id),
    )


def expenses_page(f: BookFilter, cursor: str | None = None, limit: int = 50) -> Page:
    stmt = select(Expense).options(selectinload(Expense.fund))
    if not f.include_void:
        stmt = stmt.where(Expense.voided.is_(False))
    if f.fund_id:
        stmt = stmt.where(Expense.fund_id == f.fund_id)
    if f.category:
        stmt = stmt.where(Expense.category == f.category)
    if f.date_from:
        stmt = stmt.where(Expense.paid_on >= f.date_from)
    if f.date_to:
        stmt = stmt.where(Expense.paid_on <= f.date_to)
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(
            or_(
                Expense.payee.ilike(like),
                Expense.reference.ilike(like),
                Expense.description_en.ilike(like),
                Expense.description_km.like(like),
            )
        )
    return _keyset(stmt, Expense.paid_on, Expense.id, cursor, limit, lambda e: (e.paid_on, e.id))


def donor_choices(limit: int = 500) -> list:
    """(id, English name) rows of the first *limit* donors by name, for a filter's options."""
    return list(
        db.session.execute(
            select(Donor.id, Donor.name_en).order_by(Donor.name_en, Donor.id).limit(limit)
        )
    )


def search_donors(q: str | None, limit: int = 50, offset: int = 0) -> list[Donor]:
    stmt = select(Donor).order_by(Donor.name_en, Donor.id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                Donor.name_en.ilike(like),
                Donor.name_km.like(like),
                Donor.city.ilike(like),
                Donor.email.ilike(like),
            )
        )
    return list(db.session.execute(stmt.limit(limit).offset(offset)).scalars())


def donors_page(q: str | None, cursor: str | None = None, limit: int = 50) -> Page:
    """Donors by name then id, a keyset page after *cursor* (see :func:`encode_donor_cursor`)."""
    stmt = select(Donor)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                Donor.name_en.ilike(like),
                Donor.name_km.like(like),
                Donor.city.ilike(like),
                Donor.email.ilike(like),
            )
        )
    after = decode_donor_cursor(cursor)
    if after is not None:
        stmt = stmt.where(
            or_(Donor.name_en > after[0], and_(Donor.name_en == after[0], Donor.id > after[1]))
        )
    rows = list(
        db.session.execute(stmt.order_by(Donor.name_en, Donor.id).limit(limit + 1)).scalars()
    )
    nxt = encode_donor_cursor(rows[limit - 1]) if len(rows) > limit else None
    return Page(rows[:limit], nxt)


def encode_donor_cursor(donor: Donor) -> str:
    raw = json.dumps([donor.name_en, donor.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_donor_cursor(cursor: str | None) -> tuple[str, int] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        name, ident = json.loads(base64.urlsafe_b64decode(padded))
        if (
            not isinstance(name, str)
            or isinstance(ident, bool)
            or not isinstance(ident, int)
            or abs(ident) > MAX_ID
        ):
            return None
        return name, ident
    except (ValueError, TypeError):
        return None


@dataclass(frozen=True)
class YearTotal:
    year: int
    count: int
    total: Money


def donor_history(donor: Donor) -> tuple[list[Contribution], list[YearTotal]]:
    """The donor's gifts, newest first, and base-currency totals per year (shares when known)."""
    gifts = list(
        db.session.execute(
            select(Contribution)
            .join(ContributionDonor)
            .where(ContributionDonor.donor_id == donor.id)
            .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor))
            .order_by(Contribution.received_on.desc(), Contribution.id.desc())
        ).scalars()
    )
    per_year: dict[int, list[int]] = {}
    for c in gifts:
        if c.voided:
            continue
        share = next(s for s in c.shares if s.donor_id == donor.id)
        credited = c.base_amount_minor
        if share.share_minor is not None and c.amount_minor:
            credited = c.base_amount_minor * share.share_minor // c.amount_minor
        entry = per_year.setdefault(c.received_on.year, [0, 0])
        entry[0] += 1
        entry[1] += credited
    cur = base_currency()
    years = [YearTotal(y, n, Money(t, cur)) for y, (n, t) in sorted(per_year.items(), reverse=True)]
    return gifts, years
