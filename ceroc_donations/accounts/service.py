"""Accounts: made by an admin or the CLI; every change audited."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.accounts.models import ROLES, ApiToken, User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.security import hash_password, new_api_token

MIN_PASSWORD = 10


def _snapshot(user: User) -> dict:
    return {"email": user.email, "name": user.name, "role": user.role, "active": user.active}


def user_by_email(email: str) -> User | None:
    """The account with *email*, matched case-insensitively."""
    return db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar()


def check_new_user(email: str, name: str, role: str, password: str) -> None:
    errors = {}
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", email or "") or len(email) > 254:
        errors["email"] = _("Enter an email address such as name@example.org.")
    elif user_by_email(email):
        errors["email"] = _("There is already an account with this email.")
    if not (name or "").strip() or len(name) > 120:
        errors["name"] = _("Enter the person's name (at most 120 characters).")
    if role not in ROLES:
        errors["role"] = _("Choose one of: %(choices)s.", choices=", ".join(ROLES))
    if len(password or "") < MIN_PASSWORD:
        errors["password"] = _("Use at least %(n)d characters.", n=MIN_PASSWORD)
    elif len(password) > 1024:
        errors["password"] = _("Keep the password under 1024 characters.")
    if errors:
        raise Invalid(errors)


def create_user(email: str, name: str, role: str, password: str, *, by: User | None) -> User:
    check_new_user(email, name, role, password)
    user = User(
        email=email.strip(), name=name.strip(), role=role, password_hash=hash_password(password)
    )
    db.session.add(user)
    db.session.flush()
    audit.log(by, "user.created", "user", user.id, after=_snapshot(user))
    return user


def set_active(user: User, active: bool, *, by: User | None) -> User:
    before = _snapshot(user)
    user.active = active
    user.session_version += 1  # ends every session
    if not active:
        for token in user.tokens:
            token.revoked_at = token.revoked_at or utcnow()
    db.session.flush()
    audit.log(
        by,
        "user.enabled" if active else "user.disabled",
        "user",
        user.id,
        before=before,
        after=_snapshot(user),
    )
    return user


def set_role(user: User, role: str, *, by: User | None) -> User:
    if role not in ROLES:
        raise Invalid({"role": _("Choose one of: %(choices)s.", choices=", ".join(ROLES))})
    before = _snapshot(user)
    user.role = role
    user.session_version += 1
    db.session.flush()
    audit.log(by, "user.role", "user", user.id, before=before, after=_snapshot(user))
    return user


def create_token(user: User, label: str | None, *, by: User | None) -> str:
    token = new_api_token(user, label)
    audit.log(by, "token.created", "user", user.id, after={"label": label})
    return token


def revoke_token(token: ApiToken, *, by: User | None) -> None:
    token.revoked_at = utcnow()
    db.session.flush()
    audit.log(by, "token.revoked", "user", token.user_id, after={"token_id": token.id})
