"""Passwords, roles, API tokens and login throttling."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, request
from flask_login import current_user
from sqlalchemy import delete, func, select

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
    },
    "treasurer": {"read", "write_book", "letters_download", "claim"},
    "board": {"read", "letters", "letters_download", "approve_claims", "claim"},
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
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_sha256 == _sha(token), ApiToken.revoked_at.is_(None))
    ).scalar()
    if row is None or not row.user.active:
        return None
    return row.user


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


def _login_key(email: str) -> list[str]:
    return [f"email:{email.strip().lower()}", f"ip:{request.remote_addr}"]


def login_blocked(email: str) -> bool:
    """True when the email or the address has failed too often lately."""
    cfg = current_app.config
    since = utcnow() - timedelta(seconds=cfg["LOGIN_WINDOW_SECONDS"])
    for key in _login_key(email):
        n = db.session.execute(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.key == key, LoginFailure.at >= since)
        ).scalar_one()
        limit = cfg["LOGIN_MAX_FAILURES"] * (4 if key.startswith("ip:") else 1)
        if n >= limit:
            return True
    return False


def record_login_failure(email: str) -> None:
    for key in _login_key(email):
        db.session.add(LoginFailure(key=key))
    db.session.flush()


def clear_login_failures(email: str) -> None:
    db.session.execute(delete(LoginFailure).where(LoginFailure.key == _login_key(email)[0]))
