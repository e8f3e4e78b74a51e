from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ceroc_donations.accounts import service as users
from ceroc_donations.accounts.models import User
from ceroc_donations.extensions import db
from ceroc_donations.security import (
    check_password,
    clear_login_failures,
    login_blocked,
    record_login_failure,
)

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("dashboard.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    email = ""
    error = None
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        password = request.form.get("password", "")[:1024]
        if login_blocked(email):
            db.session.commit()
            abort(429)
        user = users.user_by_email(email)
        if user is not None and user.active and check_password(user, password):
            clear_login_failures(email)
            db.session.commit()
            session.clear()
            login_user(user, remember=False)
            return redirect(_safe_next(request.args.get("next")))
        record_login_failure(email)
        db.session.commit()
        error = _("Email or password is not right.")
    status = 401 if error else 200
    return render_template("accounts/login.html", email=email, error=error), status


@bp.post("/logout")
@login_required
def logout():
    # Ends every session of this user, not only this browser's.
    user = db.session.get(User, current_user.id)
    user.session_version += 1
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in ("en", "km"):
        session["locale"] = lang
        if current_user.is_authenticated:
            user = db.session.get(User, current_user.id)
            user.locale = lang
            db.session.commit()
    return redirect(_safe_next(request.form.get("next")))
