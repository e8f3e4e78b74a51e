"""Numbering, rendering and archiving letters: PDFs stored with their SHA-256.

Every function that changes data flushes and audits; the caller commits. The PDF file is
written *before* the caller commits its row, so a crash leaves at worst a stray file,
never a numbered row without its PDF.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, Donor
from ceroc_donations.book.service import Conflict, set_thank_status
from ceroc_donations.database import next_value, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.data import (
    check_batch_paper,
    data_of,
    recipient_groups,
    statement_data,
    thank_you_data,
)
from ceroc_donations.letters.models import Letter, LetterBatch, LetterTextVersion, letter_recipient
from ceroc_donations.letters.texts import texts_of, version_for_letters, with_defaults
from ceroc_donations.letters.verification import normalise, printed, verified
from ceroc_donations.rendering import LetterData, LetterTexts, render_html
from ceroc_donations.rendering.letter import Kind

if TYPE_CHECKING:
    from ceroc_donations.rendering.pdf import LetterRenderer


class ArchiveError(RuntimeError):
    """An archived PDF is missing or no longer matches its SHA-256."""


# --- rendering ---------------------------------------------------------------------------

_local = threading.local()
# Drop the cached renderer before interpreter teardown: WeasyPrint's FontConfiguration
# cleans its temporary folder in __del__, which fails once modules are being torn down.
atexit.register(lambda: _local.__dict__.clear())


def renderer() -> LetterRenderer:
    """This thread's renderer (fonts and stylesheets are parsed once per thread)."""
    r = getattr(_local, "renderer", None)
    if r is None:
        from ceroc_donations.rendering.pdf import LetterRenderer

        r = _local.renderer = LetterRenderer()
    return r


def render_pdf(data: LetterData, texts: LetterTexts, kind: Kind = "thank_you") -> bytes:
    """PDF/A bytes of one letter; the same data and texts always give the same bytes.

    The PDF's creation and modification dates are the letter's issued date, never the
    time of rendering. An empty Khmer signatory name takes the settings' default.
    """
    return renderer().archived_letter(data, with_defaults(texts), kind)


def preview_html(data: LetterData, texts: LetterTexts, kind: Kind = "thank_you") -> str:
    """The HTML of a letter for the browser preview (a draft when *data* has no number)."""
    return render_html(data, with_defaults(texts), kind)


# --- the archive -------------------------------------------------------------------------


def archive_dir() -> Path:
    return Path(current_app.config["ARCHIVE_DIR"])


def _write_archive(relative: str, pdf: bytes) -> None:
    path = archive_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as handle:
        handle.write(pdf)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_pdf(letter: Letter) -> bytes:
    """The archived PDF of *letter*, checked against its SHA-256."""
    path = archive_dir() / letter.pdf_path
    try:
        pdf = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(gettext("The PDF of letter %(n)d is missing.", n=letter.number)) from exc
    if hashlib.sha256(pdf).hexdigest() != letter.sha256:
        raise ArchiveError(
            gettext("The PDF of letter %(n)d does not match its SHA-256.", n=letter.number)
        )
    return pdf


def pdf_filename(letter: Letter) -> str:
    return f"CEROC-letter-{letter.number}.pdf"


def archive_letter(
    *,
    kind: str,
    data_for: Callable[[int], LetterData],
    texts: LetterTexts,
    version: LetterTextVersion,
    recipients: list[Donor],
    by: User | None,
    contribution: Contribution | None = None,
    donor: Donor | None = None,
    year: int | None = None,
    batch: LetterBatch | None = None,
) -> Letter:
    number = next_value("letter")
    data = data_for(number)
    data = verified(data, kind, version.number)
    pdf = render_pdf(data, texts, kind)  # type: ignore[arg-type]
    return store_letter(
        data=data, pdf=pdf, kind=kind, version=version, recipients=recipients, by=by,
        contribution=contribution, donor=donor, year=year, batch=batch,
    )  # fmt: skip


@dataclass(frozen=True)
class Rendered:
    """A rendered letter, numbered in this transaction, waiting to be archived."""

    data: LetterData
    pdf: bytes
    kind: str
    recipients: list[Donor]
    contribution: Contribution | None = None
    donor: Donor | None = None
    year: int | None = None


def store_letter(
    *,
    data: LetterData,
    pdf: bytes,
    kind: str,
    version: LetterTextVersion,
    recipients: list[Donor],
    by: User | None,
    contribution: Contribution | None = None,
    donor: Donor | None = None,
    year: int | None = None,
    batch: LetterBatch | None = None,
) -> Letter:
    """Archive the rendered *pdf* of letter ``data.number`` (a number taken in this
    transaction): the file first, then its row and the audit event. The caller commits."""
    rendered = Rendered(data, pdf, kind, recipients, contribution, donor, year)
    return store_letters([rendered], version=version, by=by, batch=batch)[0]


def store_letters(
    rendered: list[Rendered],
    *,
    version: LetterTextVersion,
    by: User | None,
    batch: LetterBatch | None = None,
) -> list[Letter]:
    """Archive rendered letters: every file first, then their rows and audit events, each
    kind written at once (a batch stores its letters in groups). The caller commits."""
    letters = []
    at = utcnow()
    for r in rendered:
        number = r.data.number
        relative = f"{r.data.issued_on.year}/{number:06d}-{r.kind.replace('_', '-')}.pdf"
        _write_archive(relative, r.pdf)  # before the row is committed
        letter = Letter(
            number=number,
            kind=r.kind,
            contribution_id=r.contribution.id if r.contribution else None,
            donor_id=r.donor.id if r.donor else None,
            year=r.year,
            language=r.data.language,
            paper=r.data.paper,
            issued_on=r.data.issued_on,
            text_version_id=version.id,
            pdf_path=relative,
            sha256=hashlib.sha256(r.pdf).hexdigest(),
            size=len(r.pdf),
            batch_id=batch.id if batch else None,
            generated_by_id=by.id if by else None,
            generated_at=at,
            status="drafted",
            verify_code=normalise(r.data.verification.code) if r.data.verification else None,
            verify_url=r.data.verification.url if r.data.verification else None,
            amount_minor=r.data.amount.minor,
            currency=r.data.amount.currency,
        )
        letter.recipients = list(r.recipients)
        letters.append(letter)
    db.session.add_all(letters)
    db.session.flush()
    audit.log_many(
        by,
        [
            (
                "letter.generated",
                "letter",
                letter.id,
                None,
                {
                    "number": letter.number,
                    "kind": r.kind,
                    "sha256": letter.sha256,
                    "contribution": r.contribution.reference if r.contribution else None,
                    "donor_id": r.donor.id if r.donor else None,
                    "year": r.year,
                    "text_version": version.number,
                    "paper": r.data.paper,
                    "verify_code": letter.verify_code,
                },
            )
            for r, letter in zip(rendered, letters, strict=True)
        ],
    )
    return letters


def letters_for(c: Contribution) -> list[Letter]:
    """The gift's letters, oldest first."""
    return list(
        db.session.execute(
            select(Letter).where(Letter.contribution_id == c.id).order_by(Letter.number)
        ).scalars()
    )


def letters_to(donor: Donor) -> list[Letter]:
    """Every letter *donor* is a recipient of, newest first."""
    return list(
        db.session.execute(
            select(Letter)
            .join(letter_recipient, letter_recipient.c.letter_id == Letter.id)
            .where(letter_recipient.c.donor_id == donor.id)
            .order_by(Letter.number.desc())
        ).scalars()
    )


def letter_by_number(number: int) -> Letter | None:
    return db.session.execute(select(Letter).where(Letter.number == number)).scalar()


def generate_thank_you(
    c: Contribution,
    *,
    by: User | None,
    mode: str = "joint",
    force: bool = False,
    issued_on: date | None = None,
    batch: LetterBatch | None = None,
    paper: str = "auto",
) -> tuple[list[Letter], bool]:
    """The gift's letters: the archived ones, or new ones (``True``) if none or *force*.

    *paper*: ``auto`` (each letter on its addressee's paper), ``a4`` or ``letter``.
    The caller commits.
    """
    check_batch_paper(paper)
    if not force and (existing := letters_for(c)):
        return existing, False
    if c.voided:
        raise Conflict(gettext("%(ref)s is void: it gets no letter.", ref=c.reference))
    if c.thank_status == "do_not_acknowledge":
        raise Conflict(gettext("%(ref)s is marked “do not acknowledge”.", ref=c.reference))
    texts, version = version_for_letters(by)
    issued_on = issued_on or date.today()
    made = []
    for group in recipient_groups(c, mode):
        made.append(
            archive_letter(
                kind="thank_you",
                texts=texts,
                version=version,
                recipients=group,
                by=by,
                contribution=c,
                batch=batch,
                data_for=lambda n, g=group: thank_you_data(
                    c, g, number=n, issued_on=issued_on, paper=paper
                ),
            )
        )
    if c.thank_status == "not_thanked":
        set_thank_status(c, "drafted", by=by)
    return made, True


def generate_statement(
    donor: Donor,
    year: int,
    *,
    by: User | None,
    issued_on: date | None = None,
    paper: str = "auto",
) -> Letter:
    """A yearly statement for *donor*: all gifts of *year* and their total. The caller commits."""
    check_batch_paper(paper)
    statement_data(donor, year, number=None, issued_on=issued_on or date.today())  # checks
    texts, version = version_for_letters(by)
    issued_on = issued_on or date.today()
    return archive_letter(
        kind="statement",
        texts=texts,
        version=version,
        recipients=[donor],
        by=by,
        donor=donor,
        year=year,
        data_for=lambda n: statement_data(donor, year, number=n, issued_on=issued_on, paper=paper),
    )


def rerender(letter: Letter) -> bytes:
    """Render *letter* again from the database and its text version (for checks), with the
    verification code and link it was printed with."""
    data = replace(data_of(letter), verification=printed(letter))
    return render_pdf(data, texts_of(letter.text_version), letter.kind)


def combined_pdf(letters: list[Letter]) -> bytes:
    """One print-ready PDF: every letter starts on a new page."""
    from ceroc_donations.rendering import combine_pdfs

    return combine_pdfs([read_pdf(letter) for letter in letters])


def zip_of(letters: list[Letter]) -> bytes:
    """A ZIP of the letters' single PDFs."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for letter in letters:
            archive.writestr(pdf_filename(letter), read_pdf(letter))
    return out.getvalue()
