"""Blueprints: thin views that parse input, load what the URL names (404 if missing), call one
service or query, commit, and flash and redirect or render."""

from __future__ import annotations

from importlib import import_module

from flask import Flask, make_response, render_template, request
from flask_wtf.csrf import CSRFError

from ceroc_donations.apiutil import api_error

#: The modules that define a blueprint ``bp``, feature by feature.
MODULES = (
    "accounts.views",
    "accounts.admin",
    "book.views.dashboard",
    "book.views.donors",
    "book.views.contributions",
    "book.views.expenses",
    "book.views.funds",
    "health",
    "claims.views",
    "book.api",
    "ledger.views",
    "ledger.transparency",
    "ledger.api",
    "imports.views",
    "letters.views",
    "letters.api",
    "ledger.report_views",
)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def _error(status: int, title: str, message: str):
    if _wants_json():
        return api_error(status, message)
    return render_template("error.html", status=status, title=title, message=message), status


def register_blueprints(app: Flask) -> None:
    for name in MODULES:
        app.register_blueprint(import_module(f"ceroc_donations.{name}").bp)

    from flask_babel import gettext as _

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        return _error(
            400,
            _("Form expired"),
            _(
                "The form was missing its security token or it had expired. Go back, reload "
                "the page and submit again: nothing was saved."
            ),
        )

    @app.errorhandler(403)
    def forbidden(exc):
        return _error(403, _("Not allowed"), _("Your role may not open this page."))

    @app.errorhandler(404)
    def not_found(exc):
        return _error(404, _("Not found"), _("There is nothing at this address."))

    @app.errorhandler(405)
    def not_allowed(exc):
        response = make_response(
            _error(405, _("Not allowed"), _("This address does not accept that method."))
        )
        # RFC 9110: a 405 lists the methods the address does accept.
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods or ()))
        return response

    @app.errorhandler(413)
    def too_large(exc):
        return _error(
            413,
            _("File too large"),
            _("The upload is too large: receipts may be at most 10 MB. Nothing was saved."),
        )

    @app.errorhandler(429)
    def too_many(exc):
        return _error(
            429,
            _("Too many attempts"),
            _("Too many failed log-ins. Wait a quarter of an hour and try again."),
        )
