"""Settings from CEROC_* variables; production mode refuses unsafe ones; links use PUBLIC_URL."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from ceroc_donations import create_app
from ceroc_donations.config import from_environ

GOOD_KEY = secrets.token_urlsafe(48)


def _config(tmp_path, **extra) -> dict:
    return {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'c.sqlite'}",
        "RECEIPTS_DIR": str(tmp_path / "receipts"),
        "ARCHIVE_DIR": str(tmp_path / "letters"),
        **extra,
    }


def test_settings_come_from_the_environment(monkeypatch):
    for name, value in {
        "CEROC_ENV": "production",
        "CEROC_PUBLIC_URL": "https://donations.example.org",
        "CEROC_REDIS_URL": "redis://127.0.0.1:6379/0",
        "CEROC_MAIL_PORT": "587",
        "CEROC_MAIL_USE_TLS": "true",
        "CEROC_HEALTH_MIN_FREE_MB": "2048",
        "CEROC_DATABASE_URL": "postgresql+psycopg://ceroc@/ceroc?host=/run/postgresql",
    }.items():
        monkeypatch.setenv(name, value)
    cfg = from_environ()
    assert cfg["ENV"] == "production"
    assert cfg["PUBLIC_URL"] == "https://donations.example.org"
    assert cfg["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert cfg["MAIL_PORT"] == 587
    assert cfg["MAIL_USE_TLS"] is True
    assert cfg["HEALTH_MIN_FREE_MB"] == 2048
    assert cfg["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    monkeypatch.setenv("CEROC_MAIL_USE_TLS", "0")
    assert from_environ()["MAIL_USE_TLS"] is False


def test_development_keeps_a_secret_in_the_instance_folder(tmp_path, monkeypatch):
    import ceroc_donations

    monkeypatch.setattr(
        ceroc_donations, "_instance_secret", lambda path, name, create=True: "made-once"
    )
    app = create_app(_config(tmp_path))
    assert app.config["SECRET_KEY"] == "made-once"
    assert app.config["ENV"] == "development"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "SECRET_KEY is missing"),
        ("", "SECRET_KEY is missing"),
        ("test", "SECRET_KEY is a placeholder"),
        ("changeme", "SECRET_KEY is a placeholder"),
        ("replace-with-a-random-key-of-forty-characters", "SECRET_KEY is a placeholder"),
        ("x" * 20, "SECRET_KEY is a placeholder or shorter than 32"),
    ],
)
def test_production_refuses_a_missing_or_default_secret(tmp_path, monkeypatch, key, message):
    import ceroc_donations

    def made(path, name, *, create=True):
        assert not create, "production must not make a key of its own"

    monkeypatch.setattr(ceroc_donations, "_instance_secret", made)
    extra = {"ENV": "production", "AUDIT_KEY": GOOD_KEY}
    if key is not None:
        extra["SECRET_KEY"] = key
    with pytest.raises(RuntimeError, match=message):
        create_app(_config(tmp_path, **extra))


def test_production_refuses_a_public_url_that_is_not_one(tmp_path):
    with pytest.raises(RuntimeError, match="CEROC_PUBLIC_URL"):
        create_app(
            _config(
                tmp_path,
                ENV="production",
                SECRET_KEY=GOOD_KEY,
                AUDIT_KEY=GOOD_KEY,
                PUBLIC_URL="donations.org",
            )
        )


def test_production_refuses_to_start_without_its_public_address(tmp_path):
    """Letters' QR codes and emailed links need the address the world reaches the app at."""
    with pytest.raises(RuntimeError, match="CEROC_PUBLIC_URL is missing"):
        create_app(_config(tmp_path, ENV="production", SECRET_KEY=GOOD_KEY, AUDIT_KEY=GOOD_KEY))


def test_production_starts_with_a_real_secret(tmp_path):
    app = create_app(
        _config(
            tmp_path,
            ENV="production",
            SECRET_KEY=GOOD_KEY,
            AUDIT_KEY=GOOD_KEY,
            PUBLIC_URL="https://donations.example.org",
        )
    )
    assert app.config["SECRET_KEY"] == GOOD_KEY


def test_links_are_built_from_the_public_url(tmp_path):
    from ceroc_donations.web import external_url

    app = create_app(_config(tmp_path, SECRET_KEY="test"))
    with app.test_request_context("/", base_url="http://10.0.0.5:8000"):
        # Without PUBLIC_URL: the request's own host.
        assert external_url("api_letters.letter_pdf", number=7) == (
            "http://10.0.0.5:8000/api/v1/letters/7.pdf"
        )
        app.config["PUBLIC_URL"] = "https://donations.example.org/ceroc/"
        assert external_url("api_letters.letter_pdf", number=7) == (
            "https://donations.example.org/ceroc/api/v1/letters/7.pdf"
        )
    # A job has no request: the public URL still works.
    with app.app_context():
        assert external_url("ledger.index") == "https://donations.example.org/ceroc/ledger/"


def test_every_file_the_app_writes_goes_under_one_storage_directory(tmp_path, monkeypatch):
    storage = tmp_path / "shared"
    monkeypatch.setenv("CEROC_STORAGE_DIR", str(storage))
    monkeypatch.setenv("CEROC_SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("CEROC_DATABASE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    app = create_app()
    assert app.config["RECEIPTS_DIR"] == str(storage / "receipts")
    assert app.config["ARCHIVE_DIR"] == str(storage / "letters")
    assert app.config["IMPORTS_DIR"] == str(storage / "imports")
    # Each can also be put elsewhere on its own.
    monkeypatch.setenv("CEROC_IMPORTS_DIR", str(tmp_path / "uploads"))
    app = create_app()
    assert app.config["IMPORTS_DIR"] == str(tmp_path / "uploads")
    assert app.config["ARCHIVE_DIR"] == str(storage / "letters")
    with app.test_request_context():
        from ceroc_donations.imports.service import imports_dir

        assert imports_dir() == str(tmp_path / "uploads")
    # Without a storage directory: the instance folder, as before.
    monkeypatch.delenv("CEROC_STORAGE_DIR")
    monkeypatch.delenv("CEROC_IMPORTS_DIR")
    app = create_app()
    assert app.config["IMPORTS_DIR"] == str(Path(app.instance_path) / "imports")
