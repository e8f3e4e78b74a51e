"""Background jobs: the letter-batch API, resuming lost batches, the queue's modes."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ceroc_donations.extensions import db
from ceroc_donations.letters import jobs
from ceroc_donations.letters.models import Letter, LetterBatch
from tests.letters_support import make_book, page_count
from tests.test_letters_views import _token

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = pytest.mark.own_database


def test_batch_api_queues_answers_202_and_links_the_downloads(client, app):
    ids = make_book(app)
    board, member = _token(app, "board"), _token(app, "member")
    treasurer = _token(app, "treasurer")
    url = "/api/v1/letter-batches"
    body = {"contribution_ids": [ids.joint, ids.single], "mode": "joint"}
    assert client.post(url, json=body).status_code == 401
    assert client.post(url, json=body, headers=member).status_code == 403
    assert client.post(url, json=body, headers=treasurer).status_code == 403
    r = client.post(url, json=body, headers=board)
    assert r.status_code == 202, r.json
    assert r.headers["Location"] == r.json["url"] and r.json["url"].endswith(
        f"/api/v1/letter-batches/{r.json['id']}"
    )
    # Immediate mode (tests): the job has run by the time we poll.
    status = client.get(r.headers["Location"], headers=treasurer).json
    assert status["status"] == "done" and status["done"] == status["total"] == 2
    assert status["letters"] == [1, 2]
    pdf = client.get(status["pdf_url"], headers=treasurer)
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert page_count(pdf.data) == 2
    zipped = client.get(status["zip_url"], headers=board)
    assert zipfile.ZipFile(io.BytesIO(zipped.data)).namelist() == [
        "CEROC-letter-1.pdf",
        "CEROC-letter-2.pdf",
    ]
    assert client.get(status["pdf_url"]).status_code == 401
    assert client.get("/api/v1/letter-batches/999", headers=board).status_code == 404


def test_batch_api_all_unthanked_and_bad_input(client, app):
    ids = make_book(app)
    board = _token(app, "board")
    url = "/api/v1/letter-batches"
    for body, field in [
        ({}, "contribution_ids"),
        ({"contribution_ids": [ids.single], "all_unthanked": True}, "contribution_ids"),
        ({"contribution_ids": "1"}, "contribution_ids"),
        ({"contribution_ids": [True]}, "contribution_ids"),
        ({"contribution_ids": [2**70]}, "contribution_ids"),
        ({"contribution_ids": []}, "contribution_ids"),
        ({"contribution_ids": [999]}, "contribution_ids"),
        ({"all_unthanked": "yes"}, "all_unthanked"),
        ({"all_unthanked": True, "mode": "both"}, "mode"),
        ({"all_unthanked": True, "mode": 3}, "mode"),
    ]:
        r = client.post(url, json=body, headers=board)
        assert r.status_code == 422 and field in r.json["fields"], (body, r.json)
    assert client.post(url, data="[1]", headers=board).status_code == 400
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(LetterBatch)).scalar() == 0
    r = client.post(url, json={"all_unthanked": True, "mode": "each"}, headers=board)
    assert r.status_code == 202 and r.json["status"] == "done"
    with app.app_context():
        batch = db.session.get(LetterBatch, r.json["id"])
        assert batch.mode == "each" and ids.single in batch.contribution_ids
        assert (
            len(r.json["letters"])
            == db.session.execute(select(func.count()).select_from(Letter)).scalar()
        )
        made = r.json["letters"]
    # Drafted but not sent is still unthanked: the same letters again, no new numbers.
    r = client.post(url, json={"all_unthanked": True, "mode": "each"}, headers=board)
    assert r.status_code == 202 and r.json["letters"] == made


def test_batch_api_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "post" in paths["/api/v1/letter-batches"]
    assert "202" in paths["/api/v1/letter-batches"]["post"]["responses"]
    assert "get" in paths["/api/v1/letter-batches/{batch_id}"]


@pytest.mark.fault
def test_an_interrupted_batch_resumes_after_the_gifts_done(app):
    """A job killed mid-batch leaves it running with a stale heartbeat; the next job claims
    it and goes on after the last committed gift: numbers gap-free, none twice."""
    from datetime import timedelta

    from ceroc_donations.database import utcnow

    ids = make_book(app)
    with app.app_context():
        batch = jobs.create_batch([ids.single, ids.joint, ids.later], by=None)
        db.session.commit()
        batch_id = batch.id
        seen = []

        class Killed(BaseException):
            """Stands for SIGKILL: nothing after it runs, not even except blocks."""

        def die_after_one(done, total):
            seen.append(done)
            raise Killed

        try:
            jobs.run_batch(batch_id, progress=die_after_one)
        except Killed:
            db.session.rollback()
        batch = db.session.get(LetterBatch, batch_id)
        assert (batch.status, batch.done, seen) == ("running", 1, [1])
        # A fresh heartbeat: the batch is held, another job leaves it alone.
        assert jobs.run_batch(batch_id) is None
        assert jobs.resume_lost_batches() == []
        batch.heartbeat_at = utcnow() - timedelta(seconds=app.config["JOBS_STALE_SECONDS"] + 1)
        db.session.commit()
        assert jobs.resume_lost_batches() == [batch_id]  # immediate mode: resumed at once
        batch = db.session.get(LetterBatch, batch_id)
        assert (batch.status, batch.done, batch.attempts) == ("done", 3, 2)
        numbers = sorted(letter.number for letter in jobs.batch_letters(batch))
        assert numbers == [1, 2, 3]
        per_gift = db.session.execute(
            select(Letter.contribution_id, func.count()).group_by(Letter.contribution_id)
        ).all()
        assert sorted(n for _, n in per_gift) == [1, 1, 1]
        # Finished: a late copy of the job does nothing.
        assert jobs.run_batch(batch_id) is None


@pytest.mark.fault
def test_a_batch_taken_over_stops_its_old_job(app):
    ids = make_book(app)
    with app.app_context():
        batch = jobs.create_batch([ids.single, ids.joint], by=None)
        db.session.commit()
        batch_id = batch.id

        def steal(done, total):
            db.session.execute(
                LetterBatch.__table__.update()
                .where(LetterBatch.id == batch_id)
                .values(claim="someone-else")
            )
            db.session.commit()

        assert jobs.run_batch(batch_id, progress=steal) is None
        batch = db.session.get(LetterBatch, batch_id)
        assert batch.done == 1 and batch.status == "running"
        assert db.session.execute(select(func.count()).select_from(Letter)).scalar() == 1


def test_email_job_records_the_smtp_answer_and_never_sends_twice(client, auth, app):
    from aiosmtpd.controller import Controller

    from ceroc_donations.letters import delivery
    from ceroc_donations.letters.models import LetterEmail
    from tests.test_letters_views import _free_port

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 2.0.0 Ok: queued as 4F1" if len(received) == 1 else "554 5.7.1 No"

    ids = make_book(app)
    port = _free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
        auth.login("board")
        client.post(f"/letters/contributions/{ids.single}/generate")
        client.post(f"/letters/contributions/{ids.joint}/generate")
        client.post("/letters/1/email")
        page = client.get(client.post("/letters/1/email").location).get_data(as_text=True)
        assert "has been emailed already" in page
        with app.app_context():
            first = db.session.execute(select(LetterEmail)).scalar_one()
            assert (first.status, first.answer) == ("sent", "250 2.0.0 Ok: queued as 4F1")
            assert first.to == "mn@example.org" and first.requested_by.role == "board"
            # A second copy of the job (e.g. queued twice) does not send it again.
            assert delivery.send_email(first.id) is None
            first_id = first.id
        assert len(received) == 1
        client.post("/letters/2/email")  # the server refuses this one: its words are kept
        with app.app_context():
            second = db.session.execute(
                select(LetterEmail).where(LetterEmail.id != first_id)
            ).scalar_one()
            assert (second.status, second.answer) == ("failed", "554 5.7.1 No")
            assert db.session.get(Letter, second.letter_id).status == "drafted"
    finally:
        controller.stop()


@pytest.mark.fault
def test_an_email_interrupted_mid_send_is_unknown_not_resent(app):
    from datetime import timedelta

    from ceroc_donations.database import utcnow
    from ceroc_donations.letters import archive, delivery
    from ceroc_donations.letters.models import LetterEmail

    ids = make_book(app)
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=9)
    with app.app_context():
        from ceroc_donations.book.models import Contribution

        letter = archive.generate_thank_you(db.session.get(Contribution, ids.single), by=None)[0][0]
        row = delivery.request_email(letter, by=None)
        row.status = "sending"  # the job's state when its worker died mid-send
        row.requested_at = utcnow() - timedelta(seconds=app.config["JOBS_STALE_SECONDS"] + 1)
        db.session.commit()
        assert delivery.send_email(row.id) is None  # not sent again
        assert delivery.settle_interrupted_emails() == 1
        row = db.session.get(LetterEmail, row.id)
        assert row.status == "unknown" and letter.status == "drafted"
        # The board decides: a new emailing may be asked for.
        assert delivery.request_email(letter, by=None).status == "queued"


REPORT = "/ledger/report.pdf?from=2014-01-01&to=2014-12-31&lang=en"


def _report_rows(app):
    from ceroc_donations.ledger.models import ReportBuild

    with app.app_context():
        return [(r.id, r.status) for r in db.session.execute(select(ReportBuild)).scalars()]


def test_report_is_cached_until_the_books_change(client, auth, app):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution
    from tests.conftest import contribution_form

    ids = make_book(app)
    auth.login("member")
    first = client.get(REPORT)
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    [(build_id, status)] = _report_rows(app)
    assert status == "done"
    again = client.get(REPORT)
    assert again.data == first.data and _report_rows(app) == [(build_id, "done")]
    assert client.get(REPORT.replace("lang=en", "lang=km")).status_code == 200
    assert len(_report_rows(app)) == 2  # one per language
    with app.app_context():
        treasurer = db.session.execute(
            select(db.metadata.tables["user"].c.id).where(
                db.metadata.tables["user"].c.role == "treasurer"
            )
        ).scalar_one()
        from ceroc_donations.accounts.models import User

        svc.record_contribution(
            parse_contribution(
                contribution_form(ids.alice, ids.fund, amount="99.00", received_on="2014-11-01")
            ),
            by=db.session.get(User, treasurer),
        )
        db.session.commit()
    changed = client.get(REPORT)
    assert changed.status_code == 200 and changed.data != first.data
    rows = _report_rows(app)
    assert build_id not in [i for i, _ in rows] and len(rows) == 2  # the old one is gone
    files = list((Path(app.config["ARCHIVE_DIR"]) / "reports").glob("*.pdf"))
    assert len(files) == 2


def test_report_is_built_by_a_consumer_while_the_page_waits(client, auth, app, tmp_path):
    from ceroc_donations.jobs import queue

    make_book(app)
    app.config.update(
        JOBS_IMMEDIATE=False,
        JOBS_EMBEDDED_WORKER=False,
        JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"),
    )
    auth.login("member")
    waiting = client.get(REPORT)
    assert waiting.status_code == 202
    assert b"being prepared" in waiting.data and b'http-equiv="refresh"' in waiting.data
    assert client.get(REPORT).status_code == 202  # asked again: still one build, one job
    assert _report_rows(app)[0][1] == "queued" and len(_report_rows(app)) == 1
    state = queue.state(app)
    assert state.huey.pending_count() == 1
    state.start_consumer(lock=True)
    try:
        import time

        deadline = time.monotonic() + 120
        while _report_rows(app)[0][1] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        state.stop_consumer()
    done = client.get(REPORT)
    assert done.status_code == 200 and done.mimetype == "application/pdf"


def test_a_damaged_cached_report_is_said_not_served(client, auth, app):
    make_book(app)
    auth.login("member")
    assert client.get(REPORT).status_code == 200
    for path in (Path(app.config["ARCHIVE_DIR"]) / "reports").glob("*.pdf"):
        path.write_bytes(b"%PDF-tampered")
    r = client.get(REPORT)
    assert r.status_code == 500 and b"does not match its SHA-256" in r.data


def test_queue_health_says_whether_a_consumer_runs(app, tmp_path):
    from ceroc_donations.jobs import queue

    with app.app_context():
        assert queue.health() == {"queue": "immediate", "ok": True}
    app.config.update(JOBS_IMMEDIATE=False, JOBS_SQLITE_PATH=str(tmp_path / "jobs.sqlite"))
    state = queue.state(app)
    with app.app_context():
        health = queue.health()
        assert health["ok"] is False and health["consumer_seen_seconds_ago"] is None
        state.start_consumer(lock=True)
        try:
            assert queue.health() == {"queue": "embedded", "ok": True, "consumer": "here"}
            import time

            from ceroc_donations.jobs import SEEN_KEY

            deadline = time.monotonic() + 60  # it notes itself alive when it starts
            while state.huey.get(SEEN_KEY, peek=True) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            state.stop_consumer()
        # Stopped here, but seen just now: another process's consumer counts too.
        health = queue.health()
        assert health["ok"] is True and health["consumer_seen_seconds_ago"] <= 60


def test_a_batch_held_by_a_dead_process_of_this_machine_is_taken_back_at_once(app):
    import socket
    import subprocess

    from ceroc_donations.database import utcnow

    ids = make_book(app)
    gone = subprocess.Popen(["true"])  # noqa: S607
    gone.wait()
    with app.app_context():
        batch = jobs.create_batch([ids.single, ids.joint], by=None)
        batch.status, batch.heartbeat_at = "running", utcnow()  # fresh: not stale
        batch.claim = f"{socket.gethostname()}:{gone.pid}:killed"
        alive = jobs.create_batch([ids.later], by=None)
        alive.status, alive.heartbeat_at = "running", utcnow()
        alive.claim = f"{socket.gethostname()}:{os.getpid()}:busy"  # this process: alive
        db.session.commit()
        batch_id, alive_id = batch.id, alive.id
        assert jobs.resume_lost_batches() == [batch_id]
        assert db.session.get(LetterBatch, batch_id).status == "done"
        assert db.session.get(LetterBatch, alive_id).status == "running"


def test_a_batch_rendered_ahead_is_archived_as_the_database_says(app, caplog):
    """Letters render in worker processes ahead of being stored. Another letter numbered
    meanwhile, or a donor renamed, makes the letters planned before it render again: the
    numbers stay gap-free and every archived PDF is the one its row and gift describe."""
    from ceroc_donations.accounts.models import User
    from ceroc_donations.audit import verify
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor
    from ceroc_donations.book.models import Contribution, Donor
    from ceroc_donations.letters import archive
    from tests.conftest import contribution_form
    from tests.letters_support import ISSUED

    ids = make_book(app)
    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        dana = svc.create_donor(parse_donor({"name_en": "Dana Keo"}), by=user)
        dana_id = dana.id
        extra = [
            svc.record_contribution(
                parse_contribution(
                    contribution_form(
                        dana.id, ids.fund, amount=f"{40 + n}.00", received_on="2014-10-01"
                    )
                ),
                by=user,
            ).id
            for n in range(5)
        ]
        outside = svc.record_contribution(
            parse_contribution(contribution_form(ids.alice, ids.fund, received_on="2014-11-01")),
            by=user,
        ).id
        db.session.commit()
        batch = jobs.create_batch([ids.single, ids.joint, ids.later, *extra], mode="each", by=None)
        db.session.commit()
        batch_id, total = batch.id, batch.total

        def meddle(done, total):
            if done == 1:  # the next group is rendering with the numbers 2 and up
                archive.generate_thank_you(
                    db.session.get(Contribution, outside), by=None, issued_on=ISSUED
                )
            if done == 3:  # the next group is rendering with the old name
                db.session.get(Donor, dana_id).name_en = "Dana Keo Sovann"
            db.session.commit()

        with caplog.at_level("INFO", logger="ceroc_donations.letters.jobs"):
            jobs.run_batch(batch_id, issued_on=ISSUED, progress=meddle)
        again = [r for r in caplog.records if "rendered again" in r.getMessage()]
        assert len(again) == 2  # once for the number taken, once for the name
        batch = db.session.get(LetterBatch, batch_id)
        assert (batch.status, batch.done) == ("done", total)
        letters = db.session.execute(select(Letter).order_by(Letter.number)).scalars().all()
        assert [letter.number for letter in letters] == list(range(1, total + 3))  # joint: 2
        assert letters[1].contribution_id == outside
        for letter in letters:
            assert archive.read_pdf(letter) == archive.rerender(letter), letter.number
        renamed = [x for x in letters if x.contribution_id in extra]
        assert len(renamed) == 5
        assert all("Dana Keo Sovann" in pdf_text(archive.read_pdf(x)) for x in renamed)
        folder = Path(app.config["ARCHIVE_DIR"])
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.pdf"))
        assert files == sorted(letter.pdf_path for letter in letters)
        checked, problems = verify()
        assert checked and not problems


def pdf_text(pdf: bytes) -> str:
    from pypdf import PdfReader

    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_a_batch_without_render_workers_renders_in_its_own_thread(app):
    """``LETTER_BATCH_WORKERS = 0``: the same letters, rendered by the job's thread."""
    from ceroc_donations.letters import archive
    from tests.letters_support import ISSUED

    app.config["LETTER_BATCH_WORKERS"] = 0
    ids = make_book(app)
    with app.app_context():
        batch = jobs.create_batch([ids.single, ids.joint, ids.later], mode="each", by=None)
        db.session.commit()
        seen = []
        jobs.run_batch(batch.id, issued_on=ISSUED, progress=lambda d, t: seen.append(d))
        assert seen == [1, 2, 3]
        assert jobs._render_pool(0).pids() == []  # noqa: SLF001 - no process was started
        letters = jobs.batch_letters(db.session.get(LetterBatch, batch.id))
        assert [letter.number for letter in letters] == [1, 2, 3, 4]
        for letter in letters:
            assert archive.read_pdf(letter) == archive.rerender(letter)
