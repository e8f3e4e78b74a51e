"""The members' ledger: every contribution and expense, newest first, with a running balance.

What the running balance means
------------------------------
The *balance scope* is the fund chosen in the filter, or all funds when none is. A row's
``balance`` is the balance of that scope right after the row's entry, counting every
entry of the scope that is not voided, in (date, id) order. So:

* unfiltered, or filtered by fund and/or date range: the rows are consecutive entries of
  the scope, and each row's balance is the one above it minus that row's amount;
* filtered by category, direction or donor: rows are hidden, not removed from the books;
  the balance column still says what the fund (or all funds) held right after that
  entry, so two neighbouring rows may differ by more than the row's amount;
* voided rows (shown only on request) do not move the balance: they show the balance of
  the entry before them.

Speed
-----
A page's balance is never a SUM over the whole table: it is (sum of
:class:`FundMonthTotal` for the months before the row's month) + (sum of the entries of
that month up to the row), the second read from a covering index. Each later row of a
page is derived from the one above it; rows in another month (sparse filters) start
afresh the same way, so the work per page is bounded by the entries of the months shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import g, has_request_context
from flask_babel import gettext
from sqlalchemy import and_, case, func, not_, or_, select

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
    LedgerFilter,
    decode_cursor,
    encode_cursor,
    gifts_of,
    where_shared,
)
from ceroc_donations.i18n import locale_code, localized
from ceroc_donations.money import Money, joint_shares
from ceroc_donations.privacy import labels_as_public, recorded_labels_km


def _(message: str, **variables) -> str:
    """Translate in a request (the page's language); as written elsewhere (CLI, bench)."""
    if has_request_context():
        return gettext(message, **variables)
    return message % variables if variables else message


def categories() -> list[str]:
    """Categories in use, contributions first."""
    from ceroc_donations.book.models import EXPENSE_CATEGORIES

    return ["contribution", *EXPENSE_CATEGORIES]


# --- rows ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRow:
    id: int
    entry_on: date
    direction: str
    fund_id: int
    category: str
    label: str
    reference: str | None
    amount: Money  # as given, in its own currency
    base_amount: Money  # in the base currency, always positive
    balance: Money  # of the balance scope, right after this entry
    voided: bool
    void_reason: str | None
    contribution_id: int | None
    expense_id: int | None

    @property
    def signed_base(self) -> Money:
        sign = 1 if self.direction == "in" else -1
        return Money(sign * self.base_amount.minor, self.base_amount.currency)

    @property
    def foreign(self) -> bool:
        return self.amount.currency != self.base_amount.currency


@dataclass(frozen=True)
class LedgerPage:
    rows: list[LedgerRow]
    next_cursor: str | None
    scope_fund_id: int | None


_E = LedgerEntry.__table__.c
_SIGNED = case((_E.direction == "in", _E.base_amount_minor), else_=-_E.base_amount_minor)


def _filtered(f: LedgerFilter):
    stmt = select(
        _E.id,
        _E.entry_on,
        _E.direction,
        _E.fund_id,
        _E.category,
        _E.label,
        _E.amount_minor,
        _E.currency,
        _E.base_amount_minor,
        _E.voided,
        _E.contribution_id,
        _E.expense_id,
    )
    stmt = where_shared(stmt, f, voided=_E.voided, fund=_E.fund_id, day=_E.entry_on)
    if f.category:
        stmt = stmt.where(_E.category == f.category)
    if f.direction:
        stmt = stmt.where(_E.direction == f.direction)
    if f.donor_id:
        stmt = stmt.where(_E.contribution_id.in_(gifts_of(f.donor_id)))
    return stmt


def _after(stmt, after: tuple[date, int] | None):
    if after is None:
        return stmt
    day, ident = after
    # The plain bound on entry_on lets the planner seek in the index instead of scanning
    # from the newest entry down (the OR alone is not used as a range).
    return stmt.where(
        _E.entry_on <= day, or_(_E.entry_on < day, and_(_E.entry_on == day, _E.id < ident))
    )


def _month(day: date) -> date:
    return day.replace(day=1)


def month_totals(fund_id: int | None) -> list[tuple[date, int, int]]:
    """``(month, money in, money out)`` of one fund (or all funds), oldest month first, from
    the monthly totals: what :class:`Balances` and :func:`monthly_flow` are built from."""
    stmt = (
        select(
            FundMonthTotal.month,
            func.sum(FundMonthTotal.in_minor),
            func.sum(FundMonthTotal.out_minor),
        )
        .group_by(FundMonthTotal.month)
        .order_by(FundMonthTotal.month)
    )
    if fund_id:
        stmt = stmt.where(FundMonthTotal.fund_id == fund_id)
    return [(m, int(i or 0), int(o or 0)) for m, i, o in db.session.execute(stmt)]


class Balances:
    """Balance of one scope after any entry, from monthly totals plus one month of entries.

    *months* are :func:`month_totals` of *fund_id*, when the caller has read them already.
    """

    def __init__(self, fund_id: int | None, months: list[tuple[date, int, int]] | None = None):
        self.fund_id = fund_id
        if months is None:
            months = month_totals(fund_id)
        self.month_net = {m: money_in - money_out for m, money_in, money_out in months}

    def before_month(self, month: date) -> int:
        return sum(n for m, n in self.month_net.items() if m < month)

    def _sum(self, *conditions) -> int:
        stmt = select(func.coalesce(func.sum(_SIGNED), 0)).where(_E.voided.is_(False), *conditions)
        if self.fund_id:
            stmt = stmt.where(_E.fund_id == self.fund_id)
        return int(db.session.execute(stmt).scalar_one())

    def after(self, day: date, ident: int) -> int:
        """Balance right after entry (*day*, *ident*).

        Sums the entries of that month on whichever side of the entry is shorter: the first
        page (the newest entries) then reads almost nothing, whatever the ledger's size.
        """
        start = _month(day)
        end = _month(start + timedelta(days=31))
        if (day - start).days < (end - day).days:
            return self.before_month(start) + self._sum(
                _E.entry_on >= start,
                _E.entry_on <= day,
                not_(and_(_E.entry_on == day, _E.id > ident)),
            )
        return self.before_month(end) - self._sum(
            _E.entry_on >= day, _E.entry_on < end, not_(and_(_E.entry_on == day, _E.id <= ident))
        )

    def in_month(self, newest: tuple[date, int], ids: list[int]) -> dict[int, int]:
        """Balance after each entry of *ids*, all in the month of *newest* and not newer:
        one windowed query over that month's entries of the scope."""
        start = _month(newest[0])
        moved = case((_E.voided.is_(True), 0), else_=_SIGNED)
        inner = select(
            _E.id, func.sum(moved).over(order_by=(_E.entry_on, _E.id)).label("cum")
        ).where(
            _E.entry_on >= start,
            _E.entry_on <= newest[0],
            not_(and_(_E.entry_on == newest[0], _E.id > newest[1])),
        )
        if self.fund_id:
            inner = inner.where(_E.fund_id == self.fund_id)
        inner = inner.subquery()
        before = self.before_month(start)
        return {
            ident: before + int(cum)
            for ident, cum in db.session.execute(
                select(inner.c.id, inner.c.cum).where(inner.c.id.in_(ids))
            )
        }


def _with_balances(raw: list, f: LedgerFilter, balances: Balances) -> list[int]:
    """The balance after each of *raw* (newest first)."""
    if not raw:
        return []
    if f.contiguous:
        out = [balances.after(raw[0].entry_on, raw[0].id)]
        for prev in raw[:-1]:
            moved = (
                0
                if prev.voided
                else (prev.base_amount_minor if prev.direction == "in" else -prev.base_amount_minor)
            )
            out.append(out[-1] - moved)
        return out
    # Rows are sparse: one windowed query per month the page shows.
    found: dict[int, int] = {}
    groups: dict[date, list] = {}
    for r in raw:
        groups.setdefault(_month(r.entry_on), []).append(r)
    for rows in groups.values():
        found.update(balances.in_month((rows[0].entry_on, rows[0].id), [r.id for r in rows]))
    return [found[r.id] for r in raw]


def _details(raw: list, *, names: str) -> tuple[dict, dict, dict]:
    """References, void reasons and (for public names) labels of the contributions and
    expenses behind *raw*: three queries per page at most."""
    cids = [r.contribution_id for r in raw if r.contribution_id]
    eids = [r.expense_id for r in raw if r.expense_id]
    contributions: dict[int, tuple] = {}
    expenses: dict[int, tuple] = {}
    labels: dict[int, str] = {}
    if cids and names == "public":
        # The gifts and their donors in one query, the donors in their order.
        gifts: dict[int, Any] = {}
        donors: dict[int, list] = {}
        for row in db.session.execute(
            select(
                Contribution.id,
                Contribution.reference,
                Contribution.void_reason,
                Contribution.public_display,
                ContributionDonor.position,
                Donor.name_en,
                Donor.name_km,
                Donor.kind,
                Donor.public_display.label("donor_display"),
            )
            .outerjoin(ContributionDonor, ContributionDonor.contribution_id == Contribution.id)
            .outerjoin(Donor, Donor.id == ContributionDonor.donor_id)
            .where(Contribution.id.in_(cids))
            .order_by(Contribution.id, ContributionDonor.position)
        ):
            gifts.setdefault(row.id, row)
            if row.name_en is not None:
                donors.setdefault(row.id, []).append(
                    _DonorShown(row.name_en, row.name_km, row.kind, row.donor_display)
                )
        labels = {cid: str(name) for cid, name in labels_as_public(cids, gifts, donors).items()}
    elif cids:
        gifts = {
            row.id: row
            for row in db.session.execute(
                select(
                    Contribution.id,
                    Contribution.reference,
                    Contribution.void_reason,
                    Contribution.public_display,
                ).where(Contribution.id.in_(cids))
            )
        }
        if locale_code() == "km":
            labels = recorded_labels_km(cids)
    if cids:
        contributions = {
            cid: (g.reference, g.void_reason, g.public_display) for cid, g in gifts.items()
        }
    if eids:
        for eid, ref, reason in db.session.execute(
            select(Expense.id, Expense.reference, Expense.void_reason).where(Expense.id.in_(eids))
        ):
            expenses[eid] = (ref, reason)
    return contributions, expenses, labels


@dataclass(frozen=True)
class _DonorShown:
    """What :func:`~ceroc_donations.privacy.public_name` reads of a donor."""

    name_en: str
    name_km: str | None
    kind: str
    public_display: str


def _label(r, labels: dict, names: str) -> str:
    if names != "public":
        return labels.get(r.contribution_id, r.label) if r.contribution_id else r.label
    if r.contribution_id:
        label = labels.get(r.contribution_id)
        return label if label is not None else _("Anonymous donor")
    # Payees may be people (a reimbursed volunteer): the public sees the category only.
    return category_label(r.category)


#: Each category's label. A page of the ledger asks for one per row: translating all seven
#: each time was a third of its time, so a request translates them once.
_CATEGORY_LABELS = {
    "contribution": lambda: _("Contribution"),
    "promotion": lambda: _("Promotion"),
    "printing": lambda: _("Printing"),
    "travel": lambda: _("Travel"),
    "events": lambda: _("Events"),
    "fees": lambda: _("Fees"),
    "other": lambda: _("Other"),
}


def category_label(category: str) -> str:
    """The category as people read it."""
    if not has_request_context():
        label = _CATEGORY_LABELS.get(category)
        return label() if label else category
    labels = g.get("ceroc_category_labels")
    if labels is None:
        labels = g.ceroc_category_labels = {k: text() for k, text in _CATEGORY_LABELS.items()}
    return labels.get(category, category)


def ledger_page(
    f: LedgerFilter,
    cursor: str | tuple[date, int] | None = None,
    limit: int = 50,
    *,
    names: str = "recorded",
    balances: Balances | None = None,
) -> LedgerPage:
    """One page of the ledger, newest first, with the running balance on every row.

    *names* is ``"recorded"`` (donors' names as entered) or ``"public"`` (as the donors
    asked to be shown; expenses by category; see :func:`ceroc_donations.privacy.public_name`).
    """
    limit = max(1, limit)
    after = decode_cursor(cursor) if isinstance(cursor, str) else cursor
    stmt = _after(_filtered(f), after).order_by(_E.entry_on.desc(), _E.id.desc())
    raw = list(db.session.execute(stmt.limit(limit + 1)))
    nxt = encode_cursor(raw[limit - 1].entry_on, raw[limit - 1].id) if len(raw) > limit else None
    raw = raw[:limit]
    balances = balances or Balances(f.fund_id)
    running = _with_balances(raw, f, balances)
    contributions, expenses, labels = _details(raw, names=names)
    cur = base_currency()
    rows = []
    for r, bal in zip(raw, running, strict=True):
        if r.contribution_id:
            ref, reason, _display = contributions.get(r.contribution_id, (None, None, None))
        else:
            ref, reason = expenses.get(r.expense_id, (None, None))
        rows.append(
            LedgerRow(
                id=r.id,
                entry_on=r.entry_on,
                direction=r.direction,
                fund_id=r.fund_id,
                category=r.category,
                label=_label(r, labels, names),
                reference=ref,
                amount=Money(int(r.amount_minor), r.currency),
                base_amount=Money(int(r.base_amount_minor), cur),
                balance=Money(bal, cur),
                voided=bool(r.voided),
                void_reason=reason if r.voided else None,
                contribution_id=r.contribution_id,
                expense_id=r.expense_id,
            )
        )
    return LedgerPage(rows, nxt, f.fund_id)


def iter_rows(
    f: LedgerFilter, *, names: str = "recorded", batch: int = 1000
) -> Iterator[LedgerRow]:
    """Every row of the filter, newest first, read page by page (flat memory)."""
    balances = Balances(f.fund_id)
    cursor: tuple[date, int] | None = None
    while True:
        page = ledger_page(f, cursor, batch, names=names, balances=balances)
        yield from page.rows
        if page.next_cursor is None:
            return
        last = page.rows[-1]
        cursor = (last.entry_on, last.id)


# --- exports ---------------------------------------------------------------------------------


def export_header(*, public: bool = False) -> list[str]:
    header = [
        _("Date"),
        _("Reference"),
        _("Who or what"),
        _("Category"),
        _("Fund"),
        _("Direction"),
        _("Amount"),
        _("Running balance"),
        _("Base currency"),
        _("Original amount"),
        _("Original currency"),
        _("Voided"),
        _("Void reason"),
    ]
    if public:
        header = [h for i, h in enumerate(header) if i not in (1, 11, 12)]
    return header


def export_rows(f: LedgerFilter, *, names: str = "recorded", public: bool = False):
    """Rows for :func:`~ceroc_donations.ledger.exports.iter_csv` and ``write_xlsx``."""
    funds = fund_names()
    for r in iter_rows(f, names=names):
        row = [
            r.entry_on,
            r.reference,
            r.label,
            category_label(r.category),
            funds.get(r.fund_id, ""),
            _("in") if r.direction == "in" else _("out"),
            r.signed_base.amount,
            r.balance.amount,
            r.base_amount.currency,
            r.amount.amount,
            r.amount.currency,
            _("yes") if r.voided else "",
            r.void_reason or "",
        ]
        if public:
            row = [v for i, v in enumerate(row) if i not in (1, 11, 12)]
        yield row


def fund_names(funds: list[Fund] | None = None) -> dict[int, str]:
    """Each fund's name in the page's language (English when the Khmer one is unknown);
    of *funds* (every fund) when the caller has read them already."""
    if funds is not None:
        return {fund.id: localized(fund.name_en, fund.name_km) for fund in funds}
    return {
        fid: localized(en, km)
        for fid, en, km in db.session.execute(select(Fund.id, Fund.name_en, Fund.name_km))
    }


# --- charts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowPoint:
    month: date
    in_minor: int
    out_minor: int
    balance_minor: int


def monthly_flow(
    f: LedgerFilter, months: list[tuple[date, int, int]] | None = None
) -> list[FlowPoint]:
    """Money in and out per month and the balance at each month's end, from the monthly
    totals. Uses the fund and the months touched by the date range; other filters do not
    apply (the totals are kept per fund and month only). *months* are
    :func:`month_totals` of the filter's fund, when the caller has them."""
    if months is None:
        months = month_totals(f.fund_id)
    balance = 0
    points = []
    start = _month(f.date_from) if f.date_from else None
    for month, money_in, money_out in months:
        if f.date_to and month > f.date_to:
            break
        balance += money_in - money_out
        if start is None or month >= start:
            if money_in or money_out or points:
                points.append(FlowPoint(month, money_in, money_out, balance))
    return points


def _scope_where(stmt, f: LedgerFilter):
    """The charts' scope: the filter's fund and dates, never voided entries."""
    f = replace(f, include_void=False)
    return where_shared(stmt, f, voided=_E.voided, fund=_E.fund_id, day=_E.entry_on)


def spending_by_category(f: LedgerFilter) -> list[tuple[str, int]]:
    """Money out per category (base currency), largest first."""
    stmt = _scope_where(
        select(_E.category, func.sum(_E.base_amount_minor))
        .where(_E.direction == "out")
        .group_by(_E.category),
        f,
    )
    rows = [(c, int(t or 0)) for c, t in db.session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


#: A place with fewer donors than this is shown as "Other" on the charts, so a chart can
#: never be read as one donor's giving.
MIN_DONORS_PER_PLACE = 3


def contributions_by_place(
    f: LedgerFilter, *, min_donors: int = MIN_DONORS_PER_PLACE
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Contributions (base currency) by donor country and by city, largest first.

    A joint gift is split between its donors by :func:`~ceroc_donations.money.joint_shares`,
    so no gift is counted twice. Gifts shown as anonymous (by the donor or the gift) are
    left out, and places with fewer than *min_donors* donors are merged into "Other" (last).
    """
    stmt = _scope_where(
        select(
            Contribution.id,
            Contribution.base_amount_minor,
            Contribution.amount_minor,
            Contribution.public_display,
            ContributionDonor.share_minor,
            ContributionDonor.donor_id,
            Donor.public_display,
            Donor.country,
            Donor.city,
        )
        .join(LedgerEntry, LedgerEntry.contribution_id == Contribution.id)
        .join(ContributionDonor, ContributionDonor.contribution_id == Contribution.id)
        .join(Donor, Donor.id == ContributionDonor.donor_id)
        .order_by(Contribution.id, ContributionDonor.position),
        f,
    )
    if f.donor_id:
        stmt = stmt.where(
            Contribution.id.in_(
                select(ContributionDonor.contribution_id).where(
                    ContributionDonor.donor_id == f.donor_id
                )
            )
        )
    by_gift: dict[int, list] = {}
    for row in db.session.execute(stmt):
        by_gift.setdefault(row[0], []).append(row[1:])
    countries: dict[str, list] = {}
    cities: dict[str, list] = {}
    unknown = _("Not recorded")
    for parts in by_gift.values():
        base, amount = parts[0][0], parts[0][1]
        credited = joint_shares(base, amount, [p[3] for p in parts])
        for (_b, _a, gift_display, _s, donor_id, donor_display, country, city), c in zip(
            parts, credited, strict=True
        ):
            if "anonymous" in (gift_display, donor_display):
                continue
            where_city = f"{city}, {country}" if city and country else (city or unknown)
            for totals, key in ((countries, country or unknown), (cities, where_city)):
                entry = totals.setdefault(key, [0, set()])
                entry[0] += c
                entry[1].add(donor_id)
    return _merge_small(countries, min_donors), _merge_small(cities, min_donors)


def _merge_small(places: dict[str, list], min_donors: int) -> list[tuple[str, int]]:
    """Places with at least *min_donors* donors, largest first, then "Other" for the rest."""
    shown = {k: v[0] for k, v in places.items() if len(v[1]) >= min_donors}
    other = sum(v[0] for k, v in places.items() if k not in shown)
    rows = sorted(shown.items(), key=lambda kv: (-kv[1], kv[0]))
    if other:
        rows.append((_("Other"), other))
    return rows


def to_decimal(minor: int) -> Decimal:
    return Money(minor, base_currency()).amount
