"""Letters anyone can verify: the code, the QR code in the PDF, and the public page /v/."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import replace

import pytest
from PIL import Image
from sqlalchemy import select

from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import parse_contribution, parse_donor
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.extensions import db
from ceroc_donations.letters import archive, verification
from ceroc_donations.letters.data import draft_data
from ceroc_donations.letters.models import Letter
from ceroc_donations.rendering import render_html
from tests.conftest import contribution_form
from tests.letters_support import ISSUED, make_book, pdf_text, user_of

PUBLIC_URL = "https://donations.example.org"


@pytest.fixture
def ids(app):
    app.config["PUBLIC_URL"] = PUBLIC_URL
    return make_book(app)


def _letter(app, cid: int, **kwargs) -> tuple[int, str, str]:
    """A thank-you letter for gift *cid*: its number, code (as printed) and SHA-256."""
    with app.app_context():
        c = db.session.get(Contribution, cid)
        letter = archive.generate_thank_you(c, by=user_of("board"), issued_on=ISSUED, **kwargs)
        letter = letter[0][0]
        db.session.commit()
        return letter.number, verification.grouped(letter.verify_code), letter.sha256


# --- the code ------------------------------------------------------------------------------


def test_code_is_ten_readable_characters_bound_to_number_content_and_key(app):
    sha = hashlib.sha256(b"letter content").hexdigest()
    with app.app_context():
        code = verification.make_code(12, sha)
        assert len(code) == 10 and set(code) <= set(verification.ALPHABET)
        assert not set(code) & set("ILOU")
        assert verification.make_code(12, sha) == code  # deterministic: letters re-render
        assert verification.make_code(13, sha) != code
        assert verification.make_code(12, hashlib.sha256(b"other").hexdigest()) != code
        app.config["SECRET_KEY"] = "another instance's secret key, long enough"
        assert verification.make_code(12, sha) != code


@pytest.mark.parametrize(
    "typed, stored",
    [
        ("ABCDE-FGHJK", "ABCDEFGHJK"),
        ("abcde-fghjk", "ABCDEFGHJK"),
        ("abcdefghjk", "ABCDEFGHJK"),
        (" ABCDE FGHJK ", "ABCDEFGHJK"),
        ("0O1IL-23456", "0011123456"),  # O read as 0, I and L as 1
        ("ABCDE-FGHJ", None),  # too short
        ("ABCDE-FGHJKM", None),  # too long
        ("ABCDE-FGHJU", None),  # U is not in the alphabet
        ("ABCDE/FGHJK", None),
        ("", None),
        (None, None),
    ],
)
def test_codes_are_read_in_either_case_with_or_without_the_dash(typed, stored):
    assert verification.normalise(typed) == stored


def test_link_is_under_public_url_else_the_request_host(app, caplog, monkeypatch):
    monkeypatch.setattr(verification, "_warned", [])
    with app.app_context():
        app.config["PUBLIC_URL"] = "https://donations.example.org/ceroc"
        assert verification.verification_url("PPW8CW99EM") == (
            "https://donations.example.org/ceroc/v/PPW8C-W99EM"
        )
        app.config["PUBLIC_URL"] = None
        with app.test_request_context("/letters/", base_url="https://ceroc.test"):
            assert verification.verification_url("PPW8CW99EM") == "https://ceroc.test/v/PPW8C-W99EM"
        # A background job without PUBLIC_URL has no host: localhost, and the log says so.
        assert verification.verification_url("PPW8CW99EM") == "http://localhost/v/PPW8C-W99EM"
        # Said once, not once per letter of a batch.
        verification.verification_url("ABCDEFGHJK")
    assert caplog.text.count("CEROC_PUBLIC_URL is not set") == 1


def test_draft_has_no_code(app, ids):
    with app.app_context():
        data = draft_data(db.session.get(Contribution, ids.single))
        assert data.verification is None
        assert 'class="qr"' not in render_html(data) and "/v/" not in render_html(data)
        with pytest.raises(ValueError, match="draft"):
            replace(data, verification=verification.Verification("A", "B"))


# --- the PDF ---------------------------------------------------------------------------------


@pytest.mark.tools("pdftoppm")
def test_letter_pdf_carries_a_qr_code_of_its_public_page(app, ids, tmp_path):
    import zxingcpp

    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        letter = archive.generate_thank_you(c, by=user_of("board"), issued_on=ISSUED)[0][0]
        db.session.commit()
        pdf = archive.read_pdf(letter)
        code = verification.grouped(letter.verify_code)
        url = f"{PUBLIC_URL}/v/{code}"
        assert letter.verify_url == url
        assert (letter.amount_minor, letter.currency) == (40000, "USD")
        # The code is printed beside the QR code, and the letter still re-renders exactly.
        assert code in pdf_text(pdf)
        assert archive.rerender(letter) == pdf
    (tmp_path / "letter.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", "-singlefile",
         str(tmp_path / "letter.pdf"), str(tmp_path / "page")],
        check=True,
    )  # fmt: skip
    found = zxingcpp.read_barcodes(Image.open(tmp_path / "page.png"))
    assert [(b.format, b.text) for b in found] == [(zxingcpp.BarcodeFormat.QRCode, url)]


def test_every_letter_and_statement_gets_its_own_code(app, ids):
    with app.app_context():
        c = db.session.get(Contribution, ids.joint)
        each = archive.generate_thank_you(c, by=None, mode="each", issued_on=ISSUED)[0]
        statement = archive.generate_statement(
            db.session.get(Donor, ids.alice), 2014, by=None, issued_on=ISSUED
        )
        db.session.commit()
        letters = [*each, statement]
        codes = {letter.verify_code for letter in letters}
        assert len(codes) == 3 and None not in codes
        # A co-donor thanked alone: the letter was issued for their share.
        assert sorted(x.amount_minor for x in each) == [10000, 20000]
        assert statement.amount_minor == 42550
        text = pdf_text(archive.read_pdf(statement))
        assert verification.grouped(statement.verify_code) in text
        assert archive.rerender(statement) == archive.read_pdf(statement)


def test_batch_letters_carry_their_codes_and_paper_and_re_render_byte_for_byte(app, ids):
    """A batch renders ahead in worker processes: each letter still gets its own code
    (printed, stored, found by /v/), the batch's paper, and its archived bytes."""
    from ceroc_donations.letters import jobs

    with app.app_context():
        batch = jobs.create_batch([ids.single, ids.joint], mode="each", paper="letter", by=None)
        db.session.commit()
        jobs.run_batch(batch.id, issued_on=ISSUED)
        letters = list(db.session.execute(select(Letter).order_by(Letter.number)).scalars())
        assert len(letters) == 3
        assert len({x.verify_code for x in letters}) == 3 and None not in {
            x.verify_code for x in letters
        }
        for letter in letters:
            assert letter.paper == "letter"
            assert letter.verify_url == f"{PUBLIC_URL}/v/{verification.grouped(letter.verify_code)}"
            pdf = archive.read_pdf(letter)
            assert verification.grouped(letter.verify_code) in pdf_text(pdf)
            assert archive.rerender(letter) == pdf
            assert verification.find(verification.grouped(letter.verify_code).lower()) == letter


# --- the public page ---------------------------------------------------------------------------


def test_public_page_says_what_was_issued(app, client, ids):
    number, code, sha = _letter(app, ids.single)
    for typed in (code, code.lower(), code.replace("-", "")):
        response = client.get(f"/v/{typed}")
        assert response.status_code == 200, typed
        page = response.get_data(as_text=True)
        assert (
            f"Letter number {number} was issued on 27 November 2026 by Commission for Election "
            "Rights of Overseas Cambodians for a gift of $400.00 received on"
        ) in page
        assert sha in page and code in page and "CNRP Minnesota" in page
        assert 'lang="en"' in page and "voided" not in page
        assert response.headers["Cache-Control"] == "no-store"


def test_the_form_sends_a_typed_code_to_its_page(app, client, ids):
    _number, code, _sha = _letter(app, ids.single)
    page = client.get("/v/")
    assert page.status_code == 200 and 'name="code"' in page.get_data(as_text=True)
    response = client.get("/v/", query_string={"code": code.lower().replace("-", " ")})
    assert response.status_code == 302 and response.location.endswith(f"/v/{code}")
    response = client.get("/v/", query_string={"code": "not a code"})
    assert response.status_code == 404
    assert "Not a letter of ours" in response.get_data(as_text=True)


def test_altered_or_unknown_code_is_not_a_letter_of_ours(app, client, ids):
    _number, code, sha = _letter(app, ids.single)
    last = code[-1]
    altered = code[:-1] + ("0" if last != "0" else "1")
    for typed in (altered, "ABCDE-FGHJK", "not-a-code", "X" * 300):
        response = client.get(f"/v/{typed}")
        assert response.status_code == 404, typed
        page = response.get_data(as_text=True)
        assert "Not a letter of ours" in page and 'name="code"' in page
        assert sha not in page and "CNRP" not in page
    assert 'value="' + "X" * 300 not in page  # a long text is not put back in the form


def test_voided_gift_shows_that_it_was_voided(app, client, ids):
    _number, code, _sha = _letter(app, ids.single)
    with app.app_context():
        c = db.session.get(Contribution, ids.single)
        book.void_contribution(c, "entered twice", by=user_of("treasurer"))
        db.session.commit()
    page = client.get(f"/v/{code}").get_data(as_text=True)
    assert "This gift was voided after the letter was issued" in page
    assert "entered twice" not in page  # the reason stays inside


def test_statement_shows_gifts_voided_since(app, client, ids):
    with app.app_context():
        alice = db.session.get(Donor, ids.alice)
        statement = archive.generate_statement(alice, 2014, by=None, issued_on=ISSUED)
        db.session.commit()
        code = verification.grouped(statement.verify_code)
    page = client.get(f"/v/{code}").get_data(as_text=True)
    assert "for the gifts of 2014, totalling $425.50" in page and "voided" not in page
    with app.app_context():
        book.void_contribution(db.session.get(Contribution, ids.later), "bounced", by=None)
        db.session.commit()
    page = client.get(f"/v/{code}").get_data(as_text=True)
    assert "1 gift on this statement was voided after it was issued" in page


def test_donor_shown_only_as_they_asked_to_be_shown(app, client, auth, ids):
    with app.app_context():
        treasurer = user_of("treasurer")
        hidden = book.create_donor(
            parse_donor({"name_en": "Quietly Hiddenname", "public_display": "anonymous"}),
            by=treasurer,
        )
        named = db.session.get(Donor, ids.alice)
        gift = book.record_contribution(
            parse_contribution(contribution_form(hidden.id, ids.fund)), by=treasurer
        )
        initials = book.record_contribution(
            parse_contribution(contribution_form(named.id, ids.fund, public_display="initials")),
            by=treasurer,
        )
        db.session.commit()
        gift_id, initials_id = gift.id, initials.id
    _n, hidden_code, _s = _letter(app, gift_id)
    _n, initials_code, _s = _letter(app, initials_id)
    for role in (None, "treasurer"):  # the public page is public for everyone
        if role:
            auth.login(role)
        page = client.get(f"/v/{hidden_code}").get_data(as_text=True)
        assert "Anonymous donor" in page and "Hiddenname" not in page
        page = client.get(f"/v/{initials_code}").get_data(as_text=True)
        assert "C. M." in page and "CNRP Minnesota" not in page


def test_lookups_are_rate_limited_per_address(app, client, ids):
    _number, code, _sha = _letter(app, ids.single)
    app.config["VERIFY_MAX_LOOKUPS"] = 3
    assert client.get(f"/v/{code}").status_code == 200
    assert client.get("/v/ABCDE-FGHJK").status_code == 404  # misses count too
    assert client.get(f"/v/{code}").status_code == 200
    response = client.get(f"/v/{code}")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) == app.config["VERIFY_WINDOW_SECONDS"]
    page = response.get_data(as_text=True)
    assert "Too many checks" in page and "Wait 10 minutes" in page and "CNRP" not in page
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert client.get(f"/v/{code}", environ_base=other).status_code == 200
    # Past the window the address may check again.
    with app.app_context():
        from ceroc_donations.accounts.models import LoginFailure

        for row in db.session.execute(select(LoginFailure)).scalars():
            row.at = row.at.replace(year=row.at.year - 1)
        db.session.commit()
    assert client.get(f"/v/{code}").status_code == 200


def test_khmer_page(app, client, ids):
    number, code, _sha = _letter(app, ids.single)
    client.post("/language", data={"lang": "km"})
    page = client.get(f"/v/{code}").get_data(as_text=True)
    assert '<html lang="km">' in page
    assert "លិខិតលេខ" in page and str(number) in page
    assert "គណៈកម្មការដើម្បីសិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរនៅក្រៅប្រទេស" in page  # the org in Khmer
    assert "គណបក្សសង្គ្រោះជាតិ មីនីសូតា" in page  # the donor's Khmer name
    unknown = client.get("/v/ABCDE-FGHJK")
    assert unknown.status_code == 404 and '<html lang="km">' in unknown.get_data(as_text=True)


@pytest.mark.tools("pdftotext", "pdfinfo")
def test_footer_reads_back_in_both_languages_and_stays_tagged():
    from ceroc_donations.rendering import LetterTexts, Verification, letter_metadata, render_html
    from ceroc_donations.rendering.khmer import ZWSP
    from ceroc_donations.rendering.pdf import LetterRenderer
    from tests.rendering_support import sample_letter, sample_statement

    shown = Verification("PPW8C-W99EM", f"{PUBLIC_URL}/v/PPW8C-W99EM")
    renderer = LetterRenderer()
    for kind, data in (
        ("thank_you", sample_letter(verification=shown)),
        ("statement", sample_statement(verification=shown)),
        ("thank_you", sample_letter(language="km", verification=shown)),
    ):
        html = render_html(data, kind=kind)
        assert html.count('class="qr"') == 1
        pdf = renderer.to_pdf(html, **letter_metadata(data, LetterTexts.default(), kind))
        text = subprocess.run(
            ["pdftotext", "-raw", "-", "-"], input=pdf, capture_output=True, check=True
        ).stdout.decode()
        assert "PPW8C-W99EM" in text and "donations.example.org/v/PPW8C-W99EM" in text
        assert "ផ្ទៀងផ្ទាត់លិខិតនេះ" in text.replace(ZWSP, "")
        assert ("Verify this letter" in text) is (data.language != "km")
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True)
        assert "Tagged:          yes" in info.stdout.decode()
        assert renderer.fetcher.refused == 0


def test_board_sees_the_code_on_the_gift_and_in_the_api(app, client, auth, ids):
    from ceroc_donations.security import new_api_token
    from tests.api_support import check_documented

    number, code, _sha = _letter(app, ids.single)
    with app.app_context():
        token = new_api_token(user_of("board"), "test")
        db.session.commit()
    auth.login("board")
    page = client.get(f"/contributions/{ids.single}").get_data(as_text=True)
    assert f'href="/v/{code}"' in page
    doc = client.get("/api/v1/openapi.json").json
    url = f"/api/v1/letters/{number}"
    response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    assert response.json["verify_code"] == code
    assert response.json["verify_url"] == f"{PUBLIC_URL}/v/{code}"
    check_documented(app, doc, "GET", url, response)
