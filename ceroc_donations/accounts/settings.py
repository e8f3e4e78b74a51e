"""Run-time switches kept in the ``setting`` table; each change is audited. The caller commits."""

from __future__ import annotations

from flask import current_app

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.accounts.setting import Setting
from ceroc_donations.extensions import db

TRANSPARENCY_PUBLIC = "transparency_public"


def get(key: str) -> str | None:
    row = db.session.get(Setting, key)
    return row.value if row is not None else None


def put(key: str, value: str, *, by: User | None) -> None:
    """Store *value* under *key*; audit the change (nothing is logged when it is the same)."""
    row = db.session.get(Setting, key)
    before = row.value if row is not None else None
    if before == value:
        return
    if row is None:
        db.session.add(Setting(key=key, value=value))
    else:
        row.value = value
    db.session.flush()
    audit.log(by, "setting.changed", "setting", None, before={key: before}, after={key: value})


def transparency_public() -> bool:
    """Whether ``/transparency`` is open to everyone: the admin's switch, else the config."""
    value = get(TRANSPARENCY_PUBLIC)
    if value is None:
        return bool(current_app.config.get("TRANSPARENCY_PUBLIC", False))
    return value == "1"


def set_transparency_public(on: bool, *, by: User | None) -> None:
    put(TRANSPARENCY_PUBLIC, "1" if on else "0", by=by)
