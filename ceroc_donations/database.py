"""Engine set-up: SQLite pragmas, write transactions, counters."""

from __future__ import annotations

import contextvars
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
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=15000")
        if engine.url.database not in (None, "", ":memory:"):
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _wants_write_lock() else "BEGIN")


def next_value(name: str) -> int:
    """Bump counter *name* and return its new value, inside the caller's transaction.

    ``UPDATE … RETURNING`` locks the row (PostgreSQL) or runs under the write lock
    (SQLite), so two writers never get the same number and a rollback leaves no gap.
    """
    from ceroc_donations.accounts.models import Counter

    if db.session.get_bind().dialect.name == "postgresql":
        # Writers that number things take one lock first, as SQLite's BEGIN IMMEDIATE does:
        # counters are then always locked in one order and two writers cannot deadlock.
        db.session.execute(text("SELECT pg_advisory_xact_lock(20140309)"))
    value = db.session.execute(
        update(Counter)
        .where(Counter.name == name)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar()
    if value is None:
        nested = db.session.begin_nested()
        try:
            db.session.add(Counter(name=name, value=1))
            db.session.flush()
            nested.commit()
            value = 1
        except Exception:
            nested.rollback()
            value = db.session.execute(
                update(Counter)
                .where(Counter.name == name)
                .values(value=Counter.value + 1)
                .returning(Counter.value)
            ).scalar_one()
    return value


def current_value(name: str) -> int:
    from ceroc_donations.accounts.models import Counter

    return db.session.execute(select(Counter.value).where(Counter.name == name)).scalar() or 0
