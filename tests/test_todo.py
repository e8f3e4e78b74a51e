"""The dashboard's to-do list: per role, only what the role can act on, each a count and a link."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_contribution, parse_expense
from ceroc_donations.book.receipts import store_receipt
from ceroc_donations.claims import service as claims
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from tests.conftest import contribution_form

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _user(role: str) -> User:
    return db.session.execute(select(User).where(User.role == role)).scalar_one()


def _expense(fund, payee: str, receipt=None):
    data = {
        "paid_on": "2026-11-20",
        "payee": payee,
        "amount": "10.00",
        "currency": "USD",
        "exchange_rate": "1",
        "category": "printing",
        "fund_id": str(fund.id),
    }
    return book.record_expense(parse_expense(data), by=_user("treasurer"), receipt=receipt)


@pytest.fixture
def work(ctx, funds, donor):
    """3 claims (2 submitted, 1 approved), 3 gifts (1 to thank, 1 void, 1 with a letter
    drafted), 3 expenses (2 without a receipt file, one of them void, 1 with one)."""
    general = funds[0]
    member, board = _user("member"), _user("board")
    form = {"amount": "5.00", "currency": "USD", "spent_on": "2026-11-01",
            "purpose_en": "Stamps", "category": "other"}  # fmt: skip
    made = [
        claims.submit_claim(claims.parse_claim(form), store_receipt(PNG, "c.png"), by=member)
        for _ in range(3)
    ]
    claims.approve(made[0], by=board)
    treasurer = _user("treasurer")
    gifts = [
        book.record_contribution(
            parse_contribution(contribution_form(donor.id, general.id)), by=treasurer
        )
        for _ in range(3)
    ]
    book.void_contribution(gifts[1], "typo", by=treasurer)
    letter = Letter(
        number=1,
        contribution_id=gifts[2].id,
        language="en",
        issued_on=gifts[2].received_on,
        pdf_path="1.pdf",
        sha256="0" * 64,
        size=1,
    )
    letter.recipients = [donor]
    db.session.add(letter)
    book.set_thank_status(gifts[2], "drafted", by=treasurer)
    _expense(general, "No receipt")
    book.void_expense(_expense(general, "Void, no receipt"), "twice", by=treasurer)
    _expense(general, "With receipt", receipt=store_receipt(PNG, "r.png"))
    db.session.commit()


def _todo(client) -> dict[str, tuple[int, str]]:
    page = client.get("/").get_data(as_text=True)
    section = (
        page.split('<section class="todo"', 1)[1].split("</section>", 1)[0]
        if ('<section class="todo"' in page)
        else ""
    )
    items = re.findall(
        r'<li class="todo-(\w+)[^"]*"><a href="([^"]+)"><span class="count">(\d+)</span>', section
    )
    return {key: (int(count), url.replace("&amp;", "&")) for key, url, count in items}


def test_treasurer_sees_claims_to_pay_gifts_to_thank_and_missing_receipts(client, auth, work):
    auth.login("treasurer")
    page = client.get("/").get_data(as_text=True)
    first = page.index('class="button primary big-action"')
    assert "Record a gift" in page[first : first + 200]
    assert first < page.index('<section class="todo"') < page.index("Balance, all funds")
    assert _todo(client) == {
        "pay": (1, "/claims/pay"),
        "thank": (1, "/contributions/?thanks=not_thanked"),
        "receipts": (1, "/expenses/?no_receipt=1"),
    }


def test_board_sees_claims_to_approve_and_letters(client, auth, work):
    auth.login("board")
    assert _todo(client) == {
        "approve": (2, "/claims/review"),
        "thank": (1, "/letters/"),
        "send": (1, "/letters/"),
    }
    assert "Record a gift" not in client.get("/").get_data(as_text=True)


def test_admin_sees_every_item_and_a_member_none(client, auth, work):
    auth.login("admin")
    assert set(_todo(client)) == {"approve", "pay", "thank", "send", "receipts"}
    auth.logout()
    auth.login("member")
    page = client.get("/").get_data(as_text=True)
    assert _todo(client) == {} and '<section class="todo"' not in page


def test_every_link_leads_to_the_listed_work(client, auth, work):
    auth.login("admin")
    for url in (url for _count, url in _todo(client).values()):
        assert client.get(url).status_code == 200, url
    listed = client.get("/expenses/?no_receipt=1").get_data(as_text=True)
    assert "No receipt" in listed and "With receipt" not in listed
    assert "With receipt" in client.get("/expenses/").get_data(as_text=True)


def test_counts_follow_the_work_being_done(client, auth, work):
    auth.login("board")
    claim = claims.queue("submitted")[0]
    claims.approve(claim, by=_user("board"))
    db.session.commit()
    assert _todo(client)["approve"][0] == 1
