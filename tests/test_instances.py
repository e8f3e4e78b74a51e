"""Several instances: two gunicorns (separate processes and ports, no proxy) sharing one
database, one Redis and one storage directory, and ``flask worker`` consuming the jobs.

A letter batch started on one instance through the API is followed to the end from the
other. On SQLite here; on PostgreSQL when CEROC_TEST_DATABASE_URL is set
(scripts/test-postgres.sh runs the suite again).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from tests.letters_support import make_book
from tests.serving_support import ROOT, Connection, Gunicorn, server_env
from tests.test_letters_views import _token

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = pytest.mark.own_database


def _path(url: str) -> str:
    """The path of an absolute or relative URL (the links name the instance that made them)."""
    return urlsplit(url).path


@pytest.fixture
def cluster(app, redis_url, tmp_path):
    """The worker, then instances A and B (one gunicorn worker process each)."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    ids = make_book(app)
    board = _token(app, "board")
    with app.app_context():
        url = app.config["SQLALCHEMY_DATABASE_URI"]
        db.session.remove()
        db.engine.dispose()
    storage = tmp_path / "storage"
    env = server_env(url, storage, CEROC_REDIS_URL=redis_url)
    with open(tmp_path / "worker.log", "ab") as log:
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "ceroc_donations", "worker"],
            env={**env, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    a = Gunicorn(env, tmp_path / "a.log", workers=1)
    b = Gunicorn(env, tmp_path / "b.log", workers=1)
    try:
        a.start()  # each waits for /healthz 200: the worker must have been seen
        b.start()
        yield a, b, board, ids, storage, tmp_path / "worker.log"
    finally:
        a.stop()
        b.stop()
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)  # after its current job
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


@pytest.mark.timeout(180)
def test_a_batch_started_on_one_instance_is_followed_from_the_other(cluster, app):
    a, b, board, ids, storage, worker_log = cluster
    assert a.port != b.port and a.proc.pid != b.proc.pid
    on_a, on_b = Connection(a.port, headers=board), Connection(b.port, headers=board)
    try:
        status, data = on_a.request(
            "POST",
            "/api/v1/letter-batches",
            json_body={"contribution_ids": [ids.single, ids.joint]},
            headers={"Idempotency-Key": "two-instances"},
        )
        assert status == 202, data
        location = on_a.response_headers["Location"]
        batch_id = json.loads(data)["id"]
        assert location.endswith(f"/api/v1/letter-batches/{batch_id}")
        path = _path(location)

        # Instance B never saw the request: it reads the batch from the shared database.
        seen: list[str] = []
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            status, data = on_b.request("GET", path)
            assert status == 200, data
            batch = json.loads(data)
            if not seen or seen[-1] != batch["status"]:
                seen.append(batch["status"])
            if batch["status"] in ("done", "failed"):
                break
            time.sleep(0.1)
        assert batch["status"] == "done", (batch, worker_log.read_text()[-3000:])
        assert batch["letters"] == [1, 2]
        assert seen[-1] == "done"

        # The files the worker wrote are in the one storage directory, served by both.
        for conn in (on_a, on_b):
            status, pdf = conn.request("GET", _path(batch["pdf_url"]))
            assert status == 200 and pdf.startswith(b"%PDF")
            status, _zip = conn.request("GET", _path(batch["zip_url"]))
            assert status == 200 and _zip.startswith(b"PK")
        # B's health: the queue's consumer is the worker, seen lately (not one of its own).
        status, data = on_b.request("GET", "/healthz")
        health = json.loads(data)
        assert status == 200 and health["queue"] == "ok", health
        assert health["checks"]["queue"]["queue"] == "redis"
        assert "consumer" not in health["checks"]["queue"]
        assert health["checks"]["queue"]["consumer_seen_seconds_ago"] <= 60
    finally:
        on_a.close()
        on_b.close()

    with app.app_context():
        letters = db.session.execute(select(Letter).order_by(Letter.number)).scalars().all()
        assert [letter.number for letter in letters] == [1, 2]
        for letter in letters:
            assert (storage / "letters" / letter.pdf_path).is_file()


@pytest.mark.timeout(120)
def test_a_page_one_instance_keeps_is_drawn_anew_after_a_gift_on_the_other(cluster, app):
    """Instance B keeps the public page it drew (pagecache); a gift posted on instance A
    moves the shared audit head, so B's next answer shows it."""
    from ceroc_donations.accounts import settings
    from ceroc_donations.accounts.models import User
    from ceroc_donations.book.models import Contribution

    a, b, _board, ids, _storage, _log = cluster
    with app.app_context():
        admin = db.session.execute(select(User).where(User.role == "admin")).scalar_one()
        settings.set_transparency_public(True, by=admin)
        gift = db.session.get(Contribution, ids.single)
        donor_id, fund_id = gift.donors[0].id, gift.fund_id
        db.session.commit()
        db.session.remove()
    treasurer = _token(app, "treasurer")
    first = request_page(b.port)
    assert _main(request_page(b.port)) == _main(first)  # the main part: drawn once, kept
    assert "4,321.00" not in first
    on_a = Connection(a.port, headers=treasurer)
    try:
        status, data = on_a.request(
            "POST",
            "/api/v1/contributions",
            json_body={
                "donor_ids": [donor_id],
                "amount": "4321.00",
                "currency": "USD",
                "exchange_rate": "1",
                "received_on": "2026-03-01",
                "fund_id": fund_id,
                "method": "cash",
            },
            headers={"Idempotency-Key": "instances-page"},
        )
    finally:
        on_a.close()
    assert status == 201, data
    assert "4,321.00" in request_page(b.port)


def _main(page: str) -> str:
    return page[page.index('<main id="main">') : page.index("</main>")]


def request_page(port: int) -> str:
    from tests.serving_support import request

    status, page = request(port, "GET", "/transparency")
    assert status == 200, page[:300]
    return page.decode()
