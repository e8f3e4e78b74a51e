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


# --- the drawn page (ceroc_donations/pagecache.py) -------------------------------------------


def _anonymous_gift(app, name="Sok Chea Minneapolis"):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor
    from ceroc_donations.book.models import Fund

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = db.session.execute(select(Fund)).scalars().first() or book.create_fund(
            "general", "General", by=user
        )
        donor = book.create_donor(
            parse_donor({"name_en": name, "public_display": "anonymous"}), by=user
        )
        book.record_contribution(
            parse_contribution(contribution_form(donor.id, fund.id, amount="75.00")), by=user
        )
        db.session.commit()
        return donor.id


def _cached_pages(app) -> int:
    return len(app.extensions.get("ceroc_page_cache", ()))


def test_a_page_drawn_for_the_treasurer_is_never_shown_to_a_member(app, client, auth):
    _anonymous_gift(app)
    auth.login("treasurer")
    assert "Sok Chea Minneapolis" in client.get("/ledger/").get_data(as_text=True)
    auth.logout()
    auth.login("member")
    page = client.get("/ledger/").get_data(as_text=True)
    assert "Sok Chea Minneapolis" not in page
    assert "75.00" in page
    assert _cached_pages(app) == 2  # one per role


def test_a_donor_asking_for_anonymity_is_hidden_at_once(app, client, auth):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor
    from ceroc_donations.book.models import Donor

    donor_id = _anonymous_gift(app)
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        book.update_donor(donor, parse_donor({"name_en": donor.name_en}), by=treasurer)
        db.session.commit()
    auth.login("member")
    assert "Sok Chea Minneapolis" in client.get("/ledger/").get_data(as_text=True)
    with app.app_context():
        donor = db.session.get(Donor, donor_id)
        treasurer = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        book.update_donor(
            donor, parse_donor({"name_en": donor.name_en, "public_display": "anonymous"}),
            by=treasurer,
        )  # fmt: skip
        db.session.commit()
    assert "Sok Chea Minneapolis" not in client.get("/ledger/").get_data(as_text=True)
    with app.app_context():
        from ceroc_donations.accounts import settings

        admin = db.session.execute(select(User).where(User.role == "admin")).scalar_one()
        settings.set_transparency_public(True, by=admin)
        db.session.commit()
    with app.test_client() as anyone:
        assert "Sok Chea Minneapolis" not in anyone.get("/transparency").get_data(as_text=True)


def test_the_frame_around_a_drawn_page_is_each_viewers_own(app, auth):
    """Two members read the same drawn ledger, each under their own name and sign-out token."""
    from ceroc_donations.accounts import service as users
    from tests.conftest import PASSWORD

    _record(app)
    with app.app_context():
        admin = db.session.execute(select(User).where(User.role == "admin")).scalar_one()
        users.create_user(
            "mey@test.example", "Mey Sophal", "member", "long enough pass 1", by=admin
        )
        db.session.commit()
    first, second = app.test_client(), app.test_client()
    first.post("/login", data={"email": "member@test.example", "password": PASSWORD})
    second.post("/login", data={"email": "mey@test.example", "password": "long enough pass 1"})
    a = first.get("/ledger/").get_data(as_text=True)
    b = second.get("/ledger/").get_data(as_text=True)
    assert _cached_pages(app) == 1
    assert "Member (" in a and "Mey Sophal" not in a
    assert "Mey Sophal (" in b
    token = 'name="csrf_token" value="'
    assert a.split(token)[1].split('"')[0] != b.split(token)[1].split('"')[0]
    main = a[a.index('<main id="main">') : a.index("</main>")]
    assert "Contribution" in main
    assert main == b[b.index('<main id="main">') : b.index("</main>")]


def test_filters_and_pages_are_drawn_each_their_own(app, client, auth):
    _record(app, amount="400.00")
    auth.login("member")
    whole = client.get("/ledger/").get_data(as_text=True)
    money_out = client.get("/ledger/?direction=out").get_data(as_text=True)
    assert '<span class="tag">Contribution</span>' in whole
    assert '<span class="tag">Contribution</span>' not in money_out
    assert _cached_pages(app) == 2
    assert client.get("/ledger/?from=2014-13-01").status_code == 422
    assert _cached_pages(app) == 2  # a refused filter is never kept
