"""Letters pages, API and CLI: roles, preview, generate, download, batches, email, texts."""

from __future__ import annotations

import email
import hashlib
import io
import json
import socket
import zipfile

import pytest
from sqlalchemy import select

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter, LetterBatch
from ceroc_donations.security import new_api_token
from tests.letters_support import make_book, page_count, pdf_text


@pytest.fixture
def ids(app):
    app.config["LETTER_BATCH_RUNNER"] = "inline"
    return make_book(app)


def _token(app, role):
    with app.app_context():
        user = db.session.execute(select(User).where(User.role == role)).scalar_one()
        token = new_api_token(user, "test")
        db.session.commit()
        return {"Authorization": f"Bearer {token}"}


def _letter_row(app, number):
    with app.app_context():
        db.session.expire_on_commit = False
        row = db.session.execute(select(Letter).where(Letter.number == number)).scalar_one()
        db.session.expunge_all()
        return row


def test_anonymous_goes_to_login(client, ids):
    for url in [
        "/letters/",
        "/letters/texts",
        f"/letters/contributions/{ids.single}/preview",
        "/letters/1.pdf",
    ]:
        r = client.get(url)
        assert r.status_code == 302 and "/login" in r.location
    r = client.post(f"/letters/contributions/{ids.single}/generate")
    assert r.status_code == 302 and "/login" in r.location


def test_member_gets_403(client, auth, ids):
    auth.login("member")
    for url in [
        "/letters/",
        "/letters/texts",
        f"/letters/contributions/{ids.single}/preview",
        "/letters/1.pdf",
        "/letters/batches/1",
    ]:
        assert client.get(url).status_code == 403
    assert client.post(f"/letters/contributions/{ids.single}/generate").status_code == 403
    assert b'href="/letters/"' not in client.get("/").data


def test_board_generates_and_treasurer_downloads_but_cannot_generate(client, auth, ids, app):
    auth.login("board")
    page = client.get(f"/contributions/{ids.single}")
    assert b"Thank-you letter" in page.data and b"Generate the letter" in page.data
    assert b'href="/letters/"' in page.data  # nav link
    r = client.post(f"/letters/contributions/{ids.single}/generate", data={"mode": "joint"})
    assert r.status_code == 302
    page = client.get(r.location)
    assert b"Letter 1 generated" in page.data and b"/letters/1.pdf" in page.data
    first = client.get("/letters/1.pdf")
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert hashlib.sha256(first.data).hexdigest() == _letter_row(app, 1).sha256
    auth.logout()
    auth.login("treasurer")
    again = client.get("/letters/1.pdf")
    assert again.status_code == 200 and again.data == first.data
    assert client.post(f"/letters/contributions/{ids.single}/generate").status_code == 403
    assert client.post("/letters/1/sent").status_code == 403
    assert client.get("/letters/").status_code == 200
    assert b"Generate the letter" not in client.get(f"/contributions/{ids.single}").data


def test_preview_html_has_strict_csp_and_draft_pdf(client, auth, ids):
    auth.login("board")
    r = client.get(f"/letters/contributions/{ids.single}/preview")
    assert r.status_code == 200 and r.mimetype == "text/html"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "CNRP Minnesota" in r.get_data(as_text=True)
    assert "/letters/design/letter.css" in r.get_data(as_text=True)
    assert client.get("/letters/design/letter.css").status_code == 200
    assert client.get("/letters/design/fonts.css").status_code == 200
    assert client.get("/letters/design/khmer.ttf").mimetype == "font/ttf"
    assert client.get("/letters/design/..%2Fconfig.py").status_code == 404
    draft = client.get(f"/letters/contributions/{ids.single}/draft.pdf")
    assert draft.status_code == 200 and draft.data.startswith(b"%PDF")
    with client.application.app_context():
        assert db.session.execute(select(Letter)).first() is None  # a draft is not archived


def test_queue_batch_progress_and_downloads(client, auth, ids, app):
    auth.login("board")
    queue = client.get("/letters/")
    assert queue.status_code == 200
    text = queue.get_data(as_text=True)
    assert text.index(ids.single_ref) < text.index(ids.joint_ref)  # oldest first
    r = client.post(
        "/letters/batches", data={"ids": [str(ids.joint), str(ids.single)], "mode": "each"}
    )
    assert r.status_code == 302
    batch_url = r.location
    status = client.get(batch_url + ".json").json
    assert status["status"] == "done" and status["done"] == status["total"] == 2
    page = client.get(batch_url)
    assert b"<progress" in page.data and b"Download for printing" in page.data
    assert b'http-equiv="refresh"' not in page.data  # finished: no more refreshing
    pdf = client.get(status["pdf_url"])
    assert pdf.status_code == 200 and page_count(pdf.data) == 3  # single + joint split in two
    archive = zipfile.ZipFile(io.BytesIO(client.get(status["zip_url"]).data))
    assert len(archive.namelist()) == 3
    r = client.post(batch_url + "/sent")
    assert r.status_code == 302
    with app.app_context():
        assert {
            c.thank_status
            for c in db.session.execute(
                select(Contribution).where(Contribution.id.in_([ids.single, ids.joint]))
            ).scalars()
        } == {"sent"}
    assert ids.single_ref not in client.get("/letters/").get_data(as_text=True)
    # Nothing ticked: a message next to the list, 422.
    r = client.post("/letters/batches", data={"mode": "joint"})
    assert r.status_code == 422 and b"Tick at least one gift" in r.data


def test_running_batch_page_refreshes_without_js(client, auth, ids, app):
    with app.app_context():
        from ceroc_donations.letters import service as letters

        b = letters.create_batch([ids.single], by=None)
        db.session.commit()
        batch_id = b.id
    auth.login("board")
    page = client.get(f"/letters/batches/{batch_id}")
    assert b'<noscript><meta http-equiv="refresh"' in page.data
    assert client.get(f"/letters/batches/{batch_id}.json").json["status"] == "queued"
    assert client.get(f"/letters/batches/{batch_id}.pdf").status_code == 404


@pytest.mark.own_database
def test_batch_in_a_real_worker_process(client, auth, ids, app):
    """The page starts `python -m ceroc_donations.letters.worker`, which outlives the request."""
    import time

    app.config["LETTER_BATCH_RUNNER"] = "process"
    auth.login("board")
    r = client.post("/letters/batches", data={"ids": [str(ids.single)], "mode": "joint"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = client.get(r.location + ".json").json
        if status["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    from ceroc_donations.letters.service import WORKERS

    for process in WORKERS:
        assert process.wait(timeout=30) == 0
    assert status["status"] == "done", status
    assert client.get(status["pdf_url"]).status_code == 200


def test_texts_editor_versions_and_placeholder_errors(client, auth, ids, app):
    auth.login("board")
    page = client.get("/letters/texts")
    assert page.status_code == 200 and b'name="body_km"' in page.data
    r = client.post(
        "/letters/texts",
        data={"body_en": "Thanks {donor_nme}!", "closing_en": "Yours, {{ config }}"},
    )
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert 'id="e-body_en"' in html and "Did you mean {donor_name_" in html
    assert "Thanks {donor_nme}!" in html  # kept as typed
    assert "On behalf of the Commission" not in html  # the typed body replaced the saved one
    assert "សូមទទួលនូវការគោរព" in html  # fields not sent keep the saved text
    r = client.post("/letters/texts/preview", data={"body_en": "{x.__class__}"})
    assert r.status_code == 422 and b"Malformed" in r.data
    r = client.post("/letters/texts/preview", data={"body_en": "Dear friend, {amount_en}."})
    assert r.status_code == 200 and "Dear friend, " in r.get_data(as_text=True)
    assert "400.00." in r.get_data(as_text=True)
    assert "default-src 'none'" in r.headers["Content-Security-Policy"]
    r = client.post("/letters/texts", data={"signatory_name_en": "Kem Sokha"})
    assert r.status_code == 302
    r = client.post(f"/letters/contributions/{ids.single}/generate")
    with app.app_context():
        letter = db.session.execute(select(Letter)).scalar_one()
        assert letter.text_version.number == 1
        assert letter.text_version.texts["signatory_name_en"] == "Kem Sokha"


def test_email_letter_through_local_smtp(client, auth, ids, app):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(
            MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_SENDER="letters@ceroc.example"
        )
        auth.login("board")
        client.post(f"/letters/contributions/{ids.single}/generate")
        r = client.post("/letters/1/email")
        assert r.status_code == 302
    finally:
        controller.stop()
    assert len(received) == 1
    assert received[0].rcpt_tos == ["mn@example.org"]
    message = email.message_from_bytes(received[0].content, policy=email.policy.default)
    assert "លិខិតថ្លែងអំណរគុណ" in message["Subject"] and "Thank-you letter 1" in message["Subject"]
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == client.get("/letters/1.pdf").data
    row = _letter_row(app, 1)
    assert (row.status, row.sent_via) == ("sent", "email")


def test_email_failure_is_a_message_not_a_500(client, auth, ids, app):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=1)  # nothing listens there
    auth.login("board")
    client.post(f"/letters/contributions/{ids.joint}/generate")
    r = client.post("/letters/1/email", follow_redirects=True)
    assert r.status_code == 200 and b"Nothing was marked as sent" in r.data
    assert _letter_row(app, 1).status == "drafted"


def test_mark_sent_and_donor_page_statement(client, auth, ids, app):
    auth.login("board")
    client.post(f"/letters/contributions/{ids.single}/generate")
    assert client.post("/letters/1/sent").status_code == 302
    assert _letter_row(app, 1).sent_via == "print"
    r = client.post(f"/letters/donors/{ids.alice}/statement", data={"year": "2014"})
    assert r.status_code == 302
    page = client.get(f"/donors/{ids.alice}").get_data(as_text=True)
    assert "Yearly statement 2014" in page and "printed and sent" in page
    text = pdf_text(client.get("/letters/2.pdf").data)
    assert "425.50" in text
    r = client.post(
        f"/letters/donors/{ids.alice}/statement", data={"year": "2001"}, follow_redirects=True
    )
    assert r.status_code == 200 and b"gave nothing in 2001" in r.data


def test_api_generate_and_download_with_tokens(client, ids, app):
    board, treasurer, member = (_token(app, r) for r in ("board", "treasurer", "member"))
    url = f"/api/v1/contributions/{ids.joint}/letter"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=member).status_code == 403
    assert client.post(url, headers=treasurer).status_code == 403
    r = client.post(url, headers=board, json={"mode": "each"})
    assert r.status_code == 201, r.json
    body = r.json
    assert body["created"] and [x["number"] for x in body["letters"]] == [1, 2]
    first = body["letters"][0]
    assert first["status"] == "drafted" and len(first["sha256"]) == 64
    again = client.post(url, headers=board)
    assert again.status_code == 200 and not again.json["created"]
    pdf = client.get(first["pdf_url"], headers=treasurer)
    assert pdf.status_code == 200 and hashlib.sha256(pdf.data).hexdigest() == first["sha256"]
    assert client.get(first["pdf_url"], headers=member).status_code == 403
    assert client.get("/api/v1/letters/1", headers=treasurer).json["number"] == 1
    assert client.get("/api/v1/letters/99.pdf", headers=board).status_code == 404
    r = client.post(url, headers=board, json={"mode": "all", "force": True})
    assert r.status_code == 422 and "mode" in r.json["fields"]
    assert client.post("/api/v1/contributions/999/letter", headers=board).status_code == 404


def test_api_session_post_needs_csrf_token_needs_none(client, auth, ids, app):
    auth.login("board")  # a browser session...
    app.config["WTF_CSRF_ENABLED"] = True
    url = f"/api/v1/contributions/{ids.single}/letter"
    r = client.post(url)  # ...cannot be ridden cross-site: no CSRF token, no letter
    assert r.status_code == 400 and "error" in r.json
    r = client.post(url, headers=_token(app, "board"))
    assert r.status_code == 201


def test_openapi_paths_describe_the_endpoints(app):
    from ceroc_donations.letters.api import letters_openapi_paths

    paths = letters_openapi_paths()
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("api_letters.")}
    assert {p.replace("{", "<int:").replace("}", ">") for p in paths} == rules
    json.dumps(paths)


def test_cli_render_and_batch(runner, ids, app, tmp_path):
    out = tmp_path / "one.pdf"
    r = runner.invoke(args=["letters", "render", ids.single_ref, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "Generated letter 1" in r.output and page_count(out.read_bytes()) == 1
    r = runner.invoke(args=["letters", "render", "C-1999-0001", "--out", str(out)])
    assert r.exit_code == 2 and "no contribution" in r.output
    batch = tmp_path / "batch.pdf"
    r = runner.invoke(args=["letters", "batch", "--out", str(batch), "--mode", "each"])
    assert r.exit_code == 0, r.output
    # The queue: single (letter 1 already archived, not yet sent), joint (2 letters), later.
    assert page_count(batch.read_bytes()) == 4
    assert "4 letters" in r.output
    z = tmp_path / "again.zip"
    r = runner.invoke(args=["letters", "batch", "--out", str(z), "--reference", ids.single_ref])
    assert r.exit_code == 0 and zipfile.ZipFile(z).namelist() == ["CEROC-letter-1.pdf"]
    with app.app_context():
        assert db.session.execute(select(LetterBatch)).scalars().all()[-1].status == "done"
