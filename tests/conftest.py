from __future__ import annotations

import os

import pytest

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


@pytest.fixture
def app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "AUDIT_KEY": "test-audit-key",
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.sqlite'}",
            "RECEIPTS_DIR": str(tmp_path / "receipts"),
            "ARCHIVE_DIR": str(tmp_path / "letters"),
            "IMPORTS_DIR": str(tmp_path / "imports"),
            "WTF_CSRF_ENABLED": False,
            "JOBS_IMMEDIATE": True,
        }
    )
    with app.app_context():
        if TEST_DATABASE_URL:  # a server database is shared: start each test from empty
            db.drop_all()
        db.create_all()
        for role in ROLES:
            db.session.add(
                User(
                    email=f"{role}@test.example", name=role.title(), role=role, password_hash=_HASH
                )
            )
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


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
