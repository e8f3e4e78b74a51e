"""Bilingual all the way through: a gift's occasion and purpose and a fund's description have a
Khmer version (forms, API, CSV import), used on Khmer pages and in the Khmer half of letters."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, Fund
from ceroc_donations.extensions import db
from tests.conftest import contribution_form
from tests.letters_support import pdf_text
from tests.test_api import book, call, contribution_body  # noqa: F401 (fixtures)
from tests.test_csv_import import confirm, imports, preview  # noqa: F401 (fixture)

OCCASION_EN = "Trip to Minnesota accompanying MP Mu Sochua"
OCCASION_KM = "ដំណើរទៅរដ្ឋមីនីសូតា អមដំណើរលោកស្រីតំណាងរាស្ត្រ មូរ សុខហួរ"
PURPOSE_KM = "សិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរទាំងអស់នៅក្រៅប្រទេស"
FUND_KM = "ការផ្សព្វផ្សាយ និងការប្រមូលញត្តិ"
TOO_LONG_KM = "ក" * 301


def _plain(text: str) -> str:
    """*text* without the word breaks the letter designs put between Khmer words."""
    return text.replace("\u200b", "")


@pytest.fixture
def gift(app):
    """A bilingual donor with a Khmer name, a fund with Khmer name and description, and a
    gift whose occasion and purpose are in both languages; returns the gift's id."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = svc.create_fund(
            "promotion",
            "Promotion & petition collection",
            name_km=FUND_KM,
            description="Promotion to collect signatures.",
            description_km="ការផ្សព្វផ្សាយ ដើម្បីប្រមូលហត្ថលេខា។",
            by=user,
        )
        donor = svc.create_donor(
            parse_donor({"name_en": "CNRP Minnesota", "name_km": "គ.ស.ជ. រដ្ឋមីនីសូតា"}), by=user
        )
        c = svc.record_contribution(
            parse_contribution(
                contribution_form(
                    donor.id,
                    fund.id,
                    occasion=OCCASION_EN,
                    occasion_km=OCCASION_KM,
                    purpose="The right to vote of all overseas Cambodians",
                    purpose_km=PURPOSE_KM,
                )
            ),
            by=user,
        )
        db.session.commit()
        return c.id


def _khmer(client, next_url="/"):
    client.post("/language", data={"lang": "km", "next": next_url})


# --- forms -----------------------------------------------------------------------------------


def test_form_records_khmer_only_occasion_and_purpose(app, client, auth, funds, donor):
    general, _promo = funds
    auth.login("treasurer")
    form = contribution_form(
        donor.id, general.id, occasion="", occasion_km=OCCASION_KM, purpose_km=PURPOSE_KM
    )
    r = client.post("/contributions/new", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)
    c = db.session.execute(select(Contribution)).scalar_one()
    assert (c.occasion, c.occasion_km, c.purpose, c.purpose_km) == (
        None,
        OCCASION_KM,
        None,
        PURPOSE_KM,
    )
    edit = client.get(f"/contributions/{c.id}/edit").get_data(as_text=True)
    assert f'value="{OCCASION_KM}"' in edit and 'name="purpose_km"' in edit


@pytest.mark.parametrize("field", ["occasion_km", "purpose_km"])
def test_form_refuses_too_long_khmer_text_by_the_field(app, client, auth, funds, donor, field):
    general, _promo = funds
    auth.login("treasurer")
    r = client.post(
        "/contributions/new", data=contribution_form(donor.id, general.id, **{field: TOO_LONG_KM})
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    assert f'id="e-{field}"' in page and "301" in page
    assert db.session.execute(select(Contribution)).first() is None


def test_fund_form_takes_khmer_description_and_the_khmer_page_shows_it(app, client, auth):
    auth.login("treasurer")
    r = client.post(
        "/funds/",
        data={
            "code": "youth",
            "name_en": "Youth",
            "name_km": "យុវជន",
            "description": "Youth outreach.",
            "description_km": "ការផ្សព្វផ្សាយដល់យុវជន។",
        },
    )
    assert r.status_code == 302
    with app.app_context():
        fund = db.session.execute(select(Fund).where(Fund.code == "youth")).scalar_one()
        assert fund.description_km == "ការផ្សព្វផ្សាយដល់យុវជន។"
    english = client.get("/funds/").get_data(as_text=True)
    assert "Youth outreach." in english and "ការផ្សព្វផ្សាយដល់យុវជន។" not in english
    _khmer(client)
    khmer = client.get("/funds/").get_data(as_text=True)
    assert "ការផ្សព្វផ្សាយដល់យុវជន។" in khmer and "Youth outreach." not in khmer
    too_long = client.post(
        "/funds/",
        data={"code": "long", "name_en": "Long", "description_km": "ក" * 2001},
    )
    assert too_long.status_code == 422 and 'id="e-description_km"' in too_long.get_data(
        as_text=True
    )


# --- API -------------------------------------------------------------------------------------


def test_api_takes_and_answers_khmer_occasion_and_purpose(app, call, book):  # noqa: F811
    r = call(
        "POST",
        "/contributions",
        json=contribution_body(book, occasion=None, occasion_km=OCCASION_KM, purpose_km=PURPOSE_KM),
    )
    assert r.status_code == 201, r.json
    assert r.json["occasion"] is None
    assert (r.json["occasion_km"], r.json["purpose_km"]) == (OCCASION_KM, PURPOSE_KM)
    again = call("GET", f"/contributions/{r.json['id']}", role="member")
    assert again.json["occasion_km"] == OCCASION_KM


@pytest.mark.parametrize("field", ["occasion_km", "purpose_km"])
def test_api_too_long_khmer_text_is_422_naming_the_field(app, call, book, field):  # noqa: F811
    r = call("POST", "/contributions", json=contribution_body(book, **{field: TOO_LONG_KM}))
    assert r.status_code == 422 and field in r.json["fields"], r.json
    with app.app_context():
        assert db.session.execute(select(Contribution).where(Contribution.id > 1)).first() is None


def test_api_fund_description_in_khmer(app, call, book):  # noqa: F811
    r = call(
        "POST",
        "/funds",
        json={"code": "youth", "name_en": "Youth", "description_km": "ការផ្សព្វផ្សាយដល់យុវជន។"},
    )
    assert r.status_code == 201, r.json
    assert r.json["description_km"] == "ការផ្សព្វផ្សាយដល់យុវជន។"
    bad = call("POST", "/funds", json={"code": "x", "name_en": "X", "description_km": "ក" * 2001})
    assert bad.status_code == 422 and "description_km" in bad.json["fields"]
    schema = call("GET", "/openapi.json", role=None).json["components"]["schemas"]
    assert schema["ContributionInput"]["properties"]["occasion_km"]["maxLength"] == 300
    assert schema["FundInput"]["properties"]["description_km"]["maxLength"] == 2000


# --- CSV import ------------------------------------------------------------------------------


def test_csv_import_reads_khmer_columns(app, client, auth, imports):  # noqa: F811
    content = (
        "donor,amount,currency,received_on,fund,occasion,occasion_km,purpose_km\n"
        f"CNRP Minnesota,400,USD,2014-06-15,promotion,,{OCCASION_KM},{PURPOSE_KM}\n"
    ).encode()
    auth.login("treasurer")
    token, page = preview(client, content)
    assert page.status_code == 200 and OCCASION_KM in page.get_data(as_text=True)
    assert confirm(client, token, content).status_code == 302
    with app.app_context():
        c = db.session.execute(select(Contribution)).scalar_one()
        assert (c.occasion, c.occasion_km, c.purpose_km) == (None, OCCASION_KM, PURPOSE_KM)


def test_csv_import_refuses_too_long_khmer_occasion(app, client, auth, imports):  # noqa: F811
    content = (
        "donor,amount,currency,received_on,fund,occasion_km\n"
        f"CNRP Minnesota,400,USD,2014-06-15,promotion,{TOO_LONG_KM}\n"
    ).encode()
    auth.login("treasurer")
    _token, page = preview(client, content)
    text = page.get_data(as_text=True)
    assert "1 with errors" in text and "301" in text


def test_csv_template_carries_the_khmer_columns(client, auth, imports):  # noqa: F811
    auth.login("treasurer")
    text = client.get("/contributions/import/template.csv").data.decode("utf-8-sig")
    header = text.splitlines()[0].split(",")
    assert header.index("occasion_km") == header.index("occasion") + 1
    assert OCCASION_KM in text


# --- letters ---------------------------------------------------------------------------------


def test_khmer_half_of_the_letter_prints_the_khmer_occasion(app, client, auth, gift):
    auth.login("board")
    html = _plain(client.get(f"/letters/contributions/{gift}/preview").get_data(as_text=True))
    assert OCCASION_KM in html and PURPOSE_KM in html  # the Khmer half
    assert OCCASION_EN in html  # the English half
    pdf = client.get(f"/letters/contributions/{gift}/draft.pdf")
    assert pdf.status_code == 200
    assert "Trip to Minnesota" in pdf_text(pdf.data)
    with app.app_context():
        from ceroc_donations.letters.data import draft_data
        from ceroc_donations.rendering.letter import placeholder_values

        values = placeholder_values(draft_data(db.session.get(Contribution, gift)))
        assert values["occasion_km"] == OCCASION_KM and values["occasion"] == OCCASION_EN


def test_letter_falls_back_to_english_without_a_khmer_occasion(app, client, auth, gift):
    with app.app_context():
        db.session.get(Contribution, gift).occasion_km = None
        db.session.commit()
    auth.login("board")
    html = _plain(client.get(f"/letters/contributions/{gift}/preview").get_data(as_text=True))
    assert OCCASION_KM not in html and html.count(OCCASION_EN) == 2  # both halves


# --- Khmer pages -----------------------------------------------------------------------------


def test_khmer_pages_show_khmer_occasion_fund_and_donor(app, client, auth, gift):
    auth.login("treasurer")
    english = client.get(f"/contributions/{gift}").get_data(as_text=True)
    assert english.index(OCCASION_EN) < english.index(OCCASION_KM)
    _khmer(client)
    detail = client.get(f"/contributions/{gift}").get_data(as_text=True)
    assert detail.index(OCCASION_KM) < detail.index(OCCASION_EN)
    assert PURPOSE_KM in detail and FUND_KM in detail
    listing = client.get("/contributions/").get_data(as_text=True)
    assert FUND_KM in listing and "គ.ស.ជ. រដ្ឋមីនីសូតា" in listing
    ledger = client.get("/ledger/").get_data(as_text=True)
    assert FUND_KM in ledger and "គ.ស.ជ. រដ្ឋមីនីសូតា" in ledger
    dashboard = client.get("/").get_data(as_text=True)
    assert "គ.ស.ជ. រដ្ឋមីនីសូតា" in dashboard


def test_public_page_in_khmer_names_donors_as_they_asked(app, client, gift):
    from ceroc_donations.accounts import settings

    with app.app_context():
        settings.set_transparency_public(True, by=None)
        db.session.commit()
    english = client.get("/transparency").get_data(as_text=True)
    assert "CNRP Minnesota" in english
    _khmer(client, "/transparency")
    khmer = client.get("/transparency").get_data(as_text=True)
    assert "គ.ស.ជ. រដ្ឋមីនីសូតា" in khmer and FUND_KM in khmer
    with app.app_context():  # the gift asks for initials: the Khmer page keeps to that
        from ceroc_donations.book import service as svc
        from ceroc_donations.book.inputs import parse_contribution

        c = db.session.get(Contribution, gift)
        form = contribution_form(
            c.donors[0].id,
            c.fund_id,
            occasion=OCCASION_EN,
            occasion_km=OCCASION_KM,
            public_display="initials",
        )
        svc.update_contribution(c, parse_contribution(form), by=None)
        db.session.commit()
    khmer = client.get("/transparency").get_data(as_text=True)
    assert "គ.ស.ជ. រដ្ឋមីនីសូតា" not in khmer and "C. M." in khmer
