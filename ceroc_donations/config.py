"""Every configuration key the app reads, with its default.

Secrets come from ``instance/config.py`` or ``CEROC_*`` environment variables (see
:func:`from_environ`); a test passes its own mapping to ``create_app``.
"""

from __future__ import annotations

import os


class Defaults:
    #: ``production`` (``CEROC_ENV``) makes the app refuse unsafe settings at start.
    ENV = "development"
    #: The address people use, e.g. ``https://donations.ceroc.org``: links in emails, letters
    #: and API answers are built from it (else from the request's own host).
    PUBLIC_URL = None
    #: Redis for the job queue and shared counters when several instances run.
    REDIS_URL = None
    SQLALCHEMY_DATABASE_URI = None  # set in create_app: instance/ceroc.sqlite
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}  # passed to SQLAlchemy's create_engine
    SECRET_KEY = None  # None: a random key kept in instance/secret_key (never in production)
    BASE_CURRENCY = "USD"
    ORG_NAME_EN = "Commission for Election Rights of Overseas Cambodians"
    ORG_NAME_KM = "គណៈកម្មការដើម្បីសិទ្ធិបោះឆ្នោតរបស់ពលរដ្ឋខ្មែរនៅក្រៅប្រទេស"
    ORG_SHORT = "CEROC"
    # Files the app writes: receipts, the letter archive (letters, batches, reports) and
    # import uploads between preview and confirm. They go under STORAGE_DIR (default: the
    # instance folder), which several instances share; each can also be set on its own.
    STORAGE_DIR = None
    RECEIPTS_DIR = None
    ARCHIVE_DIR = None
    IMPORTS_DIR = None  # CSV uploads between preview and confirm; None: instance/imports
    MAX_RECEIPT_BYTES = 10 * 1024 * 1024
    MAX_CONTENT_LENGTH = 12 * 1024 * 1024
    IMPORT_MAX_BYTES = 5 * 1024 * 1024  # largest CSV import file
    IMPORT_MAX_ROWS = 5000  # most rows in one CSV import
    MAX_FUTURE_DAYS = 7
    PAGE_SIZE = 50
    LOGIN_MAX_FAILURES = 5
    LOGIN_WINDOW_SECONDS = 15 * 60
    # Accounts and sessions (security.py). Production is exactly ENV == "production"
    # (CEROC_ENV=production): the app then refuses to serve with a weak or missing secret
    # key or audit key, or while a demo account still takes its published password.
    # How many reverse proxies in front of the app set X-Forwarded-For/-Proto/-Host
    # (Werkzeug's ProxyFix). 0: trust no forwarded header; the client is the socket peer.
    TRUSTED_PROXIES = 0
    # An address that failed this often (on any accounts) may not retry the accounts it failed.
    LOGIN_ADDRESS_MAX_FAILURES = 20
    PASSWORD_RESET_SECONDS = 3 * 24 * 3600  # a one-time reset link's life
    # The public letter check (/v/<code>): lookups one address may make in the window.
    VERIFY_MAX_LOOKUPS = 30
    VERIFY_WINDOW_SECONDS = 10 * 60
    # HMAC key of the audit chain; kept outside the database: CEROC_AUDIT_KEY or
    # instance/audit_key (made once). Set in create_app.
    AUDIT_KEY = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    WTF_CSRF_TIME_LIMIT = None
    BABEL_DEFAULT_LOCALE = "en"
    LANGUAGES = ("en", "km")
    # No mail server, no email: letters are then offered for printing only.
    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_SENDER = "ceroc@localhost"
    TRANSPARENCY_PUBLIC = False
    #: ``/healthz`` fails when a storage directory has less free space than this.
    HEALTH_MIN_FREE_MB = 500
    #: ``/healthz`` fails when no job consumer was seen for longer (they note it every 10 s).
    HEALTH_WORKER_MAX_AGE_SECONDS = 60
    # Background jobs (letter batches) on Huey. Without REDIS_URL the queue is a SQLite file
    # (JOBS_SQLITE_PATH, default instance/jobs.sqlite) and, with JOBS_EMBEDDED_WORKER, one
    # consumer thread runs beside the app (in one process only). With REDIS_URL the queue
    # is Redis and `flask --app ceroc_donations worker` runs the consumers.
    # JOBS_IMMEDIATE runs each job at once in its caller (tests).
    JOBS_IMMEDIATE = False
    JOBS_EMBEDDED_WORKER = True
    JOBS_SQLITE_PATH = None
    JOBS_QUEUE_NAME = "ceroc"
    # A running job that has shown no progress for this long was interrupted: resumed.
    JOBS_STALE_SECONDS = 120
    # A letter batch renders in this many worker processes beside its job (0: in the job's
    # own thread), and commits its letters in groups of up to LETTER_BATCH_COMMIT_EVERY
    # (the first alone, then 2, 4, ...): a crash loses at most one group, given again.
    LETTER_BATCH_WORKERS = 2
    LETTER_BATCH_COMMIT_EVERY = 16
    LOG_LEVEL = "INFO"  # level of the app's log lines on stderr


def from_environ(prefix: str = "CEROC_") -> dict:
    """Read ``CEROC_*`` environment variables, e.g. ``CEROC_DATABASE_URL``, ``CEROC_SECRET_KEY``."""
    mapping = {
        "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
        "SECRET_KEY": "SECRET_KEY",
        "BASE_CURRENCY": "BASE_CURRENCY",
        "STORAGE_DIR": "STORAGE_DIR",
        "ARCHIVE_DIR": "ARCHIVE_DIR",
        "RECEIPTS_DIR": "RECEIPTS_DIR",
        "IMPORTS_DIR": "IMPORTS_DIR",
        "MAIL_SERVER": "MAIL_SERVER",
        "MAIL_PORT": "MAIL_PORT",
        "MAIL_USERNAME": "MAIL_USERNAME",
        "MAIL_PASSWORD": "MAIL_PASSWORD",
        "MAIL_SENDER": "MAIL_SENDER",
        "MAIL_USE_TLS": "MAIL_USE_TLS",
        "ENV": "ENV",
        "PUBLIC_URL": "PUBLIC_URL",
        "REDIS_URL": "REDIS_URL",
        "HEALTH_MIN_FREE_MB": "HEALTH_MIN_FREE_MB",
        "AUDIT_KEY": "AUDIT_KEY",
        "TRUSTED_PROXIES": "TRUSTED_PROXIES",
        "JOBS_SQLITE_PATH": "JOBS_SQLITE_PATH",
        "JOBS_STALE_SECONDS": "JOBS_STALE_SECONDS",
        "LOG_LEVEL": "LOG_LEVEL",
        "LETTER_BATCH_WORKERS": "LETTER_BATCH_WORKERS",
        "LETTER_BATCH_COMMIT_EVERY": "LETTER_BATCH_COMMIT_EVERY",
    }
    integers = {"MAIL_PORT", "HEALTH_MIN_FREE_MB", "TRUSTED_PROXIES", "JOBS_STALE_SECONDS",
                "LETTER_BATCH_WORKERS", "LETTER_BATCH_COMMIT_EVERY"}  # fmt: skip
    out: dict = {}
    for env, key in mapping.items():
        value = os.environ.get(prefix + env)
        if value:
            if key in integers:
                out[key] = int(value)
            elif key == "MAIL_USE_TLS":
                out[key] = value.lower() in ("1", "true", "yes", "on")
            else:
                out[key] = value
    return out
