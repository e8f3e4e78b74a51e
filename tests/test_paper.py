"""Paper and post around the renderer: the one paper rule, countries, the letter's stored
paper (re-rendering gives the same bytes), batch and donor overrides in the pages, the API
and the CSV import."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from ceroc_donations.book import service as book
from ceroc_donations.book.countries import COUNTRY_CODES, country_choices, country_name
from ceroc_donations.book.inputs import Invalid, parse_donor
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.extensions import db
from ceroc_donations.letters import archive, jobs
from ceroc_donations.letters.data import addressee, paper_size, thank_you_data
from ceroc_donations.letters.models import Letter, LetterBatch
from tests.api_support import check_documented
from tests.letters_support import ISSUED, make_book, user_of
from tests.test_csv_import import imports  # noqa: F401 - the import fixture
from tests.test_letters_views import _token

#: PDF page sizes in points.
A4_POINTS = (595, 842)
LETTER_POINTS = (612, 792)
ADDRESS = "1200 Example Avenue South\nMinneapolis MN 55404\nUSA"


def page_points(pdf: bytes) -> set[tuple[int, int]]:
    boxes = {
        tuple(round(float(v)) for v in p.mediabox[2:]) for p in PdfReader(io.BytesIO(pdf)).pages
    }
    return boxes  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("country", "donor", "batch", "expected"),
    [
        ("US", "auto", "auto", "letter"),
        ("CA", "auto", "auto", "letter"),
        ("FR", "auto", "auto", "a4"),
        ("AU", "auto", "auto", "a4"),
        ("KH", "auto", "auto", "a4"),
        (None, "auto", "auto", "a4"),
        ("US", "a4", "auto", "a4"),  # the donor's choice beats the country
        ("FR", "letter", "auto", "letter"),
        ("FR", "letter", "a4", "a4"),  # the batch's choice beats the donor's
        ("US", "auto", "a4", "a4"),
        ("KH", "a4", "letter", "letter"),
    ],
)
def test_one_rule_decides_the_paper(country, donor, batch, expected):
    assert paper_size(country, donor, batch) == expected


def test_countries_are_iso_3166(ctx):
    assert len(COUNTRY_CODES) == 249
    assert {"US", "CA", "KH", "FR", "AU"} <= COUNTRY_CODES
    assert not {"EU", "XK", "ZZ", "UN"} & COUNTRY_CODES
    assert country_name("CA") == "Canada" and country_name("KH", "km") == "កម្ពុជា"
    assert ("CA", "Canada (CA)") in country_choices("en")
    # A stored code that names no country stays listed, so that editing shows it.
    assert country_choices("en", "XX")[1] == ("XX", "XX")
    assert parse_donor({"name_en": "A", "country": "ca"}).country == "CA"
    for bad in ("XX", "EU", "USA", "1"):
        with pytest.raises(Invalid) as exc:
            parse_donor({"name_en": "A", "country": bad})
        assert "country" in exc.value.fields
    with pytest.raises(Invalid) as exc:
        parse_donor({"name_en": "A", "paper": "b5"})
    assert "paper" in exc.value.fields
    assert parse_donor({"name_en": "A"}).paper == "auto"
    six = "\n".join(f"line {n}" for n in range(6))
    with pytest.raises(Invalid) as exc:
        parse_donor({"name_en": "A", "postal_address": six})
    assert "postal_address" in exc.value.fields
    # Blank lines and spaces around lines are dropped, as the envelope prints it.
    five = parse_donor({"name_en": "A", "postal_address": " 1 Main St \n\n\nSpringfield \n"})
    assert five.postal_address == "1 Main St\nSpringfield"


@pytest.fixture
def ids(app):
    return make_book(app)


def _set(donor_id: int, **changes) -> None:
    donor = db.session.get(Donor, donor_id)
    values = {**book.donor_snapshot(donor), **changes}
    book.update_donor(donor, parse_donor(values), by=None)
    db.session.commit()


def test_the_letter_follows_its_addressee_and_keeps_its_paper(app, ids):
    with app.app_context():
        _set(ids.alice, country="CA", postal_address=ADDRESS)
        c = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        assert letter.paper == "letter"
        archived = archive.read_pdf(letter)
        assert page_points(archived) == {LETTER_POINTS}
        # The donor moves to France: the archived letter still re-renders byte for byte,
        # because the paper it was laid out on is stored with it.
        _set(ids.alice, country="FR")
        assert archive.rerender(letter) == archived
        again = archive.generate_thank_you(c, by=None, force=True, issued_on=ISSUED)[0][0]
        assert again.paper == "a4" and page_points(archive.read_pdf(again)) == {A4_POINTS}
        # The donor's own choice beats the country.
        _set(ids.alice, paper="letter")
        third = archive.generate_thank_you(c, by=None, force=True, issued_on=ISSUED)[0][0]
        assert third.paper == "letter"
        statement = archive.generate_statement(
            db.session.get(Donor, ids.alice), 2014, by=None, issued_on=ISSUED, paper="a4"
        )
        assert statement.paper == "a4" and archive.rerender(statement) == archive.read_pdf(
            statement
        )


def test_a_joint_letter_is_posted_to_the_first_co_donor_with_an_address(app, ids):
    with app.app_context():
        _set(ids.chan, country="US", postal_address=ADDRESS)
        c = db.session.get(Contribution, ids.joint)
        assert addressee(c.donors).id == ids.chan  # Sok Dara, first, has no address
        data = thank_you_data(c, c.donors, number=None, issued_on=ISSUED)
        assert data.paper == "letter"
        assert data.address == (
            "Chan Srey",
            "1200 Example Avenue South",
            "Minneapolis MN 55404",
            "USA",
        )
        letter = archive.generate_thank_you(c, by=None, issued_on=ISSUED)[0][0]
        db.session.commit()
        assert archive.rerender(letter) == archive.read_pdf(letter)
        # No address anywhere: no window block, and the first co-donor's country decides.
        _set(ids.chan, postal_address="")
        data = thank_you_data(c, c.donors, number=None, issued_on=ISSUED)
        assert data.address == () and data.paper == "a4"


def test_batch_paper_overrides_every_new_letter(app, ids):
    with app.app_context():
        _set(ids.alice, country="US")
        batch = jobs.create_batch([ids.single], paper="a4", by=user_of("board"))
        db.session.commit()
        jobs.run_batch(batch.id, issued_on=ISSUED)
        letter = db.session.execute(select(Letter)).scalar_one()
        assert letter.paper == "a4" and letter.batch_id == batch.id
        assert page_points(archive.read_pdf(letter)) == {A4_POINTS}
        assert archive.rerender(letter) == archive.read_pdf(letter)
        with pytest.raises(Invalid) as exc:
            jobs.create_batch([ids.joint], paper="A5", by=None)
        assert "paper" in exc.value.fields


def test_queue_page_has_one_paper_select_and_the_batch_keeps_it(client, auth, ids, app):
    auth.login("board")
    page = client.get("/letters/").get_data(as_text=True)
    assert 'name="paper"' in page and 'value="letter"' in page and 'value="a4"' in page
    r = client.post("/letters/batches", data={"ids": [str(ids.single)], "paper": "letter"})
    assert r.status_code == 302
    with app.app_context():
        batch = db.session.execute(select(LetterBatch)).scalar_one()
        assert batch.paper == "letter"
        assert {x.paper for x in db.session.execute(select(Letter)).scalars()} == {"letter"}
    r = client.post("/letters/batches", data={"ids": [str(ids.joint)], "paper": "b5"})
    assert r.status_code == 422
    text = r.get_data(as_text=True)
    assert 'id="e-paper"' in text and "A4 or US Letter" in text
    with app.app_context():  # the refused batch was not stored
        assert len(db.session.execute(select(LetterBatch)).scalars().all()) == 1


def test_api_batch_paper_and_letter_paper(client, app, ids):
    board = _token(app, "board")
    doc = client.get("/api/v1/openapi.json").json
    url = "/api/v1/letter-batches"
    r = client.post(url, json={"contribution_ids": [ids.single], "paper": "B5"}, headers=board)
    assert r.status_code == 422 and "paper" in r.json["fields"]
    check_documented(app, doc, "POST", url, r)
    r = client.post(url, json={"contribution_ids": [ids.single], "paper": 4}, headers=board)
    assert r.status_code == 422 and "paper" in r.json["fields"]
    r = client.post(url, json={"contribution_ids": [ids.single], "paper": "letter"}, headers=board)
    assert r.status_code == 202 and r.json["paper"] == "letter"
    number = client.get(r.json["url"], headers=board).json["letters"][0]
    letter_url = f"/api/v1/letters/{number}"
    answer = client.get(letter_url, headers=board)
    assert answer.json["paper"] == "letter"
    check_documented(app, doc, "GET", letter_url, answer)


def test_api_donor_country_and_paper(client, app, ids):
    treasurer = _token(app, "treasurer")
    doc = client.get("/api/v1/openapi.json").json
    url = f"/api/v1/donors/{ids.alice}"
    r = client.patch(url, json={"paper": "letter", "country": "fr"}, headers=treasurer)
    assert r.status_code == 200 and (r.json["paper"], r.json["country"]) == ("letter", "FR")
    check_documented(app, doc, "PATCH", url, r)
    for body, name in (({"paper": "A3"}, "paper"), ({"country": "ZZ"}, "country")):
        r = client.patch(url, json=body, headers=treasurer)
        assert r.status_code == 422 and name in r.json["fields"], r.json
    with app.app_context():
        donor = db.session.get(Donor, ids.alice)
        assert (donor.paper, donor.country) == ("letter", "FR")  # nothing stored on errors


def test_donor_form_country_select_and_paper(client, auth, app):
    auth.login("treasurer")
    page = client.get("/donors/new").get_data(as_text=True)
    assert '<select id="f-country" name="country"' in page and "Canada (CA)" in page
    assert 'id="f-paper"' in page
    r = client.post("/donors/new", data={"name_en": "Sok Dara", "country": "XX", "paper": "a4"})
    assert r.status_code == 422 and 'id="e-country"' in r.get_data(as_text=True)
    r = client.post(
        "/donors/new",
        data={"name_en": "Sok Dara", "country": "AU", "paper": "letter", "postal_address": ADDRESS},
    )
    assert r.status_code == 302
    with app.app_context():
        donor = db.session.execute(select(Donor).where(Donor.name_en == "Sok Dara")).scalar_one()
        assert (donor.country, donor.paper) == ("AU", "letter")
        assert donor.postal_address == ADDRESS
        donor_id = donor.id
    detail = client.get(f"/donors/{donor_id}").get_data(as_text=True)
    assert "Australia" in detail and "letters on US Letter" in detail  # the donor's choice
    edit = client.get(f"/donors/{donor_id}/edit").get_data(as_text=True)
    assert '<option value="AU" selected>' in edit and '<option value="letter" selected>' in edit
    # In Khmer, the countries are named in Khmer.
    with app.app_context():
        from ceroc_donations.accounts.models import User

        db.session.execute(select(User).where(User.role == "treasurer")).scalar_one().locale = "km"
        db.session.commit()
    km = client.get("/donors/new").get_data(as_text=True)
    assert "កាណាដា (CA)" in km and "Canada (CA)" not in km


@pytest.mark.usefixtures("imports")
def test_csv_import_sets_the_country_of_the_donors_it_creates(client, auth, app):
    from tests.test_csv_import import confirm, preview

    auth.login("treasurer")
    header = "donor,amount,currency,received_on,fund,donor_country\n"
    bad = (header + "Sok Dara,25,USD,2014-07-01,general,ZZ\n").encode()
    _token_, page = preview(client, bad, create_missing=True)
    assert "ISO 3166" in page.get_data(as_text=True)
    good = (
        header
        + "Sok Dara & Chan Srey,25,USD,2014-07-01,general,au\n"
        + "CNRP Minnesota,30,USD,2014-07-02,general,FR\n"
    ).encode()
    token, page = preview(client, good, create_missing=True)
    assert page.status_code == 200 and "ISO 3166" not in page.get_data(as_text=True)
    assert confirm(client, token, good, create_missing=True).status_code == 302
    with app.app_context():
        countries = dict(db.session.execute(select(Donor.name_en, Donor.country)).all())
    # New donors get the row's country; a donor on file keeps its own record.
    assert countries == {"Sok Dara": "AU", "Chan Srey": "AU", "CNRP Minnesota": None, "IKA": None}


def test_cli_batch_takes_the_paper(runner, ids, app, tmp_path):
    out = tmp_path / "batch.pdf"
    args = ["letters", "batch", "--out", str(out), "--reference", ids.single_ref]
    r = runner.invoke(args=[*args, "--paper", "letter"])
    assert r.exit_code == 0, r.output
    assert page_points(out.read_bytes()) == {LETTER_POINTS}
    r = runner.invoke(args=[*args, "--paper", "b5"])
    assert r.exit_code == 2 and "b5" in r.output
