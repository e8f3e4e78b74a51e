"""Engine set-up: SQLite pragmas, write transactions, counters."""

from __future__ import annotations

import contextvars
import fcntl
import os
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import has_request_context, request
from sqlalchemy import event, select, text, update
from sqlalchemy.engine import Engine

from ceroc_donations.extensions import db


def utcnow() -> datetime:
    """Naive UTC now, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


_read_only = contextvars.ContextVar("ceroc_read_only", default=False)


@contextmanager
def read_only():
    """Start transactions inside the block as plain (deferred) ones: for long reads."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def _wants_write_lock() -> bool:
    if _read_only.get():
        return False
    if has_request_context():
        return request.method not in ("GET", "HEAD", "OPTIONS")
    return True


def configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` for writing requests.

    Writers take SQLite's write lock when their transaction starts, so counters and the
    audit chain read and bump their values without a race; reads stay concurrent.

    Under several gunicorn workers and threads, writers first queue in :class:`_Writers`;
    SQLite's busy handler alone sleeps longer and longer between tries (up to 100 ms),
    which made the slowest writes wait several times longer than the median.
    """
    path = engine.url.database
    on_disk = path not in (None, "", ":memory:") and not path.startswith("file:")
    lock_path = os.path.abspath(path) + "-writers" if on_disk else None
    writers = _Writers(lock_path) if lock_path else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if on_disk:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        if lock_path:
            record.info[_LOCK_FD] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            record.info[_WRITERS] = writers

    @event.listens_for(engine, "close")
    def _on_close(dbapi_conn, record):
        _unlock(record.info)
        fd = record.info.pop(_LOCK_FD, None)
        if fd is not None:
            os.close(fd)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        if not _wants_write_lock():
            conn.exec_driver_sql("BEGIN")
            return
        info = conn.connection.info
        if _LOCK_FD in info and not info.get(_LOCKED):
            info[_LOCKED] = info[_WRITERS].take(info[_LOCK_FD])
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _unlock(info)
            raise

    # The next writer may start as this one commits: SQLite's own lock covers the instant.
    @event.listens_for(engine, "commit")
    def _on_commit(conn):
        _unlock(conn.connection.info)

    @event.listens_for(engine, "rollback")
    def _on_rollback(conn):
        if not conn.invalidated:
            _unlock(conn.connection.info)

    @event.listens_for(engine, "reset")
    def _on_reset(dbapi_conn, record, reset_state):
        _unlock(record.info)  # a connection goes back to the pool: never with the lock


SQLITE_BUSY_TIMEOUT_MS = 15000
_LOCK_FD = "ceroc_writer_lock_fd"
_LOCKED = "ceroc_writer_locked"
_WRITERS = "ceroc_writers"


class _Writers:
    """The queue of writers to one SQLite file, as seen from this process.

    - Threads of a process wait for its turn on a lock of the process: they sleep until it
      is handed to them, and only the holder tries the file lock.
    - Processes share an ``flock`` of ``<database>-writers``, tried every 0.2 ms by the one
      thread of each process that waits for it.
    - A process whose writer waits says so with a shared ``flock`` of ``…-waiting``. A
      process that has just written and sees another one waiting lets it go first, so one
      busy process cannot keep the lock from the others (that made a slow tail of writes).

    Each pooled connection has its own descriptor of the lock file (an ``flock`` belongs to
    an open file): closing it releases a lock still held.
    """

    POLL = 0.0002
    #: How long a writer stands back when another process is already waiting.
    STAND_BACK = 0.001

    def __init__(self, lock_path: str):
        self.threads = threading.Lock()
        self._waiting_path = lock_path + "-waiting"
        self._waiting_fd: int | None = None

    def _waiting(self) -> int:
        if self._waiting_fd is None:
            self._waiting_fd = os.open(self._waiting_path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._waiting_fd

    def _others_wait(self, flag: int) -> bool:
        if not _try_flock(flag):
            return True
        fcntl.flock(flag, fcntl.LOCK_UN)
        return False

    def take(self, fd: int) -> bool:
        """Wait for the writers' lock; False if the busy timeout passed first (SQLite's
        own lock and timeout then decide, so a stuck writer is an error, not a hang)."""
        timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            return False
        flag = self._waiting()
        pause = self.POLL
        if self._others_wait(flag):
            pause = self.STAND_BACK
        elif _try_flock(fd):
            return True
        fcntl.flock(flag, fcntl.LOCK_SH)  # "a writer of this process waits"
        try:
            while True:
                time.sleep(pause)
                pause = self.POLL
                if _try_flock(fd):
                    return True
                if time.monotonic() > deadline:
                    self.threads.release()
                    return False
        finally:
            fcntl.flock(flag, fcntl.LOCK_UN)

    def release(self, fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.threads.release()


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(info: dict) -> None:
    if info.pop(_LOCKED, False):
        info[_WRITERS].release(info[_LOCK_FD])


#: The advisory lock PostgreSQL writers take before their first counter (see next_value).
NUMBERING_LOCK = 20140309

_BUMP = "UPDATE counter SET value = counter.value + 1 WHERE counter.name = :name RETURNING value"
# The lock and the first bump in one round trip: the counter row is updated only once the
# lock is held (the row comes from the join with the lock's one row), and PostgreSQL
# re-reads a row another writer changed meanwhile, so the value is always the newest.
_LOCK_AND_BUMP = (
    "WITH numbering AS MATERIALIZED (SELECT pg_advisory_xact_lock(:lock)) "
    "UPDATE counter SET value = counter.value + 1 FROM numbering "
    "WHERE counter.name = :name RETURNING counter.value"
)


def _holds_numbering_lock() -> bool:
    """True when this transaction (outside any savepoint) took the numbering lock already."""
    session = db.session()
    held = session.info.get(_LOCK_HELD)
    return held is not None and held is session.get_transaction()


def next_value(name: str) -> int:
    """Bump counter *name* and return its new value, inside the caller's transaction.

    ``UPDATE … RETURNING`` locks the row (PostgreSQL) or runs under the write lock
    (SQLite), so two writers never get the same number and a rollback leaves no gap.

    On PostgreSQL, writers that number things take one advisory lock first, as SQLite's
    ``BEGIN IMMEDIATE`` does: counters are then always locked in one order and two writers
    cannot deadlock. The lock is taken in the same statement as the first bump of a
    transaction, and not asked for again by later ones (it is held to the commit).
    """
    from ceroc_donations.accounts.models import Counter

    session = db.session()
    if session.get_bind().dialect.name == "postgresql" and not _holds_numbering_lock():
        value = session.execute(
            text(_LOCK_AND_BUMP), {"lock": NUMBERING_LOCK, "name": name}
        ).scalar()
        if value is None:  # no counter row yet: the join may not have taken the lock
            session.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": NUMBERING_LOCK})
        if session.get_nested_transaction() is None:  # a savepoint's rollback may release it
            session.info[_LOCK_HELD] = session.get_transaction()
    else:
        value = session.execute(text(_BUMP), {"name": name}).scalar()
    if value is None:
        nested = session.begin_nested()
        try:
            session.add(Counter(name=name, value=1))
            session.flush()
            nested.commit()
            value = 1
        except Exception:
            nested.rollback()
            value = session.execute(
                update(Counter)
                .where(Counter.name == name)
                .values(value=Counter.value + 1)
                .returning(Counter.value)
            ).scalar_one()
    return value


def next_values(name: str, count: int) -> range:
    """Bump counter *name* by *count* and return the values taken, as :func:`next_value`
    does one at a time (the same lock; a rollback leaves no gap)."""
    from ceroc_donations.accounts.models import Counter

    if count <= 0:
        return range(0)
    first = next_value(name)  # takes the numbering lock and makes a new counter
    if count == 1:
        return range(first, first + 1)
    last = db.session.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + count - 1)
        .returning(Counter.value)
    ).scalar_one()
    return range(first, last + 1)


_LOCK_HELD = "ceroc_numbering_lock_held"


def current_value(name: str) -> int:
    from ceroc_donations.accounts.models import Counter

    return db.session.execute(select(Counter.value).where(Counter.name == name)).scalar() or 0
