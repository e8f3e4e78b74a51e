"""Passwords, roles, API tokens, login throttling, response headers and production checks."""

from __future__ import annotations

import hashlib
import secrets
import sys
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

import click
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, abort, current_app, has_request_context, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy import delete, func, inspect, select
from werkzeug.middleware.proxy_fix import ProxyFix

from ceroc_donations.accounts.models import ApiToken, LoginFailure, User
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db, login_manager

# argon2id; argon2-cffi's defaults (t=3, m=64 MiB, p=4) are above OWASP's minimum
# (m=19 MiB, t=2, p=1).
_hasher = PasswordHasher()

#: What each role may do. A role includes the capabilities listed for it.
CAPABILITIES: dict[str, set[str]] = {
    "admin": {
        "read",
        "write_book",
        "letters",
        "letters_download",
        "admin",
        "approve_claims",
        "claim",
        "donor_names",
    },
    "treasurer": {"read", "write_book", "letters_download", "claim", "donor_names"},
    "board": {"read", "letters", "letters_download", "approve_claims", "claim", "donor_names"},
    "member": {"read", "claim"},
}


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    try:
        ok = _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    if ok and _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return ok


# The hash of a random password nobody knows, made with the hasher's parameters: an unknown
# email is checked against it, so it costs one argon2 verification like a wrong password.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$MxNtKltfyAdyYw3ZVX+hZQ"
    "$OdDyBePYR27WZIO7QD0B4RssE+XADtBRhFY4WlpRMi0"
)


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _hasher.check_needs_rehash(_DUMMY_HASH):  # parameters changed: same cost as real hashes
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(24))
    return _DUMMY_HASH


def authenticate(email: str, password: str) -> User | None:
    """The active account with *email* and *password*, else ``None``.

    Every outcome costs one argon2 verification, so the time taken does not tell whether
    an account with this email exists.
    """
    user = db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar()
    if user is None:
        try:
            _hasher.verify(_dummy_hash(), password)
        except (VerificationError, InvalidHashError):
            pass
        return None
    if not check_password(user, password) or not user.active:
        return None
    return user


def can(user, capability: str) -> bool:
    return bool(user and user.is_authenticated and capability in CAPABILITIES.get(user.role, ()))


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or not user.active or user.session_version != version:
        return None
    return user


def new_api_token(user: User, label: str | None = None) -> str:
    """Create a token for *user*; only its SHA-256 is stored. The caller commits."""
    token = "ceroc_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user=user, token_sha256=_sha(token), label=label))
    db.session.flush()
    return token


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_from_bearer() -> User | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    token = header[7:].strip()
    user = db.session.execute(
        select(User)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_sha256 == _sha(token), ApiToken.revoked_at.is_(None))
    ).scalar()
    if user is None or not user.active:
        return None
    return user


def requires(capability: str) -> Callable:
    """Page decorator: 302 to login when anonymous, 403 without *capability*."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if not can(current_user, capability):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


# --- login throttling --------------------------------------------------------------------
# Three counters of failed log-ins in the window, each row keyed by a hash (no email or
# address is stored in clear):
#   pair    (account, address): LOGIN_MAX_FAILURES, then this address may not try this account;
#   account (any address):      4 × LOGIN_MAX_FAILURES, then nobody may try it. One address
#                               adds at most LOGIN_MAX_FAILURES, so it takes four addresses;
#   address (any account):      LOGIN_ADDRESS_MAX_FAILURES, then the address may not retry
#                               the accounts it failed on (password spraying), but people behind
#                               the same proxy still log in to their own accounts.


def client_address() -> str:
    """The client's address: the socket peer, or the proxy's X-Forwarded-For when trusted."""
    return request.remote_addr or "unknown"


def _login_keys(email: str) -> dict[str, str]:
    account = email.strip().lower()
    address = client_address()

    def key(kind: str, value: str) -> str:
        return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"

    return {
        "pair": key("pair", f"{address}\n{account}"),
        "account": key("account", account),
        "address": key("address", address),
    }


def login_blocked(email: str) -> bool:
    """True when this address or this account has failed too often lately (see above)."""
    cfg = current_app.config
    keys = _login_keys(email)
    since = utcnow() - timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    rows = db.session.execute(
        select(LoginFailure.key, func.count())
        .where(LoginFailure.key.in_(keys.values()), LoginFailure.at >= since)
        .group_by(LoginFailure.key)
    ).all()
    counts = dict(rows)
    pair, account, address = (counts.get(keys[k], 0) for k in ("pair", "account", "address"))
    limit = cfg["LOGIN_MAX_FAILURES"]
    return (
        pair >= limit
        or account >= 4 * limit
        or (address >= cfg["LOGIN_ADDRESS_MAX_FAILURES"] and pair > 0)
    )


def record_login_failure(email: str) -> None:
    """Count a failed log-in; rows older than the window are dropped on the way."""
    since = utcnow() - timedelta(seconds=current_app.config["LOGIN_WINDOW_SECONDS"])
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.at < since, LoginFailure.key.not_like("rate:%"))
    )
    for key in _login_keys(email).values():
        db.session.add(LoginFailure(key=key))
    db.session.flush()


def clear_login_failures(email: str) -> None:
    """After a good log-in: forget this address's failures on this account."""
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == _login_keys(email)["pair"]))


# --- rate limits on public pages ------------------------------------------------------------


def rate_limited(kind: str, *, limit: int, window_seconds: int) -> bool:
    """Count one request of *kind* from this address; ``True`` (and not counted) when it
    made *limit* already in the last *window_seconds*.

    The counts are rows of the login counters' table, keyed ``rate:<kind>:`` and a hash of
    the address, so every instance sharing the database sees the same counts. The caller
    commits.
    """
    prefix = f"rate:{kind}:"
    key = prefix + hashlib.sha256(client_address().encode()).hexdigest()
    since = utcnow() - timedelta(seconds=window_seconds)
    db.session.execute(
        delete(LoginFailure).where(LoginFailure.key.like(prefix + "%"), LoginFailure.at < since)
    )
    made = db.session.execute(
        select(func.count()).select_from(LoginFailure).where(LoginFailure.key == key)
    ).scalar_one()
    if made >= limit:
        return True
    db.session.add(LoginFailure(key=key))
    db.session.flush()
    return False


# --- response headers ----------------------------------------------------------------------

#: Scripts, styles, fonts and images come from our own static files only: no inline script
#: or style anywhere, no framing by other sites.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"


def _https() -> bool:
    return request.is_secure or current_app.config.get("PREFERRED_URL_SCHEME") == "https"


class SessionInterface(SecureCookieSessionInterface):
    """The session cookie is ``Secure`` whenever the site is served over HTTPS."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and _https())


def security_headers(response):
    """Add the security headers to every response; a view's own stricter CSP is kept."""
    headers = response.headers
    csp = headers.get("Content-Security-Policy")
    if csp is None:
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    elif "frame-ancestors" not in csp:
        headers["Content-Security-Policy"] = csp + "; frame-ancestors 'none'"
    same_origin_frames = "frame-ancestors 'self'" in headers["Content-Security-Policy"]
    headers.setdefault("X-Frame-Options", "SAMEORIGIN" if same_origin_frames else "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if _https():
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    """Proxy headers (only as many hops as configured), secure cookies and headers."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops < 0:
        raise ValueError("TRUSTED_PROXIES must be 0 or more")
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    app.session_interface = SessionInterface()
    app.after_request(security_headers)


# --- production ------------------------------------------------------------------------------

#: Values seen in examples and tutorials; never a real key.
_PLACEHOLDER_KEYS = {"dev", "test", "secret", "change-me", "changeme", "development", "key"}


class InsecureConfiguration(RuntimeError):
    """A production configuration that must not serve requests."""


def is_production(app: Flask) -> bool:
    return app.config.get("ENV") == "production"


def production_problems(app: Flask) -> list[str]:
    """What stops *app* from serving in production: weak keys, demo passwords that work."""
    from ceroc_donations.demo import DEMO_USERS

    problems = []
    for key, env in (("SECRET_KEY", "CEROC_SECRET_KEY"), ("AUDIT_KEY", "CEROC_AUDIT_KEY")):
        value = str(app.config.get(key) or "")
        file = key.lower()
        if not value:
            problems.append(
                f"{key} is missing: set {env}, or run a flask command once to make instance/{file}."
            )
        elif (
            len(value) < 32
            or value.lower() in _PLACEHOLDER_KEYS
            or "example" in value.lower()
            or "replace" in value.lower()
        ):
            problems.append(f"{key} is a placeholder or shorter than 32 characters.")
    public = app.config.get("PUBLIC_URL")
    if not public:
        problems.append(
            "CEROC_PUBLIC_URL is missing: the QR codes on letters and the links in emails are "
            "built from it (e.g. https://donations.example.org)."
        )
    else:
        parts = urlsplit(public)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(
                f"CEROC_PUBLIC_URL must look like https://donations.example.org, not {public!r}."
            )
    with app.app_context():
        if not inspect(db.engine).has_table(User.__tablename__):
            return problems
        for email, _name, _role, password in DEMO_USERS:
            user = db.session.execute(
                select(User).where(func.lower(User.email) == email, User.active.is_(True))
            ).scalar()
            if user is None:
                continue
            try:
                works = _hasher.verify(user.password_hash, password)
            except (VerificationError, InvalidHashError):
                works = False
            if works:
                problems.append(
                    f"The demo account {email} still has its published password: change it "
                    f"(flask set-password {email}) or disable the account."
                )
        db.session.remove()
    return problems


def running_cli() -> bool:
    """True inside a ``flask …`` command, where an admin repairs what serving refuses."""
    return click.get_current_context(silent=True) is not None


def enforce_production(app: Flask) -> None:
    """Refuse to serve a production app with problems; in the CLI, warn instead."""
    if not is_production(app):
        return
    problems = production_problems(app)
    if not problems:
        return
    if running_cli():
        for problem in problems:
            print(f"WARNING (production): {problem}", file=sys.stderr)
        return
    raise InsecureConfiguration(
        "This production configuration refuses to start:\n  " + "\n  ".join(problems)
    )
