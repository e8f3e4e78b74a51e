"""Shared set-up for the letters tests: a small book with a single and a joint gift."""

from __future__ import annotations

import io
from datetime import date

from pypdf import PdfReader
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.extensions import db
from tests.conftest import contribution_form

ISSUED = date(2026, 11, 27)


class Ids:
    """Plain ids, so no ORM object outlives its app context."""


def make_book(app) -> Ids:
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        general = svc.create_fund("general", "General", by=user)
        alice = svc.create_donor(
            parse_donor(
                {
                    "name_en": "CNRP Minnesota",
                    "name_km": "គណបក្សសង្គ្រោះជាតិ មីនីសូតា",
                    "email": "mn@example.org",
                }
            ),
            by=user,
        )
        bob = svc.create_donor(
            parse_donor(
                {"name_en": "Sok Dara", "email": "dara@example.org", "letter_language": "en"}
            ),
            by=user,
        )
        chan = svc.create_donor(
            parse_donor({"name_en": "Chan Srey", "letter_language": "km"}), by=user
        )
        single = svc.record_contribution(
            parse_contribution(contribution_form(alice.id, general.id)), by=user
        )
        joint = svc.record_contribution(
            parse_contribution(
                contribution_form(
                    bob.id,
                    general.id,
                    donor_ids=[str(bob.id), str(chan.id)],
                    amount="300.00",
                    shares=["100.00", "200.00"],
                    received_on="2014-07-01",
                )
            ),
            by=user,
        )
        later = svc.record_contribution(
            parse_contribution(
                contribution_form(alice.id, general.id, amount="25.50", received_on="2014-09-02")
            ),
            by=user,
        )
        db.session.commit()
        ids = Ids()
        ids.fund, ids.alice, ids.bob, ids.chan = general.id, alice.id, bob.id, chan.id
        ids.single, ids.joint, ids.later = single.id, joint.id, later.id
        ids.single_ref, ids.joint_ref = single.reference, joint.reference
        return ids


def user_of(role: str) -> User:
    return db.session.execute(select(User).where(User.role == role)).scalar_one()


def page_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
