"""CEROC Donations: contributions, thank-you letters and a transparent ledger."""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING

from ceroc_donations.paths import folder

if TYPE_CHECKING:
    from flask import Flask


def _instance_secret(instance_path: str, name: str, *, create: bool = True) -> str | None:
    """A random secret kept in ``instance/<name>`` (made once, readable by the owner only)."""
    path = os.path.join(instance_path, name)
    try:
        with open(path) as fh:
            return fh.read().strip()
    except FileNotFoundError:
        if not create:
            return None
        secret = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret)
        return secret


def create_app(test_config: dict | None = None) -> Flask:
    """Application factory."""
    # Imported here: the letter render workers import this package, not Flask (~8 MiB).
    from flask import Flask

    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(folder("templates")),
    )
    from ceroc_donations.config import Defaults, from_environ

    app.config.from_object(Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_mapping(from_environ())
    else:
        app.config.from_mapping(test_config)
    os.makedirs(app.instance_path, exist_ok=True)
    from ceroc_donations import security

    # A production server never invents its keys (a flask command run by the admin does).
    make_keys = not security.is_production(app) or security.running_cli()
    for key, name in (("SECRET_KEY", "secret_key"), ("AUDIT_KEY", "audit_key")):
        if not app.config.get(key):
            app.config[key] = _instance_secret(app.instance_path, name, create=make_keys)
    app.config.setdefault("SQLALCHEMY_DATABASE_URI", None)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
            app.instance_path, "ceroc.sqlite"
        )
    storage = app.config.get("STORAGE_DIR") or app.instance_path
    for key, sub in (
        ("RECEIPTS_DIR", "receipts"),
        ("ARCHIVE_DIR", "letters"),
        ("IMPORTS_DIR", "imports"),
    ):
        if not app.config.get(key):
            app.config[key] = os.path.join(storage, sub)

    from ceroc_donations.logs import init_logging

    init_logging(app)

    from ceroc_donations.database import configure_sqlite
    from ceroc_donations.extensions import babel, csrf, db, login_manager, migrate
    from ceroc_donations.i18n import init_i18n

    db.init_app(app)
    migrate.init_app(app, db, directory=str(folder("migrations")))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    init_i18n(app, babel)
    security.init_app(app)

    from ceroc_donations.privacy import init_templates

    init_templates(app)

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)

    from werkzeug.exceptions import NotFound
    from werkzeug.routing import IntegerConverter

    class DatabaseId(IntegerConverter):
        """``<int:…>`` in URLs: an id no database column holds is a 404, not an overflow in the
        driver."""

        def to_python(self, value: str) -> int:
            from ceroc_donations.book.inputs import MAX_ID

            number = super().to_python(value)
            if number > MAX_ID:
                raise NotFound()
            return number

    app.url_map.converters["int"] = DatabaseId

    from ceroc_donations.blueprints import register_blueprints

    register_blueprints(app)

    from ceroc_donations.jobs import queue

    queue.init_app(app)

    from ceroc_donations.cli import register_cli

    register_cli(app)
    security.enforce_production(app)
    return app
