"""Log-in throttling, timing of unknown emails, response headers, production refusals."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from ceroc_donations import create_app, security
from ceroc_donations.accounts.models import User
from ceroc_donations.extensions import db
from tests.conftest import _HASH, PASSWORD, TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent


def _login(client, email, password, address="10.0.0.1", **kw):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
        **kw,
    )


# --- throttling ---------------------------------------------------------------------------


def test_one_address_cannot_lock_out_everyone_behind_it(client):
    # Twenty bad log-ins from one address (a shared proxy or NAT), on twenty accounts ...
    for n in range(20):
        assert _login(client, f"nobody{n}@test.example", "wrong").status_code == 401
    # ... and the people behind the same address still log in to their own accounts.
    assert _login(client, "member@test.example", PASSWORD).status_code == 302


def test_failures_from_one_address_do_not_lock_the_account_elsewhere(app):
    attacker, owner = app.test_client(), app.test_client()
    for _ in range(5):
        assert _login(attacker, "board@test.example", "wrong", "10.6.6.6").status_code == 401
    for _ in range(15):  # blocked from here on: the account counter is not fed any more
        assert _login(attacker, "board@test.example", "wrong", "10.6.6.6").status_code == 429
    assert _login(attacker, "board@test.example", PASSWORD, "10.6.6.6").status_code == 429
    assert _login(owner, "board@test.example", PASSWORD, "10.1.1.1").status_code == 302


def test_many_addresses_lock_the_account(app, client):
    app.config["LOGIN_MAX_FAILURES"] = 2  # the account locks at 4 × 2 from four addresses
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"):
        for _ in range(2):
            assert _login(client, "board@test.example", "wrong", address).status_code == 401
    assert _login(client, "board@test.example", PASSWORD, "10.0.0.9").status_code == 429
    assert _login(client, "member@test.example", PASSWORD, "10.0.0.9").status_code == 302


def test_a_spraying_address_may_not_retry_the_accounts_it_failed(app):
    app.config["LOGIN_ADDRESS_MAX_FAILURES"] = 4
    client = app.test_client()
    for email in ("board@test.example", "a@test.example", "b@test.example", "c@test.example"):
        assert _login(client, email, "Summer2026!", "10.9.9.9").status_code == 401
    assert _login(client, "board@test.example", PASSWORD, "10.9.9.9").status_code == 429
    assert _login(client, "member@test.example", PASSWORD, "10.9.9.9").status_code == 302
    other = app.test_client()
    assert _login(other, "board@test.example", PASSWORD, "10.1.1.1").status_code == 302


def test_a_good_login_forgets_this_address_mistakes(app, client):
    app.config["LOGIN_MAX_FAILURES"] = 3
    for _ in range(2):
        assert _login(client, "member@test.example", "wrong").status_code == 401
    assert _login(client, "member@test.example", PASSWORD).status_code == 302
    client.post("/logout")
    for _ in range(2):
        assert _login(client, "member@test.example", "wrong").status_code == 401
    assert _login(client, "member@test.example", PASSWORD).status_code == 302


def test_forwarded_for_is_ignored_unless_proxies_are_trusted(app):
    client = app.test_client()
    for n in range(5):  # a client cannot dodge the limit by inventing X-Forwarded-For
        headers = {"X-Forwarded-For": f"192.0.2.{n}"}
        assert _login(client, "board@test.example", "x", headers=headers).status_code == 401
    headers = {"X-Forwarded-For": "192.0.2.77"}
    assert _login(client, "board@test.example", PASSWORD, headers=headers).status_code == 429


@pytest.fixture
def proxied_app(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "AUDIT_KEY": "test-audit-key",
            "TRUSTED_PROXIES": 1,
            "WTF_CSRF_ENABLED": False,
            "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'p.sqlite'}",
        }
    )
    with app.app_context():
        if TEST_DATABASE_URL:
            db.drop_all()
        db.create_all()
        db.session.add(
            User(email="board@test.example", name="B", role="board", password_hash=_HASH)
        )
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_behind_a_trusted_proxy_each_client_counts_on_its_own(proxied_app):
    client = proxied_app.test_client()
    for _ in range(5):
        headers = {"X-Forwarded-For": "192.0.2.1"}
        r = _login(client, "board@test.example", "x", "127.0.0.1", headers=headers)
        assert r.status_code == 401
    headers = {"X-Forwarded-For": "192.0.2.1"}
    assert _login(client, "board@test.example", PASSWORD, headers=headers).status_code == 429
    headers = {"X-Forwarded-For": "192.0.2.2"}
    assert _login(client, "board@test.example", PASSWORD, headers=headers).status_code == 302


def test_trusted_proxy_says_https(proxied_app):
    client = proxied_app.test_client()
    r = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert r.headers["Strict-Transport-Security"].startswith("max-age=")
    r = _login(client, "board@test.example", PASSWORD, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in r.headers["Set-Cookie"]


# --- timing -------------------------------------------------------------------------------


class _CountingHasher(PasswordHasher):
    def __init__(self):
        super().__init__()
        self.verified = []

    def verify(self, hash, password):  # noqa: A002 - argon2's own parameter name
        self.verified.append(hash)
        return super().verify(hash, password)


@pytest.mark.parametrize(
    "email",
    ["nobody@test.example", "member@test.example"],
    ids=["unknown email", "wrong password"],
)
def test_unknown_email_costs_one_argon2_verification_like_a_wrong_password(
    client, monkeypatch, email
):
    hasher = _CountingHasher()
    monkeypatch.setattr(security, "_hasher", hasher)
    assert _login(client, email, "wrong").status_code == 401
    assert len(hasher.verified) == 1
    assert hasher.verified[0].startswith("$argon2id$")
    params = hasher.verified[0].split("$")[3]
    assert params == f"m={hasher.memory_cost},t={hasher.time_cost},p={hasher.parallelism}"


def test_disabled_account_costs_a_verification_and_does_not_log_in(app, client, monkeypatch):
    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "member")).scalar_one()
        user.active = False
        db.session.commit()
    hasher = _CountingHasher()
    monkeypatch.setattr(security, "_hasher", hasher)
    assert _login(client, "member@test.example", PASSWORD).status_code == 401
    assert len(hasher.verified) == 1


# --- headers ------------------------------------------------------------------------------

PAGES = ["/", "/contributions/", "/donors/", "/ledger/", "/account", "/users", "/audit"]


@pytest.mark.parametrize("path", ["/login", "/nowhere", "/static/css/app.css", *PAGES])
def test_security_headers_on_every_response(client, auth, path):
    auth.login("admin")
    r = client.get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in r.headers  # plain HTTP
    r.close()


def test_api_and_errors_carry_the_headers_too(client):
    r = client.get("/api/v1/donors")
    assert r.status_code == 401
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_pages_hold_no_inline_script_or_style(client, auth, path):
    auth.login("admin")
    html = client.get(path).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert not re.search(r"<style|\sstyle\s*=|javascript:", html, re.I)


def test_templates_hold_no_inline_script_style_or_handler():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for pattern in (
            r"<script(?![^>]*\bsrc=)[^>]*>",
            r"\son[a-z]+\s*=\s*[\"']",
            r"<style|\sstyle\s*=",
            r"javascript:",
        ):
            if re.search(pattern, text, re.I):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert offenders == []


def test_https_gets_hsts_and_secure_cookies(client):
    r = client.get("/login", base_url="https://localhost")
    assert r.headers["Strict-Transport-Security"] == security.HSTS
    r = client.post(
        "/login",
        data={"email": "member@test.example", "password": PASSWORD},
        base_url="https://localhost",
    )
    assert r.status_code == 302
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_plain_http_cookies_are_not_secure(client):
    r = client.post("/login", data={"email": "member@test.example", "password": PASSWORD})
    assert r.status_code == 302 and "Secure" not in r.headers["Set-Cookie"]


def test_preferred_https_makes_cookies_secure_behind_a_tls_proxy(app, client):
    app.config["PREFERRED_URL_SCHEME"] = "https"
    r = client.post("/login", data={"email": "member@test.example", "password": PASSWORD})
    assert "Secure" in r.headers["Set-Cookie"]
    assert "Strict-Transport-Security" in r.headers


def test_letter_preview_keeps_its_own_policy_and_may_be_framed_by_us(app, client, auth):
    from ceroc_donations.letters.views import PREVIEW_CSP
    from ceroc_donations.security import security_headers

    with app.test_request_context("/letters/contributions/1/preview"):
        from flask import Response

        response = Response("x")
        response.headers["Content-Security-Policy"] = PREVIEW_CSP
        security_headers(response)
        assert response.headers["Content-Security-Policy"] == PREVIEW_CSP
        assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
        response = Response("x")
        response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'"
        security_headers(response)
        assert response.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")


# --- production ---------------------------------------------------------------------------


def _production_config(tmp_path, **extra):
    return {
        "ENV": "production",
        "SECRET_KEY": "s" * 48,
        "AUDIT_KEY": "a" * 48,
        "PUBLIC_URL": "https://donations.example.org",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'prod.sqlite'}",
        "RECEIPTS_DIR": str(tmp_path / "r"),
        "ARCHIVE_DIR": str(tmp_path / "l"),
        **extra,
    }


def test_production_refuses_default_or_missing_keys(tmp_path):
    for bad in ({"SECRET_KEY": "dev"}, {"SECRET_KEY": "short"}, {"AUDIT_KEY": "change-me"}):
        with pytest.raises(security.InsecureConfiguration, match="placeholder or shorter"):
            create_app(_production_config(tmp_path, **bad))
    app = create_app(_production_config(tmp_path))
    app.config["SECRET_KEY"] = None
    with pytest.raises(security.InsecureConfiguration, match="SECRET_KEY is missing"):
        security.enforce_production(app)


def test_a_production_server_never_invents_its_keys(tmp_path):
    from ceroc_donations import _instance_secret

    assert _instance_secret(str(tmp_path), "audit_key", create=False) is None
    assert not (tmp_path / "audit_key").exists()
    made = _instance_secret(str(tmp_path), "audit_key")
    assert len(made) >= 32 and (tmp_path / "audit_key").stat().st_mode & 0o077 == 0
    assert _instance_secret(str(tmp_path), "audit_key", create=False) == made


def test_production_refuses_while_a_demo_password_works(tmp_path):
    from ceroc_donations.accounts import service as users
    from ceroc_donations.demo import DEMO_USERS

    config = _production_config(tmp_path)
    dev = create_app({**config, "ENV": "development"})
    with dev.app_context():
        db.create_all()
        email, name, role, password = DEMO_USERS[0]
        user = users.create_user(email, name, role, password, by=None)
        db.session.commit()
        uid = user.id
        db.engine.dispose()
    with pytest.raises(security.InsecureConfiguration, match=re.escape(email)):
        create_app(config)
    # In a flask command the admin is warned, so that they can repair it ...
    with click.Context(click.Command("set-password")):
        app = create_app(config)
    with app.app_context():
        users.set_password_by_admin(db.session.get(User, uid), "a-new-long-password", by=None)
        db.session.commit()
        db.engine.dispose()
    create_app(config)  # ... and then it starts


def test_demo_command_refused_in_production(tmp_path):
    app = create_app(_production_config(tmp_path))
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 2 and "not in production" in result.output
