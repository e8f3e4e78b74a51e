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
from tests.api_support import check_documented
from tests.letters_support import make_book, page_count, pdf_text


@pytest.fixture
def ids(app):
    return make_book(app)


@pytest.fixture
def consumer(app, tmp_path):
    """A real queue (Huey's SQLite storage) and one consumer thread, as in the embedded set-up."""
    from ceroc_donations.jobs import queue

    app.config.update(JOBS_IMMEDIATE=False, JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"))
    state = queue.state(app)
    assert state.start_consumer(lock=True)
    yield state
    state.stop_consumer()


def _wait_for_batch(client, url):
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(url + ".json").json
        if status["status"] in ("done", "failed"):
            return status
        time.sleep(0.1)
    raise AssertionError(f"batch not finished: {status}")


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
    assert "draft-mark" in r.get_data(as_text=True) and "ព្រាង" in r.get_data(as_text=True)
    assert "Thank you letter DRAFT" in r.get_data(as_text=True)
    assert "/letters/design/letter.css" in r.get_data(as_text=True)
    assert client.get("/letters/design/letter.css").status_code == 200
    assert client.get("/letters/design/fonts.css").status_code == 200
    assert client.get("/letters/design/khmer.ttf").mimetype == "font/ttf"
    assert client.get("/letters/design/..%2Fconfig.py").status_code == 404
    draft = client.get(f"/letters/contributions/{ids.single}/draft.pdf")
    assert draft.status_code == 200 and draft.data.startswith(b"%PDF")
    assert "Thank you letter DRAFT" in pdf_text(draft.data)
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
        from ceroc_donations.letters import jobs

        b = jobs.create_batch([ids.single], by=None)
        db.session.commit()
        batch_id = b.id
    auth.login("board")
    page = client.get(f"/letters/batches/{batch_id}")
    assert b'<noscript><meta http-equiv="refresh"' in page.data
    assert client.get(f"/letters/batches/{batch_id}.json").json["status"] == "queued"
    assert client.get(f"/letters/batches/{batch_id}.pdf").status_code == 404


def test_batch_on_the_embedded_queue_and_consumer_thread(client, auth, ids, app, consumer):
    """The page only queues the batch; the consumer thread beside the app runs it."""
    auth.login("board")
    r = client.post("/letters/batches", data={"ids": [str(ids.single)], "mode": "joint"})
    assert r.status_code == 302
    status = _wait_for_batch(client, r.location)
    assert status["status"] == "done", status
    assert client.get(status["pdf_url"]).status_code == 200
    with app.app_context():
        batch = db.session.get(LetterBatch, status["id"])
        assert batch.attempts == 1 and batch.claim and batch.heartbeat_at


def test_only_one_process_runs_the_embedded_consumer(app, consumer, tmp_path):
    """Under gunicorn with several workers the lock file lets one process consume."""
    from ceroc_donations import create_app
    from ceroc_donations.jobs import queue

    other = create_app(
        {
            "SECRET_KEY": "test",
            "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
            "JOBS_SQLITE_PATH": app.config["JOBS_SQLITE_PATH"],
        }
    )
    state = queue.state(other)
    assert state.kind == "embedded"
    assert state.maybe_start_embedded() is False and state.consumer is None
    consumer.stop_consumer()  # the lock is free again: the next try takes it over
    state._next_try = 0
    try:
        assert state.maybe_start_embedded() is True and state.consumer is not None
    finally:
        state.stop_consumer()
        with other.app_context():
            db.engine.dispose()


def test_job_errors_go_to_the_log_with_traceback(
    client, auth, ids, app, tmp_path, consumer, caplog
):
    """A failing job: the batch says so for people; the log has the traceback."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    app.config.update(ARCHIVE_DIR=str(blocker))
    auth.login("board")
    with caplog.at_level("ERROR", logger="ceroc_donations.letters.jobs"):
        r = client.post("/letters/batches", data={"ids": [str(ids.single)], "mode": "joint"})
        status = _wait_for_batch(client, r.location)
    assert status["status"] == "failed" and "server log" in status["error"]
    page = client.get(r.location).get_data(as_text=True)
    assert "Errno" not in page and "Start the batch again" in page
    record = next(r for r in caplog.records if r.name == "ceroc_donations.letters.jobs")
    assert record.exc_info and "not-a-folder" in str(record.exc_info[1])
    # Fixed, and started again: it goes on and finishes.
    app.config.update(ARCHIVE_DIR=str(tmp_path / "letters"))
    client.post(r.location + "/restart")
    status = _wait_for_batch(client, r.location)
    assert status["status"] == "done" and status["done"] == 1


def test_an_unreachable_queue_fails_the_batch_cleanly(client, auth, ids, app):
    app.config.update(JOBS_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:9/0")
    auth.login("board")
    r = client.post("/letters/batches", data={"ids": [str(ids.single)], "mode": "joint"})
    assert r.status_code == 302
    status = client.get(r.location + ".json").json
    assert status["status"] == "failed" and "queue could not be reached" in status["error"]
    with app.app_context():
        assert db.session.execute(select(Letter)).first() is None
    assert client.post(r.location + "/restart").status_code == 302
    assert client.get(r.location + ".json").json["status"] == "failed"  # still unreachable


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
    assert "400.00." in r.get_data(as_text=True)  # letters/sample.json
    assert "Sok Dara" in r.get_data(as_text=True) and "DRAFT" in r.get_data(as_text=True)
    r = client.post("/letters/texts/preview", data={"kind": "statement"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "C-2026-0001" in html and "C-2026-0017" in html
    assert "$550.00" in html and "draft-mark" in html
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

    port = _free_port()
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _email_message(client, number, language="en") -> str:
    """POST the email button, then read the flashed message on the page it leads to."""
    headers = {"Accept-Language": language}
    r = client.post(f"/letters/{number}/email", headers=headers)
    assert r.status_code == 302
    return client.get(r.location, headers=headers).get_data(as_text=True)


def test_email_failure_is_a_message_not_a_500(client, auth, ids, app):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())  # nothing listens
    auth.login("board")
    client.post(f"/letters/contributions/{ids.joint}/generate")
    page = _email_message(client, 1)
    assert "The mail server did not take the letter. Nothing was marked as sent" in page
    assert "Errno" not in page and "Refused" not in page
    page = _email_message(client, 1, "km")
    assert "ម៉ាស៊ីនមេអ៊ីមែលមិនបានទទួលលិខិតនេះទេ" in page and "Errno" not in page
    assert _letter_row(app, 1).status == "drafted"


def test_smtp_refusal_is_a_clear_message(client, auth, ids, app):
    from aiosmtpd.controller import Controller

    class Refuses:
        async def handle_DATA(self, server, session, envelope):
            return "554 5.7.1 Secret internal reason"

    port = _free_port()
    controller = Controller(Refuses(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        auth.login("board")
        client.post(f"/letters/contributions/{ids.single}/generate")
        page = _email_message(client, 1)
    finally:
        controller.stop()
    assert "The mail server did not take the letter." in page
    assert "Secret internal reason" not in page and "554" not in page
    assert _letter_row(app, 1).status == "drafted"


def test_email_is_offered_only_with_a_mail_server(client, auth, ids, app):
    assert app.config["MAIL_SERVER"] is None  # the default: no mail server
    auth.login("board")
    client.post(f"/letters/contributions/{ids.single}/generate")
    page = client.get(f"/contributions/{ids.single}").get_data(as_text=True)
    assert "Mark printed and sent" in page and "Email it" not in page
    page = _email_message(client, 1)
    assert "Email is not set up on this server" in page
    assert _letter_row(app, 1).status == "drafted"
    app.config["MAIL_SERVER"] = "127.0.0.1"
    assert "Email it" in client.get(f"/contributions/{ids.single}").get_data(as_text=True)


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
    for year in ("1989", "3000", "20x4", "99999999999999999999999"):
        r = client.post(
            f"/letters/donors/{ids.alice}/statement", data={"year": year}, follow_redirects=True
        )
        assert r.status_code == 200 and b"Give a year such as" in r.data


def test_joint_gift_shows_each_co_donors_letter(client, auth, ids, app):
    auth.login("board")
    client.post(f"/letters/contributions/{ids.joint}/generate", data={"mode": "each"})
    client.post("/letters/1/sent")  # Sok Dara's letter only
    page = client.get(f"/contributions/{ids.joint}").get_data(as_text=True)
    assert "every co-donor has been sent a letter" in page
    statuses = page[page.index('class="co-donor-status"') :]
    assert statuses.index("Sok Dara") < statuses.index("thanked")
    assert statuses.index("Chan Srey") < statuses.index("letter drafted")
    with app.app_context():
        assert db.session.get(Contribution, ids.joint).thank_status == "drafted"
    chan = client.get(f"/donors/{ids.chan}").get_data(as_text=True)
    assert "their letter:" in chan and "letter drafted" in chan
    client.post("/letters/2/sent")
    with app.app_context():
        assert db.session.get(Contribution, ids.joint).thank_status == "sent"


def test_set_status_by_hand_refuses_what_the_rules_refuse(client, auth, ids, app):
    auth.login("board")
    url = f"/letters/contributions/{ids.single}/status"
    r = client.post(url, data={"status": "sent"}, follow_redirects=True)
    assert r.status_code == 200 and b"Choose to acknowledge the gift or not" in r.data
    r = client.post(url, data={"status": "do_not_acknowledge", "next": "//evil.example/"})
    assert r.status_code == 302 and r.location.endswith("/letters/")
    with app.app_context():
        assert db.session.get(Contribution, ids.single).thank_status == "do_not_acknowledge"


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


def test_api_ignores_the_browser_session(client, auth, ids, app):
    auth.login("board")  # a browser session, with or without a CSRF token, is not read
    url = f"/api/v1/contributions/{ids.single}/letter"
    for csrf in (True, False):
        app.config["WTF_CSRF_ENABLED"] = csrf
        r = client.post(url)
        assert r.status_code == 401 and "Bearer" in r.json["error"]
        assert client.get("/api/v1/letters/1").status_code == 401
    r = client.post(url, headers=_token(app, "board"))
    assert r.status_code == 201


def test_openapi_paths_describe_the_endpoints(app):
    from ceroc_donations.openapi import letter_batches_paths, letters_paths

    paths = {**letters_paths(), **letter_batches_paths()}
    rules = {r.rule for r in app.url_map.iter_rules() if r.endpoint.startswith("api_letters.")}
    assert {p.replace("{", "<int:").replace("}", ">").replace("/api/v1", "") for p in paths} == {
        r.replace("/api/v1", "") for r in rules
    }
    json.dumps(paths)


def test_api_letter_generation_honours_idempotency_key(client, ids, app):
    board = _token(app, "board")
    url = f"/api/v1/contributions/{ids.single}/letter"
    first = client.post(url, headers={**board, "Idempotency-Key": "gen-1"}, json={"force": True})
    assert first.status_code == 201
    again = client.post(url, headers={**board, "Idempotency-Key": "gen-1"}, json={"force": True})
    assert again.status_code == 200 and not again.json["created"]
    assert [x["number"] for x in again.json["letters"]] == [1]
    other = client.post(
        url, headers={**board, "Idempotency-Key": "gen-1"}, json={"force": True, "mode": "each"}
    )
    assert other.status_code == 422 and "Idempotency-Key" in other.json["fields"]
    elsewhere = client.post(
        f"/api/v1/contributions/{ids.joint}/letter",
        headers={**board, "Idempotency-Key": "gen-1"},
        json={"force": True},
    )
    assert elsewhere.status_code == 422
    with app.app_context():
        assert db.session.execute(select(Letter.number)).scalars().all() == [1]
    bad = client.post(url, headers=board, json={"force": "yes", "colour": "red"})
    assert bad.status_code == 422 and set(bad.json["fields"]) == {"force", "colour"}


def test_api_marks_a_letter_sent(client, ids, app):
    board, treasurer, member = (_token(app, r) for r in ("board", "treasurer", "member"))
    r = client.post(f"/api/v1/contributions/{ids.single}/letter", headers=board)
    assert r.status_code == 201
    url = "/api/v1/letters/1/sent"
    assert client.post(url, json={"via": "post"}).status_code == 401
    for token in (member, treasurer):
        r = client.post(url, headers=token, json={"via": "post"})
        assert r.status_code == 403 and r.json["error"]
    for body in ({"via": "pigeon"}, {"via": None}, {}, {"via": ["post"]}, {"via": "print"}):
        r = client.post(url, headers=board, json=body)
        assert r.status_code == 422 and "via" in r.json["fields"], body
    assert client.post(url, headers=board, data="post").status_code == 415
    r = client.post(url, headers=board, json={"via": "post", "colour": "red"})
    assert r.status_code == 422 and set(r.json["fields"]) == {"colour"}
    for number in ("99", "99999999999999999999999"):
        r = client.post(f"/api/v1/letters/{number}/sent", headers=board, json={"via": "post"})
        assert r.status_code == 404 and r.is_json
    assert _letter_row(app, 1).status == "drafted"
    r = client.post(url, headers=board, json={"via": "hand"})
    assert r.status_code == 200, r.json
    doc = client.get("/api/v1/openapi.json").json
    check_documented(app, doc, "POST", url, r)  # the shape the document promises
    check_documented(app, doc, "GET", "/api/v1/letters/1", client.get(url[:-5], headers=board))
    gift = f"/api/v1/contributions/{ids.single}/letter"
    check_documented(app, doc, "GET", gift, client.get(gift, headers=board))
    assert (r.json["status"], r.json["sent_via"]) == ("sent", "hand") and r.json["sent_at"]
    with app.app_context():
        assert db.session.get(Contribution, ids.single).thank_status == "sent"
    again = client.post(url, headers=board, json={"via": "hand"})
    assert again.status_code == 200 and again.json == r.json  # the same again: nothing new
    other = client.post(url, headers=board, json={"via": "email"})
    assert other.status_code == 409 and "hand" in other.json["error"]
    assert _letter_row(app, 1).sent_via == "hand"


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
