"""Run-time switches kept in the ``setting`` table; each change is audited. The caller commits."""

from __future__ import annotations

from flask import current_app

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.accounts.setting import Setting
from ceroc_donations.book.models import DONOR_DISPLAY
from ceroc_donations.extensions import db

TRANSPARENCY_PUBLIC = "transparency_public"
#: How donors first created by a CSV import are shown publicly: ``anonymous`` or ``named``.
IMPORT_DONOR_DISPLAY = "import_donor_display"


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


def import_donor_display() -> str:
    """The public display of donors a CSV import creates: the admin's choice, else anonymous
    (nobody asked these donors how they wish to be shown)."""
    value = get(IMPORT_DONOR_DISPLAY)
    return value if value in DONOR_DISPLAY else "anonymous"


def set_import_donor_display(value: str, *, by: User | None) -> None:
    if value not in DONOR_DISPLAY:
        raise ValueError(f"public display must be one of {DONOR_DISPLAY}")
    put(IMPORT_DONOR_DISPLAY, value, by=by)


#: The Khmer name of the letters' signatory, used when the letter texts leave it empty.
SIGNATORY_NAME_KM = "signatory_name_km"
MAX_SIGNATORY_NAME = 200


def signatory_name_km() -> str:
    """The Khmer signatory name set by the admin ('' when none)."""
    return get(SIGNATORY_NAME_KM) or ""


def set_signatory_name_km(value: str, *, by: User | None) -> None:
    """Store the Khmer signatory name; :class:`ValueError` when it is too long or unstorable."""
    value = " ".join(str(value or "").split())
    if len(value) > MAX_SIGNATORY_NAME:
        raise ValueError(f"at most {MAX_SIGNATORY_NAME} characters")
    if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValueError("a character that cannot be stored")
    put(SIGNATORY_NAME_KM, value, by=by)
