"""Read the book once into a :class:`~ceroc_donations.rendering.report.ReportData`.

Voided entries are left out of every figure. Sums are taken over ``ledger_entry`` (not
``fund_month_total``) because a period may start and end on any day, not only on month
boundaries; both tables hold the same non-voided amounts.

Donors are named as the public sees them (:func:`ceroc_donations.privacy.public_name`,
whoever downloads the report), in English and Khmer, and nothing else about a donor
(email, address, city, note) ever reaches the report. Co-donors shown the same way are
listed once.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from ceroc_donations import audit
from ceroc_donations.book.inputs import base_currency
from ceroc_donations.book.models import (
    Contribution,
    ContributionDonor,
    Donor,
    Fund,
    LedgerEntry,
)
from ceroc_donations.extensions import db
from ceroc_donations.privacy import gift_names, joined
from ceroc_donations.rendering.charts import MonthlyFlow
from ceroc_donations.rendering.report import (
    CategoryRow,
    ContributionRow,
    FundRow,
    ReportData,
)


def display_names(contribution: Contribution) -> tuple[str, str]:
    """How *contribution*'s donors are named in public, in English and in Khmer."""
    shown = joined(gift_names(contribution.donors, contribution, None))
    return shown.en, shown.km


def _sums(*where) -> dict[tuple[int, str], int]:
    """Non-voided base amounts by (fund id, direction)."""
    rows = db.session.execute(
        select(LedgerEntry.fund_id, LedgerEntry.direction,
               func.coalesce(func.sum(LedgerEntry.base_amount_minor), 0))
        .where(LedgerEntry.voided.is_(False), *where)
        .group_by(LedgerEntry.fund_id, LedgerEntry.direction)
    )  # fmt: skip
    return {(fund_id, direction): int(total) for fund_id, direction, total in rows}


def _monthly(since: date, until: date, opening: int) -> list[MonthlyFlow]:
    month = func.strftime("%Y-%m", LedgerEntry.entry_on)
    if db.engine.dialect.name != "sqlite":
        month = func.to_char(LedgerEntry.entry_on, "YYYY-MM")
    rows = db.session.execute(
        select(month,
               func.sum(case((LedgerEntry.direction == "in", LedgerEntry.base_amount_minor),
                             else_=0)),
               func.sum(case((LedgerEntry.direction == "out", LedgerEntry.base_amount_minor),
                             else_=0)))
        .where(LedgerEntry.voided.is_(False), LedgerEntry.entry_on >= since,
               LedgerEntry.entry_on <= until)
        .group_by(month).order_by(month)
    ).all()  # fmt: skip
    points = []
    balance = opening
    for key, money_in, money_out in rows:
        year, number = (int(part) for part in key.split("-"))
        balance += int(money_in) - int(money_out)
        points.append(MonthlyFlow(date(year, number, 1), int(money_in), int(money_out), balance))
    return points


def build_report(since: date, until: date, *, generated_on: date | None = None) -> ReportData:
    """The transparency report's data for the days *since* to *until*, both included."""
    if since > until:
        raise ValueError("the period must not end before it starts")
    cur = base_currency()
    before = _sums(LedgerEntry.entry_on < since)
    during = _sums(LedgerEntry.entry_on >= since, LedgerEntry.entry_on <= until)
    used = {fund_id for fund_id, _direction in (*before, *during)}
    funds = []
    for fund in db.session.execute(select(Fund).order_by(Fund.id)).scalars():
        if fund.archived and fund.id not in used:
            continue
        funds.append(FundRow(
            name_en=fund.name_en, name_km=fund.name_km,
            opening_minor=before.get((fund.id, "in"), 0) - before.get((fund.id, "out"), 0),
            in_minor=during.get((fund.id, "in"), 0), out_minor=during.get((fund.id, "out"), 0),
        ))  # fmt: skip
    opening = sum(f.opening_minor for f in funds)

    categories = [
        CategoryRow(code, int(total), int(count))
        for code, total, count in db.session.execute(
            select(LedgerEntry.category, func.sum(LedgerEntry.base_amount_minor), func.count())
            .where(LedgerEntry.voided.is_(False), LedgerEntry.direction == "out",
                   LedgerEntry.entry_on >= since, LedgerEntry.entry_on <= until)
            .group_by(LedgerEntry.category)
            .order_by(func.sum(LedgerEntry.base_amount_minor).desc(), LedgerEntry.category)
        )
    ]  # fmt: skip

    gifts = db.session.execute(
        select(Contribution)
        .where(Contribution.voided.is_(False), Contribution.received_on >= since,
               Contribution.received_on <= until)
        .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor)
                 .load_only(Donor.kind, Donor.name_en, Donor.name_km, Donor.public_display),
                 selectinload(Contribution.fund))
        .order_by(Contribution.received_on, Contribution.id)
    ).scalars()  # fmt: skip
    contributions = []
    for c in gifts:
        name_en, name_km = display_names(c)
        contributions.append(ContributionRow(
            received_on=c.received_on, reference=c.reference, name_en=name_en, name_km=name_km,
            fund_en=c.fund.name_en, fund_km=c.fund.name_km, amount=c.amount,
            base_minor=c.base_amount_minor,
        ))  # fmt: skip

    return ReportData(
        period_from=since, period_to=until, base_currency=cur, opening_minor=opening,
        in_minor=sum(f.in_minor for f in funds), out_minor=sum(f.out_minor for f in funds),
        funds=tuple(funds), categories=tuple(categories),
        monthly=tuple(_monthly(since, until, opening)), contributions=tuple(contributions),
        generated_on=generated_on or date.today(), audit_head=str(audit.head()),
    )  # fmt: skip
