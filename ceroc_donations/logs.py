"""The app's log: one line format on stderr, each line with the id of its request.

A request keeps a sane incoming ``X-Request-ID`` (as set by a proxy) or gets a new one; the
response carries it back, so a complaint that quotes it finds its log lines. Lines logged
outside a request (CLI, the letter worker) show ``-``.
"""

from __future__ import annotations

import logging
import re
import secrets
import sys
import time

from flask import Flask, Response, g, has_request_context, request

FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
HEADER = "X-Request-ID"
#: What an incoming id may look like: short, and nothing that could forge a log line.
SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: The logger every module of the package logs under (``logging.getLogger(__name__)``).
LOGGER = logging.getLogger("ceroc_donations")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record: the current request's, else ``-``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


def _handler() -> logging.Handler:
    for handler in LOGGER.handlers:
        if isinstance(handler, _StderrHandler):
            return handler
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestIdFilter())
    LOGGER.addHandler(handler)
    return handler


class _StderrHandler(logging.StreamHandler):
    """The one handler; a second ``create_app`` in the same process finds it and adds none."""


def log_also(name: str, level: int | str) -> None:
    """Send logger *name* (a library's, e.g. ``alembic``) through the app's handler."""
    logger = logging.getLogger(name)
    handler = _handler()
    if handler not in logger.handlers:
        logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def request_id() -> str:
    """The id of the current request (from ``X-Request-ID`` if sane, else a new one)."""
    incoming = request.headers.get(HEADER, "")
    return incoming if SANE_ID.fullmatch(incoming) else secrets.token_hex(8)


def init_logging(app: Flask) -> None:
    """Log the package (``app.logger`` included) to stderr; tag requests with their id."""
    _handler()
    LOGGER.setLevel(app.config["LOG_LEVEL"])
    # A job that fails is logged by Huey: in the same format, not as a bare traceback.
    log_also("huey", logging.WARNING)
    # Flask's own handler would print every line a second time, in another format.
    from flask.logging import default_handler

    app.logger.removeHandler(default_handler)

    @app.before_request
    def _start() -> None:
        g.request_id = request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        # An earlier before_request (the CSRF check) may have answered before _start ran.
        if "request_id" not in g:
            _start()
        response.headers[HEADER] = g.request_id
        LOGGER.info(
            "%s %s %s %.0f ms",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - g.request_started) * 1000,
        )
        return response
