"""Expense categories are shown by their translated labels, never by their stored codes."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_donor, parse_expense
from ceroc_donations.book.receipts import store_receipt
from ceroc_donations.claims import service as claims
from ceroc_donations.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def spent(app):
    """One printing expense and one printing claim, made in a context closed before the
    requests (Flask-Babel keeps its chosen locale in the app context)."""
    with app.app_context():
        users = {u.role: u for u in db.session.execute(select(User)).scalars()}
        fund = book.create_fund("general", "General", by=users["treasurer"])
        book.create_donor(parse_donor({"name_en": "A donor"}), by=users["treasurer"])
        data = {"paid_on": "2026-11-20", "payee": "Print shop", "amount": "64.00",
                "currency": "USD", "exchange_rate": "1", "category": "printing",
                "fund_id": str(fund.id)}  # fmt: skip
        expense = book.record_expense(parse_expense(data), by=users["treasurer"])
        form = {"amount": "5.00", "currency": "USD", "spent_on": "2026-11-01",
                "purpose_en": "Flyers", "category": "printing"}  # fmt: skip
        claim = claims.submit_claim(
            claims.parse_claim(form), store_receipt(PNG, "r.png"), by=users["member"]
        )
        db.session.commit()
        return expense.id, claim.id


def _shown(html: str) -> str:
    """The page's text outside tags and attribute values (option values keep the codes)."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize(("lang", "label"), [("en", "Printing"), ("km", "ការបោះពុម្ព")])
def test_every_page_shows_the_label(client, auth, spent, lang, label):
    expense_id, claim_id = spent
    auth.login("admin")
    client.post("/language", data={"lang": lang, "next": "/"})
    for url in (
        "/",
        "/expenses/",
        f"/expenses/{expense_id}",
        f"/expenses/{expense_id}/edit",
        "/expenses/new",
        f"/claims/{claim_id}",
        "/claims/review",
        "/claims/new",
        "/ledger/",
    ):
        text = _shown(client.get(url).get_data(as_text=True))
        assert label in text, url
        assert not re.search(r"\bprinting\b", text), url
    csv_text = client.get("/ledger/export.csv").get_data(as_text=True)
    assert label in csv_text and ",printing," not in csv_text
