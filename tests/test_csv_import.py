"""CSV import of contributions: preview, all-or-nothing confirm, tokens, roles, limits."""

from __future__ import annotations

import hashlib
import io
import os
import re

import pytest
from sqlalchemy import func, select

from ceroc_donations.accounts.models import AuditEvent, User
from ceroc_donations.book.models import Contribution, Donor, LedgerEntry
from ceroc_donations.config import Defaults
from ceroc_donations.extensions import db

HEADER = "donor,amount,currency,exchange_rate,received_on,fund,occasion,note\n"
GOOD = (
    HEADER
    + "CNRP Minnesota & IKA,400.00,USD,1,2014-06-15,promotion,Trip to Minnesota,\n"
    + "cnrp minnesota,25,USD,,2014-07-01,General,Picnic,\n"
    + "IKA,100,CAD,0.9,2014-08-02,general,Visit,paid in Canada\n"
).encode()


@pytest.fixture
def imports(app, tmp_path):
    """Two funds and two donors; the uploads go to a temporary folder."""
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor

    app.config["IMPORTS_DIR"] = str(tmp_path / "imports")
    os.makedirs(app.config["IMPORTS_DIR"])
    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        book.create_fund("general", "General", by=user)
        book.create_fund("promotion", "Promotion & petition collection", by=user)
        book.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
        book.create_donor(parse_donor({"name_en": "IKA"}), by=user)
        db.session.commit()
    return app


def scalar(app, stmt):
    with app.app_context():
        return db.session.execute(stmt).scalar_one()


def n_contributions(app) -> int:
    return scalar(app, select(func.count()).select_from(Contribution))


def upload(client, content: bytes, name: str = "gifts.csv"):
    return client.post(
        "/contributions/import",
        data={"file": (io.BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def preview(client, content: bytes, create_missing: bool = False):
    """Upload *content*; return (token, preview page text)."""
    r = upload(client, content)
    assert r.status_code == 302, r.get_data(as_text=True)
    token = re.search(r"token=([0-9a-f]+)", r.location).group(1)
    url = r.location + ("&create_missing=1" if create_missing else "")
    page = client.get(url)
    return token, page


def confirm(client, token, content: bytes, create_missing=False, ack=(), sha=None):
    return client.post(
        "/contributions/import/confirm",
        data={
            "token": token,
            "sha256": sha or hashlib.sha256(content).hexdigest(),
            "create_missing": "1" if create_missing else "0",
            "ack": [str(a) for a in ack],
        },
    )


def test_good_file_imports_every_row_with_sequential_references(client, auth, imports):
    auth.login("treasurer")
    token, page = preview(client, GOOD)
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "3 rows" in text and "0 with errors" in text and 'id="confirm-form"' in text
    assert "$425.00" in text and "CA$100.00" in text
    r = confirm(client, token, GOOD)
    assert r.status_code == 302 and r.location.endswith("/contributions/")
    assert "3 contributions imported (C-2014-0001 … C-2014-0003)" in client.get(
        r.location
    ).get_data(as_text=True)
    with imports.app_context():
        rows = db.session.execute(select(Contribution).order_by(Contribution.id)).scalars().all()
        assert [c.reference for c in rows] == ["C-2014-0001", "C-2014-0002", "C-2014-0003"]
        assert [d.name_en for d in rows[0].donors] == ["CNRP Minnesota", "IKA"]
        assert rows[2].base_amount_minor == 9000 and rows[2].note == "paid in Canada"
        assert db.session.execute(select(func.count()).select_from(LedgerEntry)).scalar() == 3
        actions = db.session.execute(select(AuditEvent.action)).scalars().all()
        assert actions.count("contribution.recorded") == 3
        done = db.session.execute(
            select(AuditEvent).where(AuditEvent.action == "import.completed")
        ).scalar_one()
        assert hashlib.sha256(GOOD).hexdigest() in done.after_json
        assert '"rows": 3' in done.after_json
        from ceroc_donations import audit

        assert audit.verify()[1] == []


def test_one_bad_row_imports_nothing_and_shows_the_error(client, auth, imports):
    auth.login("treasurer")
    bad = GOOD + b"IKA,-5,USD,1,2014-09-01,general,,\n"
    token, page = preview(client, bad)
    text = page.get_data(as_text=True)
    assert "1 with errors" in text and 'href="#row-5"' in text
    row5 = text.split('id="row-5"')[1].split("</tr>")[0]
    assert "Amount must be greater than 0" in row5 and "cell-error" in row5
    assert 'id="confirm-form"' not in text
    r = confirm(client, token, bad)
    assert r.status_code == 422 and "Nothing was imported" in r.get_data(as_text=True)
    assert n_contributions(imports) == 0


def test_errors_are_reported_per_column(client, auth, imports):
    auth.login("treasurer")
    content = (HEADER + "IKA,10,ZZZ,1,2014-13-01,nofund,,\n").encode()
    _token, page = preview(client, content)
    row = page.get_data(as_text=True).split('id="row-2"')[1].split("</tr>")[0]
    assert "Unknown currency" in row and "YYYY-MM-DD" in row
    assert "No fund with the code or name “nofund”" in row


def test_bom_semicolon_and_latin1(client, auth, imports):
    auth.login("treasurer")
    semicolon = (
        "\ufeffDonor;Amount;Currency;Received_On;Fund;Note\n"
        "IKA;1,250;USD;2014-06-15;general;Crème brûlée sale\n"
    )
    token, page = preview(client, semicolon.encode("utf-8"))
    assert "not UTF-8" not in page.get_data(as_text=True)
    # "1,250" could be 1250 or 1.250: refused with both readings, never guessed
    assert "1 with errors" in page.get_data(as_text=True)
    assert "Write 1250 or 1.250." in page.get_data(as_text=True)
    # a European spreadsheet's "1 250,50" is 1250.50, not 125050
    semicolon = semicolon.replace("1,250", "1 250,50")
    token, page = preview(client, semicolon.encode("utf-8"))
    assert confirm(client, token, semicolon.encode("utf-8")).status_code == 302
    latin = semicolon.replace("\ufeff", "").replace("2014-06-15", "2014-06-16").encode("cp1252")
    token, page = preview(client, latin)
    text = page.get_data(as_text=True)
    assert "read as windows-1252" in text and "Crème brûlée sale" in text
    assert confirm(client, token, latin).status_code == 302
    with imports.app_context():
        notes = db.session.execute(select(Contribution.note)).scalars().all()
        assert notes == ["Crème brûlée sale", "Crème brûlée sale"]
        amounts = db.session.execute(select(Contribution.amount_minor)).scalars().all()
        assert amounts == [125050, 125050]


def test_khmer_html_and_formulas_are_kept_as_text(client, auth, imports):
    auth.login("treasurer")
    content = (
        HEADER + "IKA,10,USD,1,2014-06-15,general,<script>alert(1)</script> <b>x</b>,"
        '"=HYPERLINK(""http://evil.example"",""click"")"\n'
        "IKA,11,USD,1,2014-06-15,general,បុណ្យភ្ជុំបិណ្ឌ,@SUM(A1)\n"
    ).encode()
    token, page = preview(client, content)
    text = page.get_data(as_text=True)
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "បុណ្យភ្ជុំបិណ្ឌ" in text
    assert confirm(client, token, content).status_code == 302
    with imports.app_context():
        rows = db.session.execute(select(Contribution).order_by(Contribution.id)).scalars().all()
        assert rows[0].occasion == "<script>alert(1)</script> <b>x</b>"
        assert rows[0].note == '=HYPERLINK("http://evil.example","click")'
        assert rows[1].occasion == "បុណ្យភ្ជុំបិណ្ឌ" and rows[1].note == "@SUM(A1)"
    detail = client.get("/contributions/1").get_data(as_text=True)
    assert "<script>alert(1)" not in detail


def test_unknown_donor_blocks_unless_created(client, auth, imports):
    auth.login("treasurer")
    content = (
        "donor,donor_km,amount,currency,received_on,fund\n"
        "Khmer Youth Movement,ចលនាយុវជនខ្មែរ,700,USD,2014-08-10,general\n"
        "IKA & New Friend,& មិត្តថ្មី,50,USD,2014-08-11,general\n"
    ).encode()
    token, page = preview(client, content)
    text = page.get_data(as_text=True)
    assert "No donor named “Khmer Youth Movement”" in text and "“New Friend”" in text
    assert 'id="confirm-form"' not in text and "Create missing donors on import" in text
    assert confirm(client, token, content).status_code == 422
    assert n_contributions(imports) == 0
    token2, page = preview(client, content, create_missing=True)
    text = page.get_data(as_text=True)
    assert "0 with errors" in text and "new: Khmer Youth Movement" in text
    r = confirm(client, token2, content, create_missing=True)
    assert r.status_code == 302
    with imports.app_context():
        made = (
            db.session.execute(
                select(Donor)
                .where(Donor.name_en.in_(["Khmer Youth Movement", "New Friend"]))
                .order_by(Donor.id)
            )
            .scalars()
            .all()
        )
        assert [(d.name_en, d.name_km) for d in made] == [
            ("Khmer Youth Movement", "ចលនាយុវជនខ្មែរ"),
            ("New Friend", "មិត្តថ្មី"),
        ]
        joint = db.session.execute(
            select(Contribution).where(Contribution.amount_minor == 5000)
        ).scalar_one()
        assert joint.donor_names == "IKA & New Friend"
        assert (
            db.session.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "donor.created")
            ).scalar()
            == 4
        )


def test_duplicates_need_acknowledgement(client, auth, imports):
    auth.login("treasurer")
    first = (HEADER + "IKA,100,USD,1,2014-06-15,general,,\n").encode()
    token, _page = preview(client, first)
    assert confirm(client, token, first).status_code == 302
    again = (
        HEADER + "ika,100.00,USD,1,2014-06-15,general,,\n"
        "CNRP Minnesota,5,USD,1,2014-06-16,general,,\n"
        "CNRP Minnesota,5,USD,1,2014-06-16,general,,\n"
    ).encode()
    token, page = preview(client, again)
    text = page.get_data(as_text=True)
    assert "3 possible duplicates" in text and "as C-2014-0001, already recorded" in text
    assert "as row 4 of this file" in text and "as row 3 of this file" in text
    r = confirm(client, token, again, ack=[2, 3])
    assert r.status_code == 422 and "rows 4" in r.get_data(as_text=True)
    assert n_contributions(imports) == 1
    assert confirm(client, token, again, ack=[2, 3, 4]).status_code == 302
    assert n_contributions(imports) == 4


def test_confirm_twice_imports_once(client, auth, imports):
    auth.login("treasurer")
    token, _page = preview(client, GOOD)
    assert confirm(client, token, GOOD).status_code == 302
    r = confirm(client, token, GOOD)
    assert r.status_code == 302
    assert "already imported" in client.get(r.location).get_data(as_text=True)
    assert n_contributions(imports) == 3
    assert (
        scalar(
            imports,
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "import.completed"),
        )
        == 1
    )


def test_tampered_or_missing_token_imports_nothing(client, auth, imports):
    auth.login("treasurer")
    token, _page = preview(client, GOOD)
    for bad in ("", "../../etc/passwd", "0" * 32, token[:-1] + "x"):
        r = confirm(client, bad, GOOD)
        assert r.status_code == 400 and "upload the file again" in r.get_data(as_text=True)
    r = confirm(client, token, GOOD, sha="0" * 64)
    assert r.status_code == 400 and "does not match" in r.get_data(as_text=True)
    path = os.path.join(imports.config["IMPORTS_DIR"], token + ".csv")
    with open(path, "ab") as f:
        f.write(b"IKA,999999,USD,1,2014-06-15,general,,\n")
    r = confirm(client, token, GOOD)
    assert r.status_code == 400 and "does not match" in r.get_data(as_text=True)
    assert client.get("/contributions/import/preview?token=nope").status_code == 400
    assert n_contributions(imports) == 0


def test_another_users_token_is_not_found(client, auth, imports):
    auth.login("treasurer")
    token, _page = preview(client, GOOD)
    auth.logout()
    auth.login("admin")
    assert confirm(client, token, GOOD).status_code == 400
    assert n_contributions(imports) == 0


@pytest.mark.parametrize("role", ["member", "board"])
def test_member_and_board_get_403(client, auth, imports, role):
    auth.login(role)
    for url in (
        "/contributions/import",
        "/contributions/import/template.csv",
        "/contributions/import/preview?token=" + "0" * 32,
    ):
        assert client.get(url).status_code == 403, url
    assert upload(client, GOOD).status_code == 403
    assert confirm(client, "0" * 32, GOOD).status_code == 403
    assert "Import CSV" not in client.get("/contributions/").get_data(as_text=True)


def test_oversize_and_too_many_rows_are_rejected(client, auth, imports):
    # Small limits keep the test fast (the test client spools big bodies to a temp file);
    # the rule is the same at 5 MB and 5,000 rows.
    assert (Defaults.IMPORT_MAX_BYTES, Defaults.IMPORT_MAX_ROWS) == (5 * 1024 * 1024, 5000)
    imports.config.update(IMPORT_MAX_BYTES=20 * 1024, IMPORT_MAX_ROWS=50)
    auth.login("treasurer")
    big = GOOD + b"#" * (20 * 1024)
    r = upload(client, big)
    assert r.status_code == 422 and "larger than 20 KB" in r.get_data(as_text=True)
    many = (HEADER + "IKA,1,USD,1,2014-06-15,general,,\n" * 51).encode()
    r = upload(client, many)
    assert r.status_code == 422 and "at most 50 at a time" in r.get_data(as_text=True)
    for content, message in (
        (b"", "empty"),
        (b"name,amount\nx,1\n", "Unknown column"),
        (b"donor,amount\nx,1\n", "missing: currency"),
        (HEADER.encode(), "no rows below the header"),
    ):
        r = upload(client, content)
        assert r.status_code == 422 and message in r.get_data(as_text=True), message
    assert os.listdir(imports.config["IMPORTS_DIR"]) == []  # rejected uploads are not kept
    assert n_contributions(imports) == 0


def test_upload_page_and_template_round_trip(client, auth, imports):
    auth.login("admin")
    page = client.get("/contributions/import").get_data(as_text=True)
    assert "exchange_rate" in page and "template.csv" in page
    assert "Import CSV" in client.get("/contributions/").get_data(as_text=True)
    template = client.get("/contributions/import/template.csv")
    assert template.mimetype == "text/csv" and template.data.startswith(b"\xef\xbb\xbf")
    text = template.data.decode("utf-8-sig")
    assert text.startswith("donor,donor_km,amount") and "CNRP Minnesota & IKA" in text
    token, page = preview(client, template.data, create_missing=True)
    assert "0 with errors" in page.get_data(as_text=True)
    assert confirm(client, token, template.data, create_missing=True).status_code == 302
    with imports.app_context():
        youth = db.session.execute(
            select(Donor).where(Donor.name_en == "Khmer Youth Movement of New Market, Ontario")
        ).scalar_one()
        assert youth.name_km == "ចលនាយុវជនខ្មែរ ញូម៉ាឃីត រដ្ឋអុនតារីយ៉ូ"
        assert (
            db.session.execute(select(Donor.name_km).where(Donor.name_en == "IKA")).scalar() is None
        )


def test_a_new_donor_named_like_one_on_file_is_a_warning_to_tick(client, auth, imports):
    auth.login("treasurer")
    content = (HEADER + "I K A & Ikâ Group,10,USD,,2014-06-15,general,,\n").encode()
    token, page = preview(client, content, create_missing=True)
    text = page.get_data(as_text=True)
    assert "“I K A” would be a new donor, but “IKA” is on file" in text
    assert "“Ikâ Group” would be a new donor" not in text
    r = confirm(client, token, content, create_missing=True)
    assert r.status_code == 422 and n_contributions(imports) == 0
    assert confirm(client, token, content, create_missing=True, ack=[2]).status_code == 302
    assert n_contributions(imports) == 1
