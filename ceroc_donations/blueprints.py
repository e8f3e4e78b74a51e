"""Blueprints: thin views that parse input, load what the URL names (404 if missing), call one
service or query, commit, and flash and redirect or render."""

from __future__ import annotations

from importlib import import_module

from flask import Flask, current_app, make_response, render_template, request
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
    "letters.verify_views",
    "ledger.report_views",
)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def _error(status: int, title: str, message: str):
    if _wants_json():
        return api_error(status, message)
    return render_template("error.html", status=status, title=title, message=message), status


def _drain_refused_body() -> None:
    """Read and drop the body of a request refused as too large (up to four times the
    limit), so that the browser, still sending, gets the answer page instead of a reset
    connection. Larger bodies are not read: the connection is closed on them."""
    length = request.content_length or 0
    limit = 4 * (current_app.config.get("MAX_CONTENT_LENGTH") or 0)
    stream = request.environ.get("wsgi.input")
    if stream is None or not 0 < length <= limit:
        return
    left = length
    while left > 0:
        chunk = stream.read(min(64 * 1024, left))
        if not chunk:
            break
        left -= len(chunk)


def register_blueprints(app: Flask) -> None:
    for name in MODULES:
        app.register_blueprint(import_module(f"ceroc_donations.{name}").bp)

    from flask_babel import gettext as _

    from ceroc_donations.book.receipts import receipt_limit
    from ceroc_donations.web import restored_form_json

    app.jinja_env.globals["restored_form_json"] = restored_form_json
    app.jinja_env.globals["receipt_limit"] = receipt_limit

    @app.errorhandler(CSRFError)
    def csrf_error(exc):
        from ceroc_donations.web import expired_form_page

        if not _wants_json() and (page := expired_form_page()) is not None:
            return page
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
        # Nothing of the body can be read now: the page says what happened and leads back to
        # the form, which shows the message by its file field; static/js/form-keep.js puts
        # back what was typed (the browser's Back button does as well, without JavaScript).
        _drain_refused_body()
        message = _(
            "The upload is too large: receipts may be at most %(size)s. Nothing was saved.",
            size=receipt_limit(),
        )
        if _wants_json():
            return api_error(413, message)
        rule = request.url_rule
        back = None
        if request.method == "POST" and rule is not None and "GET" in (rule.methods or ()):
            back = request.path + "?too_large=1"
        return render_template("too_large.html", message=message, back=back), 413

    @app.errorhandler(429)
    def too_many(exc):
        return _error(
            429,
            _("Too many attempts"),
            _("Too many failed log-ins. Wait a quarter of an hour and try again."),
        )
