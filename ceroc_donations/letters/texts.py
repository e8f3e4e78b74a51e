"""The board's letter texts: versions, parsing with placeholder checks, saving.

Every function that changes data flushes and audits; the caller commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields, replace

from flask_babel import gettext
from sqlalchemy import select

from ceroc_donations import audit
from ceroc_donations.accounts import settings
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.database import next_value, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import LetterTextVersion
from ceroc_donations.rendering import LetterTexts, validate

#: The texts the board edits on /letters/texts; the rest (organisation names, labels)
#: are carried over from the version before.
EDITABLE_FIELDS: tuple[str, ...] = (
    "title_km", "title_en", "greeting_km", "greeting_en", "body_km", "body_en",
    "statement_title_km", "statement_title_en", "statement_body_km", "statement_body_en",
    "closing_km", "closing_en", "signatory_name_km", "signatory_name_en",
    "signatory_title_km", "signatory_title_en", "not_tax_receipt_km", "not_tax_receipt_en",
)  # fmt: skip
MULTILINE_FIELDS = ("body_km", "body_en", "statement_body_km", "statement_body_en")
MAX_TEXT_LENGTH = 5000


# --- texts -------------------------------------------------------------------------------


def texts_to_dict(texts: LetterTexts) -> dict:
    """A JSON-ready dict of *texts* (the inverse of :meth:`LetterTexts.from_dict`)."""
    out = {}
    for f in fields(texts):
        value = getattr(texts, f.name)
        out[f.name] = dict(value) if isinstance(value, Mapping) else value
    return out


def with_defaults(texts: LetterTexts) -> LetterTexts:
    """*texts* as letters print them: an empty Khmer signatory name takes the one from the
    settings (and the template falls back to the English name when that is empty too)."""
    if texts.signatory_name_km.strip():
        return texts
    default = settings.signatory_name_km()
    return replace(texts, signatory_name_km=default) if default else texts


def latest_text_version() -> LetterTextVersion | None:
    return db.session.execute(
        select(LetterTextVersion).order_by(LetterTextVersion.number.desc()).limit(1)
    ).scalar()


def texts_of(version: LetterTextVersion | None) -> LetterTexts:
    """The :class:`LetterTexts` of *version* (the shipped default when ``None``)."""
    if version is None:
        return LetterTexts.default()
    return LetterTexts.from_dict({**version.texts, "version": str(version.number)})


def current_texts() -> tuple[LetterTexts, LetterTextVersion | None]:
    version = latest_text_version()
    return texts_of(version), version


def parse_texts(form: Mapping[str, str], base: LetterTexts | None = None) -> LetterTexts:
    """The edited texts from *form* over *base*; :class:`Invalid` with a message per field.

    Placeholders are checked with :func:`rendering.validate`; texts are never Jinja.
    """
    base = base or current_texts()[0]
    values = texts_to_dict(base)
    errors: dict[str, str] = {}
    for name in EDITABLE_FIELDS:
        if name not in form:
            continue
        text = str(form.get(name) or "").replace("\r\n", "\n")
        if name not in MULTILINE_FIELDS:
            text = text.strip()
        if len(text) > MAX_TEXT_LENGTH:
            errors[name] = gettext("At most %(n)d characters.", n=MAX_TEXT_LENGTH)
            continue
        problems = validate(text)
        if problems:
            errors[name] = " ".join(problems)
        values[name] = text
    for name in ("body_km", "body_en", "closing_en", "signatory_name_en"):
        if name in form and not values[name].strip() and name not in errors:
            errors[name] = gettext("This text may not be empty.")
    if errors:
        raise Invalid(errors)
    return LetterTexts.from_dict(values)


def save_texts(texts: LetterTexts, *, by: User | None) -> LetterTextVersion:
    """Store *texts* as a new version; earlier versions stay as they were. The caller commits."""
    data = texts_to_dict(texts)
    data.pop("version", None)
    number = next_value("letter_texts")
    version = LetterTextVersion(
        number=number,
        texts_json=json.dumps(data, ensure_ascii=False, sort_keys=True),
        created_by_id=by.id if by else None,
        created_at=utcnow(),
    )
    db.session.add(version)
    db.session.flush()
    audit.log(by, "letter_texts.saved", "letter_text_version", version.id, after={"number": number})
    return version


def version_for_letters(by: User | None) -> tuple[LetterTexts, LetterTextVersion]:
    """The current texts and their version; the shipped default becomes version 1 if needed."""
    texts, version = current_texts()
    if version is None:
        version = save_texts(texts, by=by)
        texts = texts_of(version)
    return texts, version


def recent_versions(limit: int = 20) -> list[LetterTextVersion]:
    """The latest saved versions of the texts, newest first."""
    return list(
        db.session.execute(
            select(LetterTextVersion).order_by(LetterTextVersion.number.desc()).limit(limit)
        ).scalars()
    )
