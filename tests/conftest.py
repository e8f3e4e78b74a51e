from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask_sqlalchemy.session import Session
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ceroc_donations import create_app
from ceroc_donations.accounts.models import User
from ceroc_donations.extensions import db
from ceroc_donations.security import hash_password

PASSWORD = "correct-horse-battery"
#: Run the suite on PostgreSQL with e.g.
#: CEROC_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5433/ceroc_test
TEST_DATABASE_URL = os.environ.get("CEROC_TEST_DATABASE_URL")
ROLES = ("admin", "treasurer", "board", "member")

# argon2 at full strength costs ~0.1 s a hash; tests share one hash per password.
_HASH = hash_password(PASSWORD)


def _config(folder: Path, url: str) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test",
        "SQLALCHEMY_DATABASE_URI": url,
        "RECEIPTS_DIR": str(folder / "receipts"),
        "ARCHIVE_DIR": str(folder / "letters"),
        "IMPORTS_DIR": str(folder / "imports"),
        "WTF_CSRF_ENABLED": False,
        "AUDIT_KEY": "test-audit-key",
        "JOBS_IMMEDIATE": True,
    }


def _fresh_schema(app: Flask) -> None:
    """Empty tables and the four users, one per role, committed."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":  # a server database outlives the test
            db.drop_all()
        db.create_all()
        for role in ROLES:
            db.session.add(
                User(
                    email=f"{role}@test.example", name=role.title(), role=role, password_hash=_HASH
                )
            )
        db.session.commit()


class _JoinedSession(Session):
    """Flask-SQLAlchemy's session picks its engine itself; this one keeps the given connection."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        return bind if bind is not None else self.bind


def _sequences(connection: Connection) -> list[tuple[str, int | None]]:
    """PostgreSQL sequences and their values: a rollback does not rewind them, so we do."""
    if connection.dialect.name != "postgresql":
        return []
    rows = connection.execute(
        text("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences")
    )
    return [tuple(row) for row in rows]


def _rewind(connection: Connection, sequences: list[tuple[str, int | None]]) -> None:
    for name, value in sequences:
        connection.execute(
            text("SELECT setval(:name, :value, :called)"),
            {"name": name, "value": value or 1, "called": value is not None},
        )


@pytest.fixture(scope="session")
def _shared_app(tmp_path_factory):
    """One app, one schema and its users for the whole session (SQLite or PostgreSQL).

    Building an app compiles some hundred URL rules, which costs more than most tests.
    """
    folder = tmp_path_factory.mktemp("shared")
    app = create_app(_config(folder, TEST_DATABASE_URL or f"sqlite:///{folder / 'test.sqlite'}"))
    _fresh_schema(app)
    with app.app_context():
        with db.engine.connect() as connection:
            sequences = _sequences(connection)
    yield app, sequences
    with app.app_context():
        db.engine.dispose()


def _rolled_back_app(shared, folder: Path):
    """The shared app inside one transaction that is rolled back afterwards.

    ``db.session`` joins that transaction with SAVEPOINTs (SQLAlchemy's "join an external
    transaction" recipe): a commit in the code under test releases a savepoint, so later
    sessions of the same test see it, and the end of the test undoes everything. The
    config is the test's own too: changes to it are undone, and files go to *folder*.
    """
    app, sequences = shared
    config = dict(app.config)
    health_checks = dict(app.extensions.get("ceroc_health", {}))
    app.config.update({k: v for k, v in _config(folder, "").items() if k.endswith("_DIR")})
    with app.app_context():
        connection = db.engine.connect()
        outer = connection.begin()
        _rewind(connection, sequences)
    session = db.session
    db.session = db._make_scoped_session(
        {"class_": _JoinedSession, "bind": connection, "join_transaction_mode": "create_savepoint"}
    )
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
        db.session = session
        outer.rollback()
        connection.close()
        app.config.clear()
        app.config.update(config)
        app.extensions["ceroc_health"] = health_checks
        # Pages drawn for this test's books: the next test's books may share an audit head
        # (fixtures that write rows without the services leave the chain empty).
        app.extensions.pop("ceroc_page_cache", None)
        _fresh_job_queue(app)


def _fresh_job_queue(app: Flask) -> None:
    """Forget the job queue a test made (it is built from the config when first used)."""
    from ceroc_donations.jobs import queue

    old = queue.state(app)
    old.stop_consumer()
    app.extensions["ceroc_jobs"] = type(old)(app, old._tasks, old._periodic)


def _own_database_app(folder: Path):
    """The app on a database of its own (SQLite) or a fresh schema (PostgreSQL), committed."""
    app = create_app(_config(folder, TEST_DATABASE_URL or f"sqlite:///{folder / 'own.sqlite'}"))
    _fresh_schema(app)
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            if TEST_DATABASE_URL:  # leave the shared schema as the other tests expect it
                _fresh_schema(app)
            db.engine.dispose()


@pytest.fixture
def app(request, tmp_path):
    """The app with four users (admin, treasurer, board, member) and nothing else.

    Each test runs inside a transaction that is rolled back. A test whose data must be seen
    by other connections (a worker process, threads, a second engine) is marked
    ``@pytest.mark.own_database`` and gets a database of its own, really committed.

    On PostgreSQL every test gets a fresh schema: some code commits on connections of its
    own there (login-failure counters, advisory-locked counters), which a rolled-back
    savepoint does not undo, so rows would leak from one test into the next.
    """
    if TEST_DATABASE_URL or request.node.get_closest_marker("own_database"):
        yield from _own_database_app(tmp_path)
    else:
        yield from _rolled_back_app(request.getfixturevalue("_shared_app"), tmp_path)


def pytest_runtest_setup(item):
    """``@pytest.mark.tools("qpdf", ...)``: skip when a program is missing, fail under CI."""
    for marker in item.iter_markers("tools"):
        missing = [name for name in marker.args if not shutil.which(name)]
        if missing:
            message = f"not installed: {', '.join(missing)} (run scripts/setup.sh --test)"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """Debian's ``redis-server`` on 127.0.0.1:``CEROC_TEST_REDIS_PORT`` (default 56379), for
    one test module; skipped when it is not installed."""
    from tests.redis_support import RedisServer, have_redis

    if not have_redis():
        pytest.skip("redis-server is not installed")
    port = int(os.environ.get("CEROC_TEST_REDIS_PORT", "56379"))
    server = RedisServer(port, tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def csrf_app(app):
    app.config["WTF_CSRF_ENABLED"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, role: str = "treasurer"):
        response = self.client.post(
            "/login", data={"email": f"{role}@test.example", "password": PASSWORD}
        )
        assert response.status_code == 302, response.data
        return response

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def ctx(app):
    """An app context for calling services directly."""
    with app.app_context():
        yield


@pytest.fixture
def user(ctx):
    from sqlalchemy import select

    return db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()


@pytest.fixture
def funds(ctx, user):
    from ceroc_donations.book import service as book

    general = book.create_fund("general", "General", name_km="ទូទៅ", by=user)
    promo = book.create_fund("promotion", "Promotion & petition collection", by=user)
    db.session.commit()
    return general, promo


@pytest.fixture
def donor(ctx, user):
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_donor

    d = book.create_donor(parse_donor({"name_en": "CNRP Minnesota", "country": "US"}), by=user)
    db.session.commit()
    return d


def contribution_form(donor_id, fund_id, **overrides):
    data = {
        "donor_ids": [str(donor_id)],
        "amount": "400.00",
        "currency": "USD",
        "exchange_rate": "1",
        "received_on": "2014-06-15",
        "fund_id": str(fund_id),
        "received_by": "Mrs. Janet Seng",
        "occasion": "Trip to Minnesota",
        "method": "cash",
        "public_display": "default",
    }
    data.update(overrides)
    return data


def pytest_collection_modifyitems(items):
    """A test with a real job consumer thread needs committed data: a database of its own."""
    for item in items:
        if "consumer" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.own_database)
