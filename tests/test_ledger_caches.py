"""What the ledger pages keep between requests (drawn charts, translated category labels)
is never stale: a new entry shows at once, and each language gets its own words."""

from __future__ import annotations

from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.extensions import db
from tests.conftest import contribution_form


def _record(app, **overrides):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor
    from ceroc_donations.book.models import Fund

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = db.session.execute(select(Fund)).scalars().first() or book.create_fund(
            "general", "General", by=user
        )
        donor = book.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
        book.record_contribution(
            parse_contribution(contribution_form(donor.id, fund.id, **overrides)), by=user
        )
        db.session.commit()


def test_the_flow_chart_shows_a_new_gift_at_once(app, client, auth):
    _record(app, amount="400.00", received_on="2014-06-15")
    auth.login("member")
    first = client.get("/ledger/").get_data(as_text=True)
    assert "400.00" in first
    assert "1,234.00" not in first
    # Drawn once; the same numbers come from the cache.
    assert client.get("/ledger/").get_data(as_text=True) == first

    _record(app, amount="1234.00", received_on="2014-09-02")
    second = client.get("/ledger/").get_data(as_text=True)
    chart = second[second.index('<table class="chart-table"') :]
    assert "1,234.00" in chart[: chart.index("</table>")]


def test_category_labels_follow_each_request_language(app, client, auth):
    _record(app)
    auth.login("member")
    english = client.get("/ledger/").get_data(as_text=True)
    assert '<span class="tag">Contribution</span>' in english
    client.post("/language", data={"lang": "km", "next": "/ledger/"})
    khmer = client.get("/ledger/").get_data(as_text=True)
    assert '<span class="tag">ការបរិច្ចាគ</span>' in khmer
    assert '<span class="tag">Contribution</span>' not in khmer
    client.post("/language", data={"lang": "en", "next": "/ledger/"})
    assert '<span class="tag">Contribution</span>' in client.get("/ledger/").get_data(as_text=True)
