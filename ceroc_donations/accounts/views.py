from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ceroc_donations.accounts import service as users
from ceroc_donations.accounts.models import User
from ceroc_donations.apiutil import api_error
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.extensions import db
from ceroc_donations.security import (
    authenticate,
    clear_login_failures,
    login_blocked,
    record_login_failure,
)

bp = Blueprint("auth", __name__)

#: What someone holding a temporary password may open before choosing their own.
OPEN_BEFORE_PASSWORD_CHANGE = {
    "admin.account",
    "admin.change_password",
    "auth.logout",
    "auth.set_language",
    "static",
    "dashboard.font",
}


@bp.before_app_request
def password_change_first():
    """A temporary password leads every page to the password form until it is changed."""
    if request.endpoint in OPEN_BEFORE_PASSWORD_CHANGE or request.endpoint is None:
        return None
    if not (current_user.is_authenticated and current_user.must_change_password):
        return None
    if request.path.startswith("/api/"):
        return api_error(403, "Change your temporary password on /account first.")
    return redirect(url_for("admin.account"))


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
        user = authenticate(email, password)
        if user is not None:
            clear_login_failures(email)
            db.session.commit()
            session.clear()
            login_user(user, remember=False)
            if user.must_change_password:
                flash(_("Choose a new password to continue."), "info")
                return redirect(url_for("admin.account"))
            return redirect(_safe_next(request.args.get("next")))
        record_login_failure(email)
        db.session.commit()
        error = _("Email or password is not right.")
    status = 401 if error else 200
    return render_template("accounts/login.html", email=email, error=error), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """A one-time link from an admin: choose a new password, then log in with it."""
    user = users.user_for_reset(token)
    if user is None:
        title = _("Link not valid")
        message = _(
            "This reset link was used, replaced or has expired. Ask an admin for a new one."
        )
        return render_template("error.html", status=404, title=title, message=message), 404
    errors: dict = {}
    if request.method == "POST":
        try:
            users.use_reset_link(
                user, request.form.get("new_password", ""), request.form.get("confirm_password", "")
            )
        except Invalid as exc:
            errors = exc.fields
        else:
            db.session.commit()
            if current_user.is_authenticated:
                logout_user()
            session.clear()
            flash(_("Your password is set. Log in with it."), "success")
            return redirect(url_for("auth.login"))
    response = make_response(render_template("accounts/reset.html", user=user, errors=errors))
    response.status_code = 422 if errors else 200
    # The token is in this page's address: no Referer carries it anywhere, no cache keeps it.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


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
