"""Accounts: made by an admin or the CLI; every change audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.accounts.models import ROLES, ApiToken, User
from ceroc_donations.book.inputs import Invalid, is_email
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.security import check_password, hash_password, new_api_token

MIN_PASSWORD = 10


def _snapshot(user: User) -> dict:
    return {"email": user.email, "name": user.name, "role": user.role, "active": user.active}


def _password_problem(password: str) -> str | None:
    """Why *password* may not be chosen, or ``None``."""
    from ceroc_donations.demo import DEMO_USERS

    if len(password or "") < MIN_PASSWORD:
        return _("Use at least %(n)d characters.", n=MIN_PASSWORD)
    if len(password) > 1024:
        return _("Keep the password under 1024 characters.")
    if password in {pw for _e, _n, _r, pw in DEMO_USERS}:
        return _("This is a published demo password: choose another one.")
    return None


def _set_password(user: User, password: str, *, temporary: bool = False) -> None:
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    user.password_changed_at = utcnow()
    user.reset_token_sha256 = None
    user.reset_expires_at = None
    user.session_version += 1  # every other session of this account ends


def _token_sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_by_email(email: str) -> User | None:
    """The account with *email*, matched case-insensitively."""
    return db.session.execute(
        select(User).where(func.lower(User.email) == email.strip().lower())
    ).scalar()


def check_new_user(email: str, name: str, role: str, password: str) -> None:
    errors = {}
    if not is_email(email):
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
    """Give *user* another role; their sessions end. An admin cannot change their own role."""
    if role not in ROLES:
        raise Invalid({"role": _("Choose one of: %(choices)s.", choices=", ".join(ROLES))})
    if by is not None and by.id == user.id:
        raise Invalid({"role": _("You cannot change your own role; ask another admin.")})
    if role == user.role:
        return user
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


def change_password(user: User, current: str, new: str, confirm: str) -> User:
    """The person changes their own password; their other sessions end. The caller commits."""
    errors = {}
    if not check_password(user, current or ""):
        errors["current_password"] = _("This is not your current password.")
    problem = _password_problem(new)
    if problem:
        errors["new_password"] = problem
    elif new == current:
        errors["new_password"] = _("Choose a password different from the current one.")
    elif new != confirm:
        errors["confirm_password"] = _("The two new passwords are not the same.")
    if errors:
        raise Invalid(errors)
    _set_password(user, new)
    db.session.flush()
    audit.log(user, "user.password_changed", "user", user.id)
    return user


def set_temporary_password(user: User, *, by: User | None) -> str:
    """Give *user* a new random password that must be changed at the next log-in.

    Returns the password, to be shown once; every session of the account ends.
    """
    password = secrets.token_urlsafe(12)
    _set_password(user, password, temporary=True)
    db.session.flush()
    audit.log(by, "user.password_temporary", "user", user.id)
    return password


def issue_reset_link(user: User, *, by: User | None) -> str:
    """A one-time token for a reset link; a newer link replaces an older one.

    The current password keeps working until the link is used. The caller commits.
    """
    token = secrets.token_urlsafe(32)
    seconds = current_app.config["PASSWORD_RESET_SECONDS"]
    user.reset_token_sha256 = _token_sha(token)
    user.reset_expires_at = utcnow() + timedelta(seconds=seconds)
    db.session.flush()
    audit.log(by, "user.reset_link", "user", user.id, after={"expires_at": user.reset_expires_at})
    return token


def user_for_reset(token: str) -> User | None:
    """The active account a reset link is for, if the link is unused and not expired."""
    if not token or len(token) > 100:
        return None
    user = db.session.execute(
        select(User).where(User.reset_token_sha256 == _token_sha(token))
    ).scalar()
    if user is None or not user.active or user.reset_expires_at is None:
        return None
    if user.reset_expires_at < utcnow():
        return None
    return user


def use_reset_link(user: User, new: str, confirm: str) -> User:
    """Set the password chosen through a reset link; the link is used up. The caller commits."""
    problem = _password_problem(new)
    if problem:
        raise Invalid({"new_password": problem})
    if new != confirm:
        raise Invalid({"confirm_password": _("The two new passwords are not the same.")})
    _set_password(user, new)
    db.session.flush()
    audit.log(user, "user.password_reset", "user", user.id)
    return user


def set_password_by_admin(user: User, password: str, *, by: User | None) -> User:
    """``flask set-password``: the server's admin sets a password. The caller commits."""
    problem = _password_problem(password)
    if problem:
        raise Invalid({"password": problem})
    _set_password(user, password)
    db.session.flush()
    audit.log(by, "user.password_set", "user", user.id)
    return user
