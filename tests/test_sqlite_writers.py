"""SQLite under several processes and threads: WAL, a busy timeout, and writers queueing on
``<database>-writers`` before ``BEGIN IMMEDIATE`` (ceroc_donations.database)."""

from __future__ import annotations

import fcntl
import os
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from ceroc_donations import database
from ceroc_donations.extensions import db
from tests.conftest import TEST_DATABASE_URL

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = [
    pytest.mark.own_database,
    pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="SQLite only"),
]


def _lock_file(app) -> str:
    return db.engine.url.database + "-writers"


def _free(path: str) -> bool:
    """Whether another process (another open file) could take the writers' lock now."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_pragmas(app):
    with app.app_context():
        conn = db.session.connection()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        db.session.rollback()


def test_a_writer_holds_the_queue_until_commit_or_rollback(app):
    with app.app_context():
        path = _lock_file(app)
        db.session.execute(text("UPDATE counter SET value = value WHERE 0"))
        assert not _free(path)
        db.session.commit()
        assert _free(path)

        db.session.execute(text("UPDATE counter SET value = value WHERE 0"))
        assert not _free(path)
        db.session.rollback()
        assert _free(path)

        # A failed statement, then the session is closed: the lock goes with it.
        with pytest.raises(OperationalError):
            db.session.execute(text("INSERT INTO no_such_table VALUES (1)"))
        db.session.remove()
        assert _free(path)


def test_readers_do_not_queue(app):
    with app.test_request_context("/", method="GET"):
        path = _lock_file(app)
        db.session.execute(text("SELECT 1")).scalar()
        assert _free(path)
        db.session.rollback()


def test_threads_take_turns(app):
    """Eight threads bump one counter 25 times each: every bump lands, none is lost."""
    from ceroc_donations.database import current_value, next_value

    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with app.app_context():
                for _ in range(25):
                    next_value("turns")
                    db.session.commit()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        assert current_value("turns") == 200
        db.session.rollback()  # outside a request every transaction queues as a writer
        assert _free(_lock_file(app))


def test_a_stuck_queue_is_bounded_by_the_busy_timeout(app, monkeypatch):
    """Someone holds the writers' lock and never lets go: a writer waits for the busy
    timeout, then goes on under SQLite's own lock instead of hanging."""
    monkeypatch.setattr(database, "SQLITE_BUSY_TIMEOUT_MS", 300)
    with app.app_context():
        path = _lock_file(app)
    holder = os.open(path, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with app.app_context():
            db.session.execute(text("UPDATE counter SET value = value WHERE 0"))
            db.session.commit()
    finally:
        os.close(holder)


def test_a_process_that_just_wrote_lets_a_waiting_one_go_first(tmp_path, monkeypatch):
    """Two processes' queues on one file: while B waits, A writes and at once wants to write
    again; A stands back and B goes first (a busy process cannot starve the other)."""
    monkeypatch.setattr(database._Writers, "STAND_BACK", 0.2)  # far above any scheduling delay
    path = str(tmp_path / "book.sqlite-writers")
    a, b = database._Writers(path), database._Writers(path)
    fds = [os.open(path, os.O_RDWR | os.O_CREAT) for _ in range(3)]
    order: list[str] = []
    try:
        assert a.take(fds[0])

        def b_writes() -> None:
            assert b.take(fds[1])
            order.append("B")
            b.release(fds[1])

        waiter = threading.Thread(target=b_writes)
        waiter.start()
        while a._others_wait(a._waiting()) is False:  # until B says it waits
            threading.Event().wait(0.001)
        a.release(fds[0])
        assert a.take(fds[2])
        order.append("A")
        waiter.join()
        assert order == ["B", "A"]
    finally:
        for fd in fds:
            os.close(fd)


def test_a_closed_connection_gives_back_its_turn(app):
    """A pooled connection dropped while it holds the writers' lock hands on this process's
    turn as well as the file lock: the next writer of the process is not stuck."""
    with app.app_context():
        db.session.execute(text("UPDATE counter SET value = value WHERE 0"))
        db.session.connection().invalidate()
        db.session.rollback()
        db.session.execute(text("UPDATE counter SET value = value WHERE 0"))
        db.session.commit()
        assert _free(_lock_file(app))
