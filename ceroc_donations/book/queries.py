"""Read-only queries for pages and the API (no writes here)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import Select, and_, false, func, or_, select, tuple_
from sqlalchemy.orm import selectinload

from ceroc_donations.book.inputs import base_currency
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
from ceroc_donations.filters import (
    BookFilter,
    decode_cursor,
    encode_cursor,
    gifts_of,
    where_shared,
)
from ceroc_donations.money import Money, joint_shares
from ceroc_donations.privacy import sees_names


@dataclass(frozen=True)
class FundBalance:
    fund: Fund
    money_in: Money
    money_out: Money

    @property
    def balance(self) -> Money:
        return Money(self.money_in.minor - self.money_out.minor, self.money_in.currency)


def fund_balances(
    *, since: date | None = None, until: date | None = None, funds: list[Fund] | None = None
) -> list[FundBalance]:
    """In, out and balance per fund, from the monthly totals (fast at any size).

    *funds*, every fund ordered by id, saves reading them again when the caller has them.
    """
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
    if funds is None:
        funds = all_funds()
    return [
        FundBalance(
            f,
            Money(int(sums.get(f.id, (0, 0))[0]), cur),
            Money(int(sums.get(f.id, (0, 0))[1]), cur),
        )
        for f in funds
        if not f.archived or f.id in sums
    ]


def all_funds() -> list[Fund]:
    """Every fund, archived ones too, by id."""
    return list(db.session.execute(select(Fund).order_by(Fund.id)).scalars())


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


# --- keyset pagination ---------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    items: list
    next_cursor: str | None


def _keyset(stmt: Select, day_col, id_col, cursor: str | None, limit: int, key) -> Page:
    after = decode_cursor(cursor, (date, int))
    if after is not None:
        # A row value, so the (day, id) index seeks to the cursor; "day < d OR (day = d AND
        # id < i)" made SQLite walk the index from the newest row (20 ms at 100,000 rows).
        stmt = stmt.where(tuple_(day_col, id_col) < tuple_(after[0], after[1]))
    rows = list(
        db.session.execute(stmt.order_by(day_col.desc(), id_col.desc()).limit(limit + 1)).scalars()
    )
    nxt = encode_cursor(*key(rows[limit - 1])) if len(rows) > limit else None
    return Page(rows[:limit], nxt)


def visible_to(f: BookFilter, viewer) -> BookFilter:
    """*f* without what would tell who gave a gift shown as anonymous: the donor filter and
    the search by donor name, for viewers who see donors as the public does."""
    if sees_names(viewer):
        return f
    return replace(f, donor_id=None, search_donors=False)


def contributions_page(f: BookFilter, cursor: str | None = None, limit: int = 50) -> Page:
    stmt = select(Contribution).options(
        selectinload(Contribution.shares).selectinload(ContributionDonor.donor),
        selectinload(Contribution.fund),
    )
    stmt = where_shared(
        stmt,
        f,
        voided=Contribution.voided,
        fund=Contribution.fund_id,
        day=Contribution.received_on,
    )
    if f.thank_status:
        stmt = stmt.where(Contribution.thank_status == f.thank_status)
    if f.donor_id:
        stmt = stmt.where(Contribution.id.in_(gifts_of(f.donor_id)))
    if f.q:
        like = f"%{f.q}%"
        stmt = stmt.where(
            or_(
                Contribution.reference.ilike(like),
                Contribution.occasion.ilike(like),
                Contribution.occasion_km.like(like),  # a Khmer-only occasion is found too
                Contribution.id.in_(
                    select(ContributionDonor.contribution_id)
                    .join(Donor)
                    .where(or_(Donor.name_en.ilike(like), Donor.name_km.like(like)))
                )
                if f.search_donors
                else false(),
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
    stmt = where_shared(stmt, f, voided=Expense.voided, fund=Expense.fund_id, day=Expense.paid_on)
    if f.category:
        stmt = stmt.where(Expense.category == f.category)
    if f.receipt_missing:
        stmt = stmt.where(Expense.receipt_path.is_(None))
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


def _donor_matches(q: str):
    like = f"%{q}%"
    return or_(
        Donor.name_en.ilike(like),
        Donor.name_km.like(like),
        Donor.city.ilike(like),
        Donor.email.ilike(like),
    )


def search_donors(q: str | None, limit: int = 50, offset: int = 0) -> list[Donor]:
    stmt = select(Donor).order_by(Donor.name_en, Donor.id)
    if q:
        stmt = stmt.where(_donor_matches(q))
    return list(db.session.execute(stmt.limit(limit).offset(offset)).scalars())


def donors_page(q: str | None, cursor: str | None = None, limit: int = 50) -> Page:
    """Donors by name then id, a keyset page after *cursor* (made by ``encode_cursor``)."""
    stmt = select(Donor)
    if q:
        stmt = stmt.where(_donor_matches(q))
    after = decode_cursor(cursor, (str, int))
    if after is not None:
        stmt = stmt.where(
            or_(Donor.name_en > after[0], and_(Donor.name_en == after[0], Donor.id > after[1]))
        )
    rows = list(
        db.session.execute(stmt.order_by(Donor.name_en, Donor.id).limit(limit + 1)).scalars()
    )
    last = rows[limit - 1] if len(rows) > limit else None
    nxt = encode_cursor(last.name_en, last.id) if last is not None else None
    return Page(rows[:limit], nxt)


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
            parts = joint_shares(
                c.base_amount_minor, c.amount_minor, [s.share_minor for s in c.shares]
            )
            credited = parts[c.shares.index(share)]
        entry = per_year.setdefault(c.received_on.year, [0, 0])
        entry[0] += 1
        entry[1] += credited
    cur = base_currency()
    years = [YearTotal(y, n, Money(t, cur)) for y, (n, t) in sorted(per_year.items(), reverse=True)]
    return gifts, years


def last_rate(currency: str) -> Contribution | None:
    """The latest gift in *currency* not voided: its rate is offered for the next one."""
    base = base_currency()
    if currency == base:
        return None
    return db.session.execute(
        select(Contribution)
        .where(
            Contribution.currency == currency,
            Contribution.base_currency == base,
            Contribution.voided.is_(False),
        )
        .order_by(Contribution.received_on.desc(), Contribution.id.desc())
        .limit(1)
    ).scalar()


#: Combining accents of Latin (and Greek, Cyrillic) letters. Khmer vowel signs are marks too,
#: but they are letters of the name: they stay.
_ACCENTS = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def name_key(name: str | None) -> str:
    """*name* as compared for duplicates: case, spacing and accents ignored."""
    text = _ACCENTS.sub("", unicodedata.normalize("NFKD", name or ""))
    return "".join(text.replace("\u200b", " ").casefold().split())


def donors_named_like(
    name_en: str | None, name_km: str | None = None, *, exclude: int | None = None
) -> list[Donor]:
    """Donors whose English or Khmer name is *name_en* or *name_km*, ignoring case, spacing
    and accents ("Sokha  Chéa" finds "sokha chea")."""
    keys = {"en": name_key(name_en), "km": name_key(name_km)}
    found = [
        donor_id
        for donor_id, en, km in db.session.execute(select(Donor.id, Donor.name_en, Donor.name_km))
        if donor_id != exclude
        and (
            (keys["en"] and name_key(en) == keys["en"])
            or (keys["km"] and name_key(km) == keys["km"])
        )
    ]
    if not found:
        return []
    return list(
        db.session.execute(select(Donor).where(Donor.id.in_(found)).order_by(Donor.id)).scalars()
    )


def donor_counts(donor: Donor) -> tuple[int, int]:
    """(gifts, letters) of *donor*, as a merge would move them."""
    from ceroc_donations.letters.models import Letter, letter_recipient

    gifts = db.session.execute(
        select(func.count())
        .select_from(ContributionDonor)
        .where(ContributionDonor.donor_id == donor.id)
    ).scalar_one()
    addressed = select(letter_recipient.c.letter_id).where(letter_recipient.c.donor_id == donor.id)
    letters = db.session.execute(
        select(func.count())
        .select_from(Letter)
        .where(or_(Letter.donor_id == donor.id, Letter.id.in_(addressed)))
    ).scalar_one()
    return gifts, letters
