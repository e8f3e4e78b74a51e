"""Reading the database once into the frozen :class:`LetterData` the renderer needs.

Also the rules of what a letter is about: who gets one for a joint gift, which years a
statement may cover, and the sample data the board's text previews use
(``letters/sample.json``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from functools import lru_cache

from flask_babel import gettext
from sqlalchemy import extract, select
from sqlalchemy.orm import selectinload

from ceroc_donations.book.inputs import Invalid, base_currency
from ceroc_donations.book.models import Contribution, ContributionDonor, Donor
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from ceroc_donations.money import Money, joint_shares, parse_amount
from ceroc_donations.rendering import LETTERS_DIR, GiftLine, LetterData
from ceroc_donations.rendering import Donor as LetterDonor
from ceroc_donations.rendering.letter import PAPERS, Kind, Paper

#: Joint gifts: one letter to all co-donors, or one letter each.
MODES = ("joint", "each")
#: The first year a statement may cover (CEROC's books start after it).
FIRST_STATEMENT_YEAR = 1990


#: Where letters are printed on US Letter: the United States and Canada. A4 elsewhere.
LETTER_PAPER_COUNTRIES = frozenset({"US", "CA"})
#: A batch's paper: ``auto`` (each letter on its donor's paper), or one size for all.
BATCH_PAPER = ("auto", *PAPERS)


def paper_size(country: str | None, donor_paper: str = "auto", batch_paper: str = "auto") -> Paper:
    """The paper a letter is laid out on: the batch's choice, else the donor's, else US Letter
    for a donor in the United States or Canada and A4 for anyone else (or nowhere known)."""
    for choice in (batch_paper, donor_paper):
        if choice in PAPERS:
            return choice  # type: ignore[return-value]
    return "letter" if country in LETTER_PAPER_COUNTRIES else "a4"


def check_batch_paper(paper: str) -> str:
    """*paper* if a batch may use it; :class:`Invalid` on ``paper`` otherwise."""
    if paper not in BATCH_PAPER:
        raise Invalid({"paper": gettext("Choose the paper: automatic, A4 or US Letter.")})
    return paper


def addressee(recipients: list[Donor]) -> Donor:
    """The recipient the letter is posted to: the first with a postal address, else the first.

    The paper follows this donor, and the address block shows their address.
    """
    return next((d for d in recipients if d.postal_address), recipients[0])


def _posting(recipients: list[Donor], batch_paper: str) -> dict:
    """The letter's ``paper`` and window ``address`` lines (the English name, then the
    postal address as recorded, line by line)."""
    to = addressee(recipients)
    lines = [line.strip() for line in (to.postal_address or "").splitlines() if line.strip()]
    return {
        "paper": paper_size(to.country, to.paper, batch_paper),
        "address": (to.name_en, *lines) if lines else (),
    }


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
    number: int | None,
    issued_on: date,
    language: str | None = None,
    paper: str = "auto",
) -> LetterData:
    """The plain data of a thank-you letter for gift *c* to *recipients* (a draft: no number).

    *paper* is the batch's choice (``auto``: the addressee's paper) or the archived letter's.
    """
    return LetterData(
        number=number,
        reference=c.reference,
        issued_on=issued_on,
        donors=tuple(_letter_donor(d) for d in recipients),
        amount=_amount_for(c, recipients),
        received_on=c.received_on,
        occasion=c.occasion or "",
        occasion_km=c.occasion_km or "",
        purpose=c.purpose or "",
        purpose_km=c.purpose_km or "",
        language=language or language_for(recipients),  # type: ignore[arg-type]
        **_posting(recipients, paper),
    )


def draft_data(c: Contribution, mode: str = "joint") -> LetterData:
    """The gift's (first) letter as it would be generated today, unnumbered: a draft."""
    return thank_you_data(c, recipient_groups(c, mode)[0], number=None, issued_on=date.today())


def check_statement_year(year: int | None) -> int:
    """*year* if a statement may cover it; :class:`Invalid` on ``year`` otherwise."""
    if year is None or not FIRST_STATEMENT_YEAR <= year <= date.today().year:
        raise Invalid({"year": gettext("Give a year such as 2026.")})
    return year


def statement_gifts(donor: Donor, year: int) -> list[tuple[Contribution, Money]]:
    """The donor's non-void gifts in *year*, oldest first, each with the amount credited."""
    gifts = db.session.execute(
        select(Contribution)
        .join(ContributionDonor)
        .where(
            ContributionDonor.donor_id == donor.id,
            Contribution.voided.is_(False),
            extract("year", Contribution.received_on) == year,
        )
        .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor))
        .order_by(Contribution.received_on, Contribution.id)
    ).scalars()
    return [(c, _amount_for(c, [donor])) for c in gifts]


def credited_base(c: Contribution, donor: Donor, amount: Money) -> int:
    """The base amount behind *amount*: the whole gift's, or the donor's joint share."""
    if amount.minor == c.amount_minor:
        return c.base_amount_minor
    parts = joint_shares(c.base_amount_minor, c.amount_minor, [s.share_minor for s in c.shares])
    return parts[[s.donor_id for s in c.shares].index(donor.id)]


def _gift_line(c: Contribution, donor: Donor, credited: Money) -> GiftLine:
    """A statement line in the gift's own currency, with its base value when that differs."""
    base = None
    if credited.currency != c.base_currency:
        # The credited share of the base value, as on the donor page.
        base = Money(credited_base(c, donor, credited), c.base_currency)
    return GiftLine(
        received_on=c.received_on, reference=c.reference, amount=credited, base_amount=base
    )


def statement_data(
    donor: Donor, year: int, *, number: int | None, issued_on: date, paper: str = "auto"
) -> LetterData:
    """The plain data of a yearly statement: each gift in the currency it was given in, and
    the total in the base currency. *paper* as for :func:`thank_you_data`."""
    check_statement_year(year)
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
    lines = tuple(_gift_line(c, donor, credited) for c, credited in gifts)
    total = Money(sum(line.counted.minor for line in lines), lines[0].counted.currency)
    return LetterData(
        number=number,
        reference=f"{year}-D{donor.id}",
        issued_on=issued_on,
        donors=(_letter_donor(donor),),
        amount=total,
        gifts=lines,
        year=year,
        language=donor.letter_language or "bilingual",  # type: ignore[arg-type]
        **_posting([donor], paper),
    )


def data_of(letter: Letter) -> LetterData:
    """The data *letter* was rendered from, read again from the database."""
    if letter.kind == "statement":
        return statement_data(
            letter.donor,
            letter.year,
            number=letter.number,
            issued_on=letter.issued_on,
            paper=letter.paper,
        )
    # In the gift's order of co-donors, as when it was made (the relationship is by id).
    recipients = set(letter.recipients)
    return thank_you_data(
        letter.contribution,
        [d for d in letter.contribution.donors if d in recipients],
        number=letter.number,
        issued_on=letter.issued_on,
        language=letter.language,
        paper=letter.paper,
    )


@lru_cache(maxsize=1)
def _sample() -> dict:
    with open(LETTERS_DIR / "sample.json", encoding="utf-8") as handle:
        return json.load(handle)


def sample_data(kind: Kind = "thank_you") -> LetterData:
    """Made-up letter data from ``letters/sample.json``, in the base currency, for previews of
    the board's texts: a draft, so it has no number."""
    sample = _sample()
    currency = base_currency()
    gifts = tuple(
        GiftLine(
            received_on=date.fromisoformat(g["received_on"]),
            reference=g["reference"],
            amount=parse_amount(g["amount"], currency),
        )
        for g in sample["gifts"]
    )
    common = {
        "number": None,
        "issued_on": date.today(),
        "donors": tuple(LetterDonor(**d) for d in sample["donors"]),
    }
    if kind == "statement":
        return LetterData(
            **common,
            reference=sample["statement_reference"],
            amount=Money(sum(g.amount.minor for g in gifts), currency),
            gifts=gifts,
            year=gifts[0].received_on.year,
        )
    first = gifts[0]
    return LetterData(
        **common,
        reference=first.reference,
        amount=first.amount,
        received_on=first.received_on,
        occasion=sample["occasion"],
        occasion_km=sample["occasion_km"],
    )
