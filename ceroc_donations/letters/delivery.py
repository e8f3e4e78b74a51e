"""Delivering letters: marking them sent, emailing them, and the gifts still to thank.

Every function that changes data flushes and audits; the caller commits.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.book.models import Contribution, ContributionDonor
from ceroc_donations.book.service import set_thank_status
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.letters.archive import pdf_filename, read_pdf
from ceroc_donations.letters.models import Letter


class MailError(RuntimeError):
    """The letter could not be emailed; the message says why, for people."""


def mark_sent(letter: Letter, via: str, *, by: User | None) -> Letter:
    """Record that *letter* was handed over (``print``) or emailed. The caller commits."""
    if via not in ("print", "email"):
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
