"""Reading the database once into the frozen :class:`LetterData` the renderer needs."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from flask_babel import gettext
from sqlalchemy import extract, select
from sqlalchemy.orm import selectinload

from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution, ContributionDonor, Donor
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from ceroc_donations.money import Money
from ceroc_donations.rendering import Donor as LetterDonor
from ceroc_donations.rendering import GiftLine, LetterData

MODES = ("joint", "each")


# --- reading the database into LetterData ------------------------------------------------


def _letter_donor(donor: Donor) -> LetterDonor:
    return LetterDonor(name_en=donor.name_en, name_km=donor.name_km or None)


def language_for(donors: Iterable[Donor]) -> str:
    """The donors' shared letter language; bilingual when they differ."""
    languages = {d.letter_language or "bilingual" for d in donors}
    return languages.pop() if len(languages) == 1 else "bilingual"


def recipient_groups(c: Contribution, mode: str = "joint") -> list[list[Donor]]:
    """Who gets a letter: all co-donors together (``joint``) or one letter ``each``."""
    if mode not in MODES:
        raise Invalid({"mode": gettext("Choose one letter for all co-donors or one letter each.")})
    donors = c.donors
    if mode == "each" and len(donors) > 1:
        return [[d] for d in donors]
    return [donors]


def _amount_for(c: Contribution, recipients: list[Donor]) -> Money:
    """The whole gift, or one co-donor's share when one of several is thanked alone."""
    if len(recipients) == 1 and len(c.shares) > 1:
        share = next(s for s in c.shares if s.donor_id == recipients[0].id)
        if share.share_minor is not None:
            return Money(share.share_minor, c.currency)
    return c.amount


def thank_you_data(
    c: Contribution,
    recipients: list[Donor],
    *,
    number: int,
    issued_on: date,
    language: str | None = None,
) -> LetterData:
    """The plain data of a thank-you letter for gift *c* to *recipients*."""
    return LetterData(
        number=number,
        reference=c.reference,
        issued_on=issued_on,
        donors=tuple(_letter_donor(d) for d in recipients),
        amount=_amount_for(c, recipients),
        received_on=c.received_on,
        occasion=c.occasion or "",
        purpose=c.purpose or "",
        language=language or language_for(recipients),  # type: ignore[arg-type]
    )


def statement_gifts(donor: Donor, year: int) -> list[tuple[Contribution, Money]]:
    """The donor's non-void gifts in *year*, oldest first, each with the amount credited."""
    gifts = (
        db.session.execute(
            select(Contribution)
            .join(ContributionDonor)
            .where(
                ContributionDonor.donor_id == donor.id,
                Contribution.voided.is_(False),
                extract("year", Contribution.received_on) == year,
            )
            .options(selectinload(Contribution.shares))
            .order_by(Contribution.received_on, Contribution.id)
        )
        .scalars()
        .all()
    )
    out = []
    for c in gifts:
        share = next(s for s in c.shares if s.donor_id == donor.id)
        amount = (
            Money(share.share_minor, c.currency)
            if (share.share_minor is not None and len(c.shares) > 1)
            else c.amount
        )
        out.append((c, amount))
    return out


def statement_data(donor: Donor, year: int, *, number: int, issued_on: date) -> LetterData:
    """The plain data of a yearly statement; mixed currencies are shown in the base currency."""
    gifts = statement_gifts(donor, year)
    if not gifts:
        raise Invalid(
            {
                "year": gettext(
                    "%(name)s gave nothing in %(year)d (void gifts aside).",
                    name=donor.name_en,
                    year=year,
                )
            }
        )
    currencies = {amount.currency for _, amount in gifts}
    lines = []
    for c, amount in gifts:
        if len(currencies) > 1:
            # Credited share of the base amount, rounded down like the donor page.
            amount = Money(c.base_amount_minor * amount.minor // c.amount_minor, c.base_currency)
        lines.append(GiftLine(received_on=c.received_on, reference=c.reference, amount=amount))
    currency = lines[0].amount.currency
    total = Money(sum(line.amount.minor for line in lines), currency)
    return LetterData(
        number=number,
        reference=f"{year}-D{donor.id}",
        issued_on=issued_on,
        donors=(_letter_donor(donor),),
        amount=total,
        gifts=tuple(lines),
        year=year,
        language=donor.letter_language or "bilingual",  # type: ignore[arg-type]
    )


def letter_data(letter: Letter) -> LetterData:
    """The data *letter* was rendered from, read again from the database."""
    if letter.kind == "statement":
        return statement_data(
            letter.donor, letter.year, number=letter.number, issued_on=letter.issued_on
        )
    return thank_you_data(
        letter.contribution,
        list(letter.recipients),
        number=letter.number,
        issued_on=letter.issued_on,
        language=letter.language,
    )
