"""Faults, as they happen on a server: the web app SIGKILLed while clients post, Redis stopped
in the middle of a letter batch. (A worker SIGKILLed mid-batch: tests/test_jobs_redis.py.)

Marked ``fault``: they run in the normal suite, and scripts/test-faults.sh runs them 5 times.
Each is bounded by a timeout.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import threading
import time
from collections import Counter as Tally
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ceroc_donations.audit import verify
from ceroc_donations.book.models import Contribution
from ceroc_donations.database import read_only
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter, LetterBatch
from tests.redis_support import RedisServer, needs_redis
from tests.serving_support import Connection, Gunicorn, free_port, seed_book, server_env

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = [pytest.mark.own_database, pytest.mark.fault]

CLIENTS = 4
POSTS = 200  # in all; the kill comes after a quarter of them were answered


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie of an exited child is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.timeout(120)
def test_web_app_killed_while_clients_post_loses_and_doubles_nothing(app, tmp_path):
    """SIGKILL gunicorn (master and workers) while 4 clients post; start it again on the
    same port. Each
    client resends a request that got no answer, with the same Idempotency-Key, until it gets
    one: every gift answered 2xx is stored exactly once, references gap-free."""
    token, funds, donors = seed_book(app)
    env = server_env(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "storage")
    server = Gunicorn(env, tmp_path / "gunicorn.log", workers=2).start()
    answers: dict[int, tuple[int, dict]] = {}
    failures = Tally()
    lock = threading.Lock()
    deadline = time.monotonic() + 90

    def client(k: int) -> None:
        conn = Connection(server.port, headers={"Authorization": f"Bearer {token}"}, timeout=20)
        for n in range(k, POSTS, CLIENTS):
            body = {
                "donor_ids": [donors[n % 3]],
                "amount": f"{n + 1}.00",
                "currency": "USD",
                "received_on": "2014-06-15",
                "fund_id": funds[n % 2],
                "method": "cash",
            }
            while time.monotonic() < deadline:
                try:
                    status, data = conn.request(
                        "POST",
                        "/api/v1/contributions",
                        json_body=body,
                        headers={"Idempotency-Key": f"fault-{n}"},
                        retry=False,
                    )
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    with lock:
                        failures[type(exc).__name__] += 1
                    time.sleep(0.05)
                    continue
                with lock:
                    answers[n] = (status, json.loads(data) if status < 300 else {"raw": str(data)})
                break
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    try:
        for t in threads:
            t.start()
        while len(answers) < POSTS // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        # SIGKILL the whole app at once, as `systemctl kill -s KILL` does to its cgroup: the
        # master first, then its workers (killed alone, the master's orphans would finish
        # their requests and leave gracefully).
        workers = _children(server.proc.pid)
        assert workers, "gunicorn has no workers"
        server.proc.send_signal(signal.SIGKILL)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert server.stop() == -signal.SIGKILL
        answered_at_kill = len(answers)
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(_alive(pid) for pid in workers)
        server.start()
        for t in threads:
            t.join(timeout=max(1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "clients did not finish"
    finally:
        server.stop()

    assert answered_at_kill < POSTS
    assert sum(failures.values()) > 0, "no request met the dead server: the kill came too late"
    statuses = Tally(status for status, _ in answers.values())
    assert set(statuses) <= {200, 201}, (statuses, server.logs())
    assert len(answers) == POSTS
    with app.app_context():
        rows = db.session.execute(select(Contribution)).scalars().all()
        refs = sorted(c.reference for c in rows)
        assert refs == [f"C-2014-{n:04d}" for n in range(1, len(rows) + 1)]
        # Exactly once: one row per gift asked for, and each answer names its own row.
        assert len(rows) == POSTS
        by_ref = {c.reference: c for c in rows}
        assert len({b["reference"] for _, b in answers.values()}) == POSTS
        for n, (_, b) in answers.items():
            assert by_ref[b["reference"]].amount_minor == (n + 1) * 100
        db.session.remove()
        db.engine.dispose()


def _wait(app, batch_id: int, until, timeout: float) -> LetterBatch:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context(), read_only():
            batch = db.session.get(LetterBatch, batch_id)
            db.session.expunge(batch)
        if until(batch) or time.monotonic() > deadline:
            return batch
        time.sleep(0.05)


@needs_redis
@pytest.mark.timeout(120)
def test_redis_stopped_mid_batch_fails_cleanly_and_the_batch_starts_again(app, client, tmp_path):
    """Redis stops while a batch runs and another is being started. The running one is not
    harmed (its state is in the database); the one that cannot be queued fails with a message
    and nothing numbered; with Redis back, the same consumer runs it to the end."""
    from ceroc_donations.jobs import queue
    from ceroc_donations.letters import jobs
    from tests.test_jobs_redis import _more_gifts

    redis = RedisServer(free_port(), tmp_path).start()
    app.config.update(JOBS_IMMEDIATE=False, REDIS_URL=redis.url)
    state = queue.state(app)
    _more_gifts(app, 12)
    with app.app_context():
        from ceroc_donations.letters import delivery

        gifts = [c.id for c in delivery.queue()]
        first = jobs.create_batch(gifts[:8], by=None)
        second = jobs.create_batch(gifts[8:], by=None)
        db.session.commit()
        first_id, second_id = first.id, second.id
        jobs.start_batch(first_id)
    state.start_consumer(lock=False)
    try:
        running = _wait(app, first_id, lambda b: b.done >= 2 or b.status != "queued", 60)
        assert running.status == "running", running.error
        redis.stop()
        assert client.get("/healthz").status_code == 503  # the queue cannot be reached

        with app.app_context():
            jobs.start_batch(second_id)  # cannot be queued: marked failed, committed
        failed = _wait(app, second_id, lambda b: b.status != "queued", 5)
        assert failed.status == "failed"
        assert "job queue could not be reached" in failed.error
        assert failed.done == 0 and failed.letter_ids == []
        with app.app_context():
            numbered = db.session.execute(
                select(func.count())
                .select_from(Letter)
                .where(Letter.contribution_id.in_(gifts[8:]))
            ).scalar_one()
            assert numbered == 0
        # The running batch needs only the database: it finishes.
        done = _wait(app, first_id, lambda b: b.status in ("done", "failed"), 60)
        assert done.status == "done" and done.done == 8, done.error

        redis.start()
        with app.app_context():
            jobs.restart_batch(db.session.get(LetterBatch, second_id), by=None)
            db.session.commit()
            jobs.start_batch(second_id)
        again = _wait(app, second_id, lambda b: b.status in ("done", "failed"), 60)
        assert again.status == "done" and again.done == again.total == 7, again.error
        assert again.attempts == 1  # it never ran before the restart
    finally:
        state.stop_consumer()
        redis.stop()

    with app.app_context():
        letters = db.session.execute(select(Letter).order_by(Letter.number)).scalars().all()
        assert [letter.number for letter in letters] == list(range(1, 16))
        assert sorted(letter.contribution_id for letter in letters) == sorted(gifts)
        archive = Path(app.config["ARCHIVE_DIR"])
        files = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*.pdf"))
        assert files == sorted(letter.pdf_path for letter in letters)
        for letter in letters:
            pdf = (archive / letter.pdf_path).read_bytes()
            assert hashlib.sha256(pdf).hexdigest() == letter.sha256
        checked, problems = verify()
        assert not problems and checked
