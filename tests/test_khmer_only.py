"""Text in Khmer only is accepted wherever free text is asked for: an English field is never
required when the Khmer one is given (claims, descriptions, occasions, purposes, notes,
reasons), and what was written is shown, whatever the page's language."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, Donor, Expense, Fund
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
KM = "ពិធីបុណ្យចូលឆ្នាំខ្មែរ នៅក្រុងមីនីអាប៉ូលីស"  # with a space, as Khmer prose has
KM2 = "ជួយការចុះឈ្មោះបោះឆ្នោត"
KM3 = "ទូទាត់តាមមូលប្បទានបត្រ"


@pytest.fixture
def world(app):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor

    with app.app_context():
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = book.create_fund("general", "General", by=treasurer)
        donor = book.create_donor(parse_donor({"name_en": "Sok Dara"}), by=treasurer)
        db.session.commit()
        return {"fund": fund.id, "donor": donor.id}


def one(app, model):
    with app.app_context():
        db.session.expire_on_commit = False
        row = db.session.execute(select(model).order_by(model.id.desc())).scalars().first()
        db.session.expunge_all()
        return row


def test_a_gift_with_only_khmer_occasion_purpose_note_and_gift_in_kind(app, client, auth, world):
    auth.login("treasurer")
    r = client.post(
        "/contributions/new",
        data={
            "donor_ids": [str(world["donor"])],
            "amount": "150",
            "currency": "USD",
            "received_on": "2014-04-14",
            "fund_id": str(world["fund"]),
            "occasion": "",
            "occasion_km": KM,
            "purpose": "",
            "purpose_km": KM2,
            "received_by": "លោកស្រី សេង",
            "method": "in_kind",
            "in_kind_description": "អង្ករ ១០០ គីឡូ",
            "note": KM3,
            "public_display": "default",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    c = one(app, Contribution)
    assert (c.occasion, c.occasion_km, c.purpose, c.purpose_km) == (None, KM, None, KM2)
    assert c.note == KM3 and c.in_kind_description == "អង្ករ ១០០ គីឡូ"
    # Shown on the English page as well: the Khmer is all there is.
    page = client.get(f"/contributions/{c.id}").get_data(as_text=True)
    assert KM in page and KM2 in page and KM3 in page
    # And found by a search in Khmer.
    listing = client.get("/contributions/", query_string={"q": "បុណ្យចូលឆ្នាំ"})
    assert c.reference in listing.get_data(as_text=True)


def test_an_expense_described_only_in_khmer(app, client, auth, world):
    auth.login("treasurer")
    r = client.post(
        "/expenses/new",
        data={
            "payee": "ហាងបោះពុម្ព អង្គរ",
            "amount": "64",
            "currency": "USD",
            "paid_on": "2014-06-20",
            "category": "printing",
            "fund_id": str(world["fund"]),
            "description_en": "",
            "description_km": "ខិត្តប័ណ្ណ\nនិងផ្ទាំងរូបភាព",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    e = one(app, Expense)
    assert e.description_en is None and e.description_km == "ខិត្តប័ណ្ណ\nនិងផ្ទាំងរូបភាព"
    assert e.payee == "ហាងបោះពុម្ព អង្គរ"
    assert "ខិត្តប័ណ្ណ" in client.get(f"/expenses/{e.id}").get_data(as_text=True)


def test_a_claim_written_only_in_khmer_is_sent_decided_and_paid(app, client, auth, world):
    auth.login("member")
    r = client.post(
        "/claims/new",
        data={
            "amount": "35.50",
            "currency": "USD",
            "spent_on": "2014-06-20",
            "purpose_en": "",
            "purpose_km": KM2,
            "category": "printing",
            "receipt": (io.BytesIO(PNG), "r.png"),
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    claim = one(app, ExpenseClaim)
    assert claim.purpose_en == "" and claim.purpose_km == KM2
    assert KM2 in client.get(f"/claims/{claim.id}").get_data(as_text=True)
    auth.logout()
    auth.login("board")
    assert KM2 in client.get("/claims/review").get_data(as_text=True)
    r = client.post(f"/claims/{claim.id}/approve", data={"note": "យល់ព្រម"})
    assert r.status_code == 302
    auth.logout()
    auth.login("treasurer")
    r = client.post(
        f"/claims/{claim.id}/pay",
        data={"fund_id": str(world["fund"]), "paid_on": "2014-06-25", "exchange_rate": "1"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    e = one(app, Expense)
    assert e.description_km == KM2 and e.description_en is None


def test_a_claim_needs_its_purpose_in_one_language_at_least(app, client, auth, world):
    auth.login("member")
    r = client.post(
        "/claims/new",
        data={
            "amount": "5",
            "currency": "USD",
            "spent_on": "2014-06-20",
            "purpose_en": "",
            "purpose_km": "  ",
            "category": "printing",
            "receipt": (io.BytesIO(PNG), "r.png"),
        },
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and 'id="e-purpose_en"' in page
    assert "Enter what the money was for" in page


def test_a_claim_rejected_with_a_reason_in_khmer(app, client, auth, world):
    from ceroc_donations.book.receipts import store_receipt
    from ceroc_donations.claims import service as claims

    with app.app_context():
        member = db.session.execute(select(User).where(User.role == "member")).scalar_one()
        data = claims.parse_claim(
            {
                "amount": "9",
                "currency": "USD",
                "spent_on": "2014-06-20",
                "purpose_km": KM2,
                "category": "other",
            }
        )
        claim = claims.submit_claim(data, store_receipt(PNG, "r.png"), by=member)
        db.session.commit()
        cid = claim.id
    auth.login("board")
    r = client.post(f"/claims/{cid}/reject", data={"note": "គ្មានបង្កាន់ដៃច្បាស់លាស់"})
    assert r.status_code == 302
    assert one(app, ExpenseClaim).decision_note == "គ្មានបង្កាន់ដៃច្បាស់លាស់"


def test_a_void_reason_donor_note_and_fund_description_in_khmer(app, client, auth, world):
    auth.login("treasurer")
    r = client.post(
        "/donors/new",
        data={"name_en": "Keo Bopha", "name_km": "កែវ បុប្ផា", "note": KM3, "country": "US"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    assert one(app, Donor).note == KM3
    r = client.post(
        "/funds/",
        data={"code": "school", "name_en": "School", "description_km": "សាលារៀនភូមិ"},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    assert one(app, Fund).description_km == "សាលារៀនភូមិ"
    r = client.post(
        "/expenses/new",
        data={
            "payee": "Venue",
            "amount": "10",
            "currency": "USD",
            "paid_on": "2014-06-20",
            "category": "events",
            "fund_id": str(world["fund"]),
        },
    )
    e = one(app, Expense)
    r = client.post(f"/expenses/{e.id}/void", data={"reason": "បញ្ចូលពីរដង"})
    assert r.status_code == 302
    assert one(app, Expense).void_reason == "បញ្ចូលពីរដង"
