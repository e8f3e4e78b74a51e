"""Thank-you letters around the pure renderer: read the database once, number, archive.

Every function that changes data flushes and audits; the caller commits. The PDF file is
written *before* the caller commits its row, so a crash leaves at worst a stray file,
never a numbered row without its PDF.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import smtplib
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import fields
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from flask import current_app
from flask_babel import gettext
from sqlalchemy import extract, select
from sqlalchemy.orm import selectinload

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, ContributionDonor, Donor
from ceroc_donations.database import next_value, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import SENT_VIA, Letter, LetterBatch, LetterTextVersion
from ceroc_donations.money import Money
from ceroc_donations.rendering import Donor as LetterDonor
from ceroc_donations.rendering import GiftLine, LetterData, LetterTexts, render_html, validate
from ceroc_donations.rendering.letter import Kind, letter_metadata

if TYPE_CHECKING:
    from ceroc_donations.rendering.pdf import LetterRenderer
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.service import Conflict, set_thank_status

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
MODES = ("joint", "each")


class ArchiveError(RuntimeError):
    """An archived PDF is missing or no longer matches its SHA-256."""


class MailError(RuntimeError):
    """The letter could not be emailed; the message says why, for people."""


# --- texts -------------------------------------------------------------------------------


def texts_to_dict(texts: LetterTexts) -> dict:
    """A JSON-ready dict of *texts* (the inverse of :meth:`LetterTexts.from_dict`)."""
    out = {}
    for f in fields(texts):
        value = getattr(texts, f.name)
        out[f.name] = dict(value) if isinstance(value, Mapping) else value
    return out


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


def _version_for_letters(by: User | None) -> tuple[LetterTexts, LetterTextVersion]:
    """The current texts and their version; the shipped default becomes version 1 if needed."""
    texts, version = current_texts()
    if version is None:
        version = save_texts(texts, by=by)
        texts = texts_of(version)
    return texts, version


# --- reading the database into LetterData ------------------------------------------------


def _letter_donor(donor: Donor) -> LetterDonor:
    return LetterDonor(name_en=donor.name_en, name_km=donor.name_km or None)


def language_for(donors: Iterable[Donor]) -> str:
    """The donors' shared letter language; bilingual when they differ."""
    languages = {d.letter_language or "bilingual" for d in donors}
    return languages.pop() if len(languages) == 1 else "bilingual"


def recipient_groups(c: Contribution, mode: str = "joint") -> list[list[Donor]]:
    """Who gets a letter: all co-donors together (``joint``) or one letter ``each``."""
    if mode not in MODES:
        raise Invalid({"mode": gettext("Choose one letter for all co-donors or one letter each.")})
    donors = c.donors
    if mode == "each" and len(donors) > 1:
        return [[d] for d in donors]
    return [donors]


def _amount_for(c: Contribution, recipients: list[Donor]) -> Money:
    """The whole gift, or one co-donor's share when one of several is thanked alone."""
    if len(recipients) == 1 and len(c.shares) > 1:
        share = next(s for s in c.shares if s.donor_id == recipients[0].id)
        if share.share_minor is not None:
            return Money(share.share_minor, c.currency)
    return c.amount


def thank_you_data(
    c: Contribution,
    recipients: list[Donor],
    *,
    number: int,
    issued_on: date,
    language: str | None = None,
) -> LetterData:
    """The plain data of a thank-you letter for gift *c* to *recipients*."""
    return LetterData(
        number=number,
        reference=c.reference,
        issued_on=issued_on,
        donors=tuple(_letter_donor(d) for d in recipients),
        amount=_amount_for(c, recipients),
        received_on=c.received_on,
        occasion=c.occasion or "",
        purpose=c.purpose or "",
        language=language or language_for(recipients),  # type: ignore[arg-type]
    )


def statement_gifts(donor: Donor, year: int) -> list[tuple[Contribution, Money]]:
    """The donor's non-void gifts in *year*, oldest first, each with the amount credited."""
    gifts = (
        db.session.execute(
            select(Contribution)
            .join(ContributionDonor)
            .where(
                ContributionDonor.donor_id == donor.id,
                Contribution.voided.is_(False),
                extract("year", Contribution.received_on) == year,
            )
            .options(selectinload(Contribution.shares))
            .order_by(Contribution.received_on, Contribution.id)
        )
        .scalars()
        .all()
    )
    out = []
    for c in gifts:
        share = next(s for s in c.shares if s.donor_id == donor.id)
        amount = (
            Money(share.share_minor, c.currency)
            if (share.share_minor is not None and len(c.shares) > 1)
            else c.amount
        )
        out.append((c, amount))
    return out


def statement_data(donor: Donor, year: int, *, number: int, issued_on: date) -> LetterData:
    """The plain data of a yearly statement; mixed currencies are shown in the base currency."""
    gifts = statement_gifts(donor, year)
    if not gifts:
        raise Invalid(
            {
                "year": gettext(
                    "%(name)s gave nothing in %(year)d (void gifts aside).",
                    name=donor.name_en,
                    year=year,
                )
            }
        )
    currencies = {amount.currency for _, amount in gifts}
    lines = []
    for c, amount in gifts:
        if len(currencies) > 1:
            # Credited share of the base amount, rounded down like the donor page.
            amount = Money(c.base_amount_minor * amount.minor // c.amount_minor, c.base_currency)
        lines.append(GiftLine(received_on=c.received_on, reference=c.reference, amount=amount))
    currency = lines[0].amount.currency
    total = Money(sum(line.amount.minor for line in lines), currency)
    return LetterData(
        number=number,
        reference=f"{year}-D{donor.id}",
        issued_on=issued_on,
        donors=(_letter_donor(donor),),
        amount=total,
        gifts=tuple(lines),
        year=year,
        language=donor.letter_language or "bilingual",  # type: ignore[arg-type]
    )


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
    time of rendering.
    """
    r = renderer()
    html = render_html(data, texts, kind, letters_dir=r.letters_dir)
    document = r.render_document(html, **letter_metadata(data, texts, kind))
    document.metadata.created = document.metadata.modified = data.issued_on.isoformat()
    return r.write(document)


def preview_html(data: LetterData, texts: LetterTexts, kind: Kind = "thank_you") -> str:
    return render_html(data, texts, kind)


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


def _archive_letter(
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
    pdf = render_pdf(data, texts, kind)  # type: ignore[arg-type]
    relative = f"{data.issued_on.year}/{number:06d}-{kind.replace('_', '-')}.pdf"
    _write_archive(relative, pdf)  # before the row is committed
    letter = Letter(
        number=number,
        kind=kind,
        contribution_id=contribution.id if contribution else None,
        donor_id=donor.id if donor else None,
        year=year,
        language=data.language,
        issued_on=data.issued_on,
        text_version_id=version.id,
        pdf_path=relative,
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        batch_id=batch.id if batch else None,
        generated_by_id=by.id if by else None,
        generated_at=utcnow(),
        status="drafted",
    )
    letter.recipients = list(recipients)
    db.session.add(letter)
    db.session.flush()
    audit.log(
        by,
        "letter.generated",
        "letter",
        letter.id,
        after={
            "number": number,
            "kind": kind,
            "sha256": letter.sha256,
            "contribution": contribution.reference if contribution else None,
            "donor_id": donor.id if donor else None,
            "year": year,
            "text_version": version.number,
        },
    )
    return letter


def letters_for(c: Contribution) -> list[Letter]:
    return list(
        db.session.execute(
            select(Letter).where(Letter.contribution_id == c.id).order_by(Letter.number)
        ).scalars()
    )


def generate_thank_you(
    c: Contribution,
    *,
    by: User | None,
    mode: str = "joint",
    force: bool = False,
    issued_on: date | None = None,
    batch: LetterBatch | None = None,
) -> tuple[list[Letter], bool]:
    """The gift's letters: the archived ones, or new ones (``True``) if none or *force*.

    The caller commits.
    """
    if not force and (existing := letters_for(c)):
        return existing, False
    if c.voided:
        raise Conflict(gettext("%(ref)s is void: it gets no letter.", ref=c.reference))
    if c.thank_status == "do_not_acknowledge":
        raise Conflict(gettext("%(ref)s is marked “do not acknowledge”.", ref=c.reference))
    texts, version = _version_for_letters(by)
    issued_on = issued_on or date.today()
    made = []
    for group in recipient_groups(c, mode):
        made.append(
            _archive_letter(
                kind="thank_you",
                texts=texts,
                version=version,
                recipients=group,
                by=by,
                contribution=c,
                batch=batch,
                data_for=lambda n, g=group: thank_you_data(c, g, number=n, issued_on=issued_on),
            )
        )
    if c.thank_status == "not_thanked":
        set_thank_status(c, "drafted", by=by)
    return made, True


def generate_statement(
    donor: Donor, year: int, *, by: User | None, issued_on: date | None = None
) -> Letter:
    """A yearly statement for *donor*: all gifts of *year* and their total. The caller commits."""
    statement_data(donor, year, number=0, issued_on=issued_on or date.today())  # checks
    texts, version = _version_for_letters(by)
    issued_on = issued_on or date.today()
    return _archive_letter(
        kind="statement",
        texts=texts,
        version=version,
        recipients=[donor],
        by=by,
        donor=donor,
        year=year,
        data_for=lambda n: statement_data(donor, year, number=n, issued_on=issued_on),
    )


def letter_data(letter: Letter) -> LetterData:
    """The data *letter* was rendered from, read again from the database."""
    if letter.kind == "statement":
        return statement_data(
            letter.donor, letter.year, number=letter.number, issued_on=letter.issued_on
        )
    return thank_you_data(
        letter.contribution,
        list(letter.recipients),
        number=letter.number,
        issued_on=letter.issued_on,
        language=letter.language,
    )


def rerender(letter: Letter) -> bytes:
    """Render *letter* again from the database and its text version (for checks)."""
    return render_pdf(letter_data(letter), texts_of(letter.text_version), letter.kind)


def mark_sent(letter: Letter, via: str, *, by: User | None) -> Letter:
    """Record that *letter* was printed and handed over (``print``; the API says ``post`` or
    ``hand``) or emailed. The caller commits."""
    if via not in SENT_VIA:
        raise Invalid({"via": gettext("Choose printed or emailed.")})
    before = {"status": letter.status, "sent_via": letter.sent_via}
    letter.status, letter.sent_via, letter.sent_at = "sent", via, utcnow()
    letter.sent_by_id = by.id if by else None
    db.session.flush()
    audit.log(
        by,
        "letter.sent",
        "letter",
        letter.id,
        before=before,
        after={"status": "sent", "sent_via": via},
    )
    if letter.contribution is not None and letter.contribution.thank_status in (
        "not_thanked",
        "drafted",
    ):
        set_thank_status(letter.contribution, "sent", by=by)
    return letter


def email_subject(letter: Letter) -> str:
    if letter.kind == "statement":
        return f"CEROC: របាយការណ៍វិភាគទានឆ្នាំ {letter.year} / Your contributions in {letter.year}"
    return f"CEROC: លិខិតថ្លែងអំណរគុណ / Thank-you letter {letter.number}"


def email_letter(letter: Letter, *, by: User | None, to: list[str] | None = None) -> list[str]:
    """Email *letter* with its PDF attached and mark it sent; returns the addresses.

    Raises :class:`MailError` (nothing is marked) when no address or the server fails.
    """
    to = to or [d.email for d in letter.recipients if d.email]
    if not to:
        raise MailError(
            gettext(
                "No email address is recorded for this donor: add one on the "
                "donor's page, or print the letter."
            )
        )
    cfg = current_app.config
    pdf = read_pdf(letter)
    message = EmailMessage()
    message["Subject"] = email_subject(letter)
    message["From"] = cfg["MAIL_SENDER"]
    message["To"] = ", ".join(to)
    message.set_content(
        f"សូមជម្រាបជូន {letter.recipient_names}\n\n"
        "សូមមើលលិខិតភ្ជាប់មកជាមួយ។ សូមអរគុណ។\n\n"
        f"Dear {letter.recipient_names},\n\n"
        "Please find our letter attached. Thank you for your support.\n\n"
        f"{cfg['ORG_NAME_EN']} ({cfg['ORG_SHORT']})\n"
    )
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=pdf_filename(letter)
    )
    try:
        with smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=30) as smtp:
            if cfg.get("MAIL_USE_TLS"):
                smtp.starttls()
            if cfg.get("MAIL_USERNAME"):
                smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(
            gettext(
                "The mail server did not take the letter (%(detail)s). Nothing was marked as "
                "sent; try again or print it.",
                detail=f"{exc.__class__.__name__}: {exc}",
            )
        ) from exc
    mark_sent(letter, "email", by=by)
    return to


# --- the queue and batches ---------------------------------------------------------------


def queue() -> list[Contribution]:
    """Gifts not yet thanked (no letter, or a letter not yet sent), oldest first."""
    return list(
        db.session.execute(
            select(Contribution)
            .where(
                Contribution.voided.is_(False),
                Contribution.thank_status.in_(("not_thanked", "drafted")),
            )
            .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor))
            .order_by(Contribution.received_on, Contribution.id)
        ).scalars()
    )


def create_batch(
    contribution_ids: Iterable[int], *, mode: str = "joint", by: User | None
) -> LetterBatch:
    """A queued batch of the given gifts' letters. The caller commits, then starts it."""
    if mode not in MODES:
        raise Invalid({"mode": gettext("Choose one letter for all co-donors or one letter each.")})
    ids = list(dict.fromkeys(int(i) for i in contribution_ids))
    if not ids:
        raise Invalid({"ids": gettext("Tick at least one gift.")})
    found = {
        c.id: c
        for c in db.session.execute(select(Contribution).where(Contribution.id.in_(ids))).scalars()
    }
    bad = [
        str(i)
        for i in ids
        if i not in found or found[i].voided or found[i].thank_status == "do_not_acknowledge"
    ]
    if bad:
        raise Invalid(
            {
                "ids": gettext(
                    "These gifts cannot get a letter (void, unknown or “do not "
                    "acknowledge”): %(ids)s.",
                    ids=", ".join(bad),
                )
            }
        )
    ordered = sorted(found.values(), key=lambda c: (c.received_on, c.id))
    batch = LetterBatch(
        status="queued",
        mode=mode,
        total=len(ordered),
        done=0,
        contribution_ids_json=json.dumps([c.id for c in ordered]),
        letter_ids_json="[]",
        created_by_id=by.id if by else None,
    )
    db.session.add(batch)
    db.session.flush()
    audit.log(
        by,
        "letter_batch.created",
        "letter_batch",
        batch.id,
        after={"total": batch.total, "mode": mode},
    )
    return batch


def run_batch(
    batch_id: int,
    *,
    issued_on: date | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LetterBatch:
    """Generate a batch's letters, one transaction per gift, updating its progress row.

    This is what the worker process runs; tests call it directly.
    """
    batch = db.session.get(LetterBatch, batch_id)
    if batch is None:
        raise LookupError(f"no letter batch {batch_id}")
    by = batch.created_by
    batch.status, batch.started_at, batch.worker_pid = "running", utcnow(), os.getpid()
    db.session.commit()
    letter_ids = list(batch.letter_ids)
    try:
        for cid in batch.contribution_ids[batch.done :]:
            c = db.session.get(Contribution, cid)
            made, _ = generate_thank_you(
                c, by=by, mode=batch.mode, issued_on=issued_on, batch=batch
            )
            letter_ids += [m.id for m in made if m.id not in letter_ids]
            batch.letter_ids_json = json.dumps(letter_ids)
            batch.done += 1
            db.session.commit()
            if progress:
                progress(batch.done, batch.total)
    except Exception as exc:
        db.session.rollback()
        batch = db.session.get(LetterBatch, batch_id)
        batch.status, batch.finished_at = "failed", utcnow()
        batch.error = f"{exc.__class__.__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    batch.status, batch.finished_at = "done", utcnow()
    db.session.commit()
    return batch


#: Config keys the worker process needs to open the same database and archive.
WORKER_CONFIG_KEYS = (
    "SQLALCHEMY_DATABASE_URI",
    "ARCHIVE_DIR",
    "BASE_CURRENCY",
    "ORG_NAME_EN",
    "ORG_NAME_KM",
    "ORG_SHORT",
    "SECRET_KEY",
)


#: Worker processes started by this process; finished ones are reaped at the next start.
WORKERS: list[subprocess.Popen] = []


def start_batch_process(batch_id: int) -> subprocess.Popen:
    """Run :func:`run_batch` in its own process, so it outlives the request that asked."""
    WORKERS[:] = [p for p in WORKERS if p.poll() is None]
    config = {
        key: current_app.config[key]
        for key in WORKER_CONFIG_KEYS
        if current_app.config.get(key) is not None
    }
    env = {**os.environ, "CEROC_LETTER_WORKER_CONFIG": json.dumps(config)}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "ceroc_donations.letters.worker", str(batch_id)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    WORKERS.append(process)
    return process


def batch_eta_seconds(batch: LetterBatch) -> int | None:
    """Seconds left, from the pace so far; ``None`` before the first letter."""
    if batch.status != "running" or not batch.started_at or batch.done == 0:
        return None
    elapsed = (utcnow() - batch.started_at).total_seconds()
    return max(0, round(elapsed / batch.done * (batch.total - batch.done)))


def batch_letters(batch: LetterBatch) -> list[Letter]:
    ids = batch.letter_ids
    if not ids:
        return []
    by_id = {
        letter.id: letter
        for letter in db.session.execute(select(Letter).where(Letter.id.in_(ids))).scalars()
    }
    return [by_id[i] for i in ids if i in by_id]


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
