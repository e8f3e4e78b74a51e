"""Every configuration key the app reads, with its default.

Secrets come from ``instance/config.py`` or ``CEROC_*`` environment variables (see
:func:`from_environ`); a test passes its own mapping to ``create_app``.
"""

from __future__ import annotations

import os


class Defaults:
    # --- database and secrets
    SQLALCHEMY_DATABASE_URI = None  # None: instance/ceroc.sqlite (set in create_app)
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}  # passed to SQLAlchemy's create_engine
    SECRET_KEY = None  # None: a random key kept in instance/secret_key

    # --- the organisation, as letters and pages name it
    BASE_CURRENCY = "USD"  # ISO 4217 code the ledger and balances are kept in
    ORG_NAME_EN = "Commission for Election Rights of Overseas Cambodians"  # letterhead, English
    ORG_NAME_KM = "គណៈកម្មការដើម្បីសិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរនៅក្រៅប្រទេស"  # letterhead, Khmer
    ORG_SHORT = "CEROC"  # short name in titles and email signatures

    # --- files kept by the app (archive data, never in a source folder)
    RECEIPTS_DIR = None  # receipt scans; None: instance/receipts
    ARCHIVE_DIR = None  # rendered letter PDFs; None: instance/letters
    IMPORTS_DIR = None  # CSV uploads between preview and confirm; None: instance/imports

    # --- limits on input
    MAX_RECEIPT_BYTES = 10 * 1024 * 1024  # largest receipt scan accepted
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024  # largest request body (Flask answers 413)
    IMPORT_MAX_BYTES = 5 * 1024 * 1024  # largest CSV import file
    IMPORT_MAX_ROWS = 5000  # most rows in one CSV import
    MAX_FUTURE_DAYS = 7  # how far ahead a received/paid date may be
    PAGE_SIZE = 50  # rows per page in lists and API pages

    # --- letters
    LETTER_BATCH_RUNNER = "process"  # "process": a worker process; "inline": in the request

    # --- login and sessions
    LOGIN_MAX_FAILURES = 5  # failed logins per email in the window (an address gets 4x)
    LOGIN_WINDOW_SECONDS = 15 * 60  # window over which failed logins are counted
    SESSION_COOKIE_HTTPONLY = True  # the session cookie is out of reach of scripts
    SESSION_COOKIE_SAMESITE = "Lax"  # and is not sent on cross-site posts
    REMEMBER_COOKIE_HTTPONLY = True  # nor is the remember-me cookie
    WTF_CSRF_TIME_LIMIT = None  # CSRF tokens last as long as the session

    # --- languages
    BABEL_DEFAULT_LOCALE = "en"  # language when the browser asks for none we have
    LANGUAGES = ("en", "km")  # languages the interface is offered in

    # --- mail (letters sent by email)
    MAIL_SERVER = "localhost"  # SMTP host
    MAIL_PORT = 25  # SMTP port
    MAIL_USE_TLS = False  # STARTTLS before logging in
    MAIL_USERNAME = None  # SMTP login; None: no login
    MAIL_PASSWORD = None  # SMTP password
    MAIL_SENDER = "ceroc@localhost"  # From: address of letters sent by email

    # --- public pages
    TRANSPARENCY_PUBLIC = False  # /transparency open to all until an admin sets otherwise

    # --- logging
    LOG_LEVEL = "INFO"  # level of the app's log lines on stderr


def from_environ(prefix: str = "CEROC_") -> dict:
    """Read ``CEROC_*`` environment variables, e.g. ``CEROC_DATABASE_URL``, ``CEROC_SECRET_KEY``."""
    mapping = {
        "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "SECRET_KEY": "SECRET_KEY",
        "BASE_CURRENCY": "BASE_CURRENCY",
        "ARCHIVE_DIR": "ARCHIVE_DIR",
        "RECEIPTS_DIR": "RECEIPTS_DIR",
        "IMPORTS_DIR": "IMPORTS_DIR",
        "MAIL_SERVER": "MAIL_SERVER",
        "MAIL_PORT": "MAIL_PORT",
        "MAIL_USERNAME": "MAIL_USERNAME",
        "MAIL_PASSWORD": "MAIL_PASSWORD",
        "MAIL_SENDER": "MAIL_SENDER",
        "LOG_LEVEL": "LOG_LEVEL",
    }
    out: dict = {}
    for env, key in mapping.items():
        value = os.environ.get(prefix + env)
        if value:
            out[key] = int(value) if key == "MAIL_PORT" else value
    return out
