"""The job queue on a real Redis: a batch through RedisHuey, and a worker killed mid-batch.

``redis-server`` (Debian's) is started on a loopback port for this module and stopped after
it (the ``redis_url`` fixture, tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ceroc_donations.audit import verify
from ceroc_donations.database import read_only
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter, LetterBatch
from tests.letters_support import make_book
from tests.redis_support import needs_redis

ROOT = Path(__file__).resolve().parents[1]  # the checkout

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = [pytest.mark.own_database, needs_redis]


@pytest.fixture
def redis_app(app, redis_url):
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    app.config.update(JOBS_IMMEDIATE=False, REDIS_URL=redis_url)
    return app


def _more_gifts(app, count: int) -> list[int]:
    from ceroc_donations.accounts.models import User
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution
    from tests.conftest import contribution_form

    ids = make_book(app)
    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        for n in range(count):
            svc.record_contribution(
                parse_contribution(
                    contribution_form(
                        ids.alice, ids.fund, amount=f"{10 + n}.00", received_on="2014-10-01"
                    )
                ),
                by=user,
            )
        db.session.commit()
    return ids


def _wait(app, batch_id: int, until, timeout: float = 180) -> LetterBatch:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context(), read_only():  # a reader: never waits for SQLite's write lock
            batch = db.session.get(LetterBatch, batch_id)
            db.session.expunge(batch)
        if until(batch) or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


def test_a_batch_through_redis_and_a_consumer_thread(redis_app, client):
    from ceroc_donations.jobs import queue
    from tests.test_letters_views import _token

    app = redis_app
    ids = make_book(app)
    state = queue.state(app)
    assert state.kind == "redis"
    # Web processes with Redis do not consume: a request starts no consumer.
    board = _token(app, "board")
    r = client.post(
        "/api/v1/letter-batches", json={"contribution_ids": [ids.single, ids.joint]}, headers=board
    )
    assert r.status_code == 202 and r.json["status"] == "queued"
    assert state.consumer is None
    assert state.huey.pending_count() == 1
    state.start_consumer(lock=False)
    try:
        batch = _wait(app, r.json["id"], lambda b: b.status in ("done", "failed"))
    finally:
        state.stop_consumer()
    assert batch.status == "done" and batch.done == 2, batch.error
    status = client.get(r.headers["Location"], headers=board).json
    assert status["letters"] == [1, 2]
    assert client.get(status["pdf_url"], headers=board).status_code == 200


def _worker(app, redis_url: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "CEROC_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "CEROC_ARCHIVE_DIR": app.config["ARCHIVE_DIR"],
        "CEROC_SECRET_KEY": "test",
        # The worker writes audit events: the same key as the app's, or the chain breaks.
        "CEROC_AUDIT_KEY": app.config["AUDIT_KEY"],
        "CEROC_REDIS_URL": redis_url,
        "CEROC_JOBS_STALE_SECONDS": "3600",
        "PYTHONPATH": str(ROOT),
    }
    with open(log, "ab") as out:
        return subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "ceroc_donations", "worker"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


@pytest.mark.fault
@pytest.mark.timeout(180)
def test_a_worker_killed_mid_batch_is_resumed_gap_free(redis_app, tmp_path):
    """SIGKILL the worker in the middle of a batch, start it again: the batch finishes,
    letter numbers gap-free, no gift with two letters, no PDF without its row."""
    from ceroc_donations.letters import jobs

    app = redis_app
    _more_gifts(app, 12)
    with app.app_context():
        from ceroc_donations.letters import delivery

        batch = jobs.create_batch([c.id for c in delivery.queue()], by=None)
        db.session.commit()
        batch_id, total = batch.id, batch.total
        jobs.start_batch(batch_id)
    assert total == 15
    log = tmp_path / "worker.log"
    worker = _worker(app, app.config["REDIS_URL"], log)
    try:
        running = _wait(app, batch_id, lambda b: b.done >= 3 or b.status != "queued")
        running = _wait(app, batch_id, lambda b: b.done >= 3 or b.status != "running")
        assert running.status == "running", log.read_text()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        with app.app_context():
            killed = db.session.get(LetterBatch, batch_id)
            assert killed.status == "running" and 3 <= killed.done < total
        # Its heartbeat is fresh, but its process is gone: a new worker on this machine
        # takes the batch back at once and resumes it.
        worker = _worker(app, app.config["REDIS_URL"], log)
        done = _wait(app, batch_id, lambda b: b.status in ("done", "failed"))
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
            worker.wait(timeout=60)
    assert done.status == "done" and done.done == total, log.read_text()
    assert done.attempts == 2
    with app.app_context():
        letters = db.session.execute(select(Letter).order_by(Letter.number)).scalars().all()
        numbers = [letter.number for letter in letters]
        assert numbers == list(range(1, len(letters) + 1))
        per_gift = db.session.execute(
            select(func.count()).select_from(Letter).group_by(Letter.contribution_id)
        ).scalars()
        assert set(per_gift) == {1}
        assert len(letters) == total
        archive = Path(app.config["ARCHIVE_DIR"])
        files = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*.pdf"))
        assert files == sorted(letter.pdf_path for letter in letters)
        for letter in letters:
            pdf = (archive / letter.pdf_path).read_bytes()
            assert hashlib.sha256(pdf).hexdigest() == letter.sha256
        checked, problems = verify()
        assert not problems and checked
    assert "resumed after" in log.read_text()
