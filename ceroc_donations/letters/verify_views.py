"""The public letter check, no login: ``/v/`` asks for a code, ``/v/<code>`` answers what
CEROC issued under it (the QR code in every letter's footer links there)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from ceroc_donations.extensions import db
from ceroc_donations.letters import verification

bp = Blueprint("verify", __name__, url_prefix="/v")
bp.add_app_template_global(verification.grouped, "verification_code")

#: A typed code is shown back in the form only up to this length.
_ECHO_MAX = 40


def _form(status: int = 200, *, typed: str = "", unknown: bool = False, limited: bool = False):
    response = current_app.make_response(
        (
            render_template(
                "letters/verify_form.html",
                typed=typed if len(typed) <= _ECHO_MAX else "",
                unknown=unknown,
                limited=limited,
                wait_minutes=-(-current_app.config["VERIFY_WINDOW_SECONDS"] // 60),
            ),
            status,
        )
    )
    if limited:
        response.headers["Retry-After"] = str(current_app.config["VERIFY_WINDOW_SECONDS"])
    return response


@bp.get("/")
def index():
    """The form; a typed code goes to its page, in the printed form ``ABCDE-FGHJK``."""
    typed = request.args.get("code", "").strip()
    if not typed:
        return _form()
    code = verification.normalise(typed)
    if code is None:
        return _form(404, typed=typed, unknown=True)
    return redirect(url_for("verify.letter", code=verification.grouped(code)))


@bp.get("/<code>")
def letter(code: str):
    allowed = verification.lookup_allowed()
    db.session.commit()  # the lookup is counted even when the code is wrong
    if not allowed:
        return _form(429, typed=code, limited=True)
    found = verification.find(code)
    if found is None:
        return _form(404, typed=code, unknown=True)
    response = current_app.make_response(
        render_template("letters/verify.html", letter=verification.public_view(found))
    )
    response.headers["Cache-Control"] = "no-store"  # a gift voided later shows at once
    return response
