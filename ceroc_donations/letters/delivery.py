"""Delivering letters: marking them sent, emailing them, and which gifts are thanked.

A gift is thanked when every co-donor has been sent a letter that names them: one letter
to all, or one letter each. Every function that changes data flushes and audits; the
caller commits.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage

from flask import current_app
from flask_babel import gettext
from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import selectinload

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import Invalid, money_message
from ceroc_donations.book.models import (
    LETTER_LANGUAGES,
    Contribution,
    ContributionDonor,
    Donor,
    Fund,
)
from ceroc_donations.book.service import Conflict, set_thank_status
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.filters import whole_number
from ceroc_donations.jobs import queue as job_queue
from ceroc_donations.letters.archive import ArchiveError, letters_for, pdf_filename, read_pdf
from ceroc_donations.letters.jobs import batch_letters
from ceroc_donations.letters.models import SENT_VIA, Letter, LetterBatch, LetterEmail
from ceroc_donations.money import Money, MoneyError, parse_amount, to_input

LOG = logging.getLogger(__name__)

#: How a letter reached its donor.
#: The thank-you states the board sets by hand, each from the other; the rest follow
#: from the letters.
BY_HAND = {"do_not_acknowledge": "not_thanked", "not_thanked": "do_not_acknowledge"}


class MailError(RuntimeError):
    """The letter could not be emailed; the message says why, for people."""


def mark_sent(letter: Letter, via: str, *, by: User | None) -> Letter:
    """Record that *letter* was printed and handed over (``print``; the API says ``post`` or
    ``hand``) or emailed. The caller commits.

    Its gift becomes thanked once every co-donor's letter is sent.
    """
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
    c = letter.contribution
    if (
        c is not None
        and c.thank_status in ("not_thanked", "drafted")
        and all(status == "sent" for _, status in co_donor_statuses(c))
    ):
        set_thank_status(c, "sent", by=by)
    return letter


def mark_batch_sent(batch: LetterBatch, *, by: User | None) -> int:
    """Mark the batch's letters not yet sent as printed and sent; returns how many."""
    waiting = [letter for letter in batch_letters(batch) if letter.status != "sent"]
    for letter in waiting:
        mark_sent(letter, "print", by=by)
    return len(waiting)


def co_donor_statuses(c: Contribution) -> list[tuple[Donor, str]]:
    """Each co-donor of *c* with their own state: ``sent`` once a letter naming them was sent,
    ``drafted`` while it is not, ``not_thanked`` before any letter names them."""
    named: dict[int, set[str]] = {}
    for letter in letters_for(c):
        for donor in letter.recipients:
            named.setdefault(donor.id, set()).add(letter.status)
    out = []
    for donor in c.donors:
        states = named.get(donor.id, set())
        out.append((donor, "sent" if "sent" in states else "drafted" if states else "not_thanked"))
    return out


def co_donor_status(c: Contribution, donor: Donor) -> str:
    """*donor*'s own thank-you state for gift *c* (see :func:`co_donor_statuses`)."""
    return next(status for d, status in co_donor_statuses(c) if d.id == donor.id)


def set_by_hand(c: Contribution, status: str, *, by: User | None) -> Contribution:
    """Mark a gift "do not acknowledge", or take that back. The caller commits."""
    if c.voided:
        raise Conflict(gettext("%(ref)s is void: it gets no letter.", ref=c.reference))
    if status not in BY_HAND:
        raise Invalid({"status": gettext("Choose to acknowledge the gift or not.")})
    if c.thank_status == status:
        return c
    if c.thank_status != BY_HAND[status]:
        raise Conflict(
            gettext(
                "%(ref)s already has a letter: it can no longer be set by hand.",
                ref=c.reference,
            )
        )
    return set_thank_status(c, status, by=by)


def email_configured() -> bool:
    """Whether a mail server is set (CEROC_MAIL_SERVER): email is offered only then."""
    return bool(current_app.config.get("MAIL_SERVER"))


def email_subject(letter: Letter) -> str:
    if letter.kind == "statement":
        return f"CEROC: របាយការណ៍វិភាគទានឆ្នាំ {letter.year} / Your contributions in {letter.year}"
    return f"CEROC: លិខិតថ្លែងអំណរគុណ / Thank-you letter {letter.number}"


class _SMTP(smtplib.SMTP):
    """Keeps the server's reply to the message itself (e.g. ``250 2.0.0 Ok: queued as …``)."""

    answer: str | None = None

    def data(self, msg):
        code, reply = super().data(msg)
        self.answer = (
            f"{code} {reply.decode('utf-8', 'replace') if isinstance(reply, bytes) else reply}"
        )
        return code, reply


def _answer_of(exc: Exception) -> str:
    """The mail server's words (or the network error) for the record, never for the page."""
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{to}: {code} {reply!r}" for to, (code, reply) in exc.recipients.items())
    return f"{type(exc).__name__}: {exc}"


def _message(letter: Letter, to: list[str]) -> EmailMessage:
    cfg = current_app.config
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
        read_pdf(letter), maintype="application", subtype="pdf", filename=pdf_filename(letter)
    )
    return message


def _smtp_send(message: EmailMessage) -> str:
    """Hand *message* to the mail server; its answer. Raises SMTPException or OSError."""
    cfg = current_app.config
    with _SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=30) as smtp:
        if cfg.get("MAIL_USE_TLS"):
            smtp.starttls()
        if cfg.get("MAIL_USERNAME"):
            smtp.login(cfg["MAIL_USERNAME"], cfg.get("MAIL_PASSWORD") or "")
        smtp.send_message(message)
        return smtp.answer or "250"


def request_email(letter: Letter, *, by: User | None, to: list[str] | None = None) -> LetterEmail:
    """Record that *letter* is to be emailed (a queued :class:`LetterEmail`). The caller
    commits, then calls :func:`start_email`.

    Raises :class:`MailError` when email is not set up or the donor has no address, and
    :class:`Conflict` when the letter is emailed already or being emailed.
    """
    if not email_configured():
        raise MailError(gettext("Email is not set up on this server: print the letter instead."))
    to = to or [d.email for d in letter.recipients if d.email]
    if not to:
        raise MailError(
            gettext(
                "No email address is recorded for this donor: add one on the "
                "donor's page, or print the letter."
            )
        )
    busy = db.session.execute(
        select(LetterEmail.id).where(
            LetterEmail.letter_id == letter.id,
            LetterEmail.status.in_(("queued", "sending", "sent")),
        )
    ).first()
    if busy:
        raise Conflict(
            gettext("Letter %(n)d has been emailed already, or is being emailed.", n=letter.number)
        )
    read_pdf(letter)  # a damaged archive is said now, not by the job
    row = LetterEmail(letter_id=letter.id, to=", ".join(to), status="queued")
    row.requested_by_id = by.id if by else None
    db.session.add(row)
    db.session.flush()
    audit.log(by, "letter.email_queued", "letter", letter.id, after={"to": row.to})
    return row


def start_email(email_id: int) -> None:
    """Queue the committed emailing's job; if the queue cannot be reached, it is failed."""
    try:
        job_queue.enqueue("letters.email", email_id)
    except Exception as exc:  # noqa: BLE001 - recorded on the row, logged
        LOG.exception("email %s could not be queued", email_id)
        db.session.rollback()
        db.session.execute(
            update(LetterEmail)
            .where(LetterEmail.id == email_id, LetterEmail.status == "queued")
            .values(status="failed", answer=_answer_of(exc), finished_at=utcnow())
        )
        db.session.commit()


@job_queue.task("letters.email")
def send_email(email_id: int) -> str | None:
    """The job: email the letter once, record the server's answer, mark it sent. Commits.

    The row goes from ``queued`` to ``sending`` (committed) before the server is asked, so a
    second copy of the job, or one run after a crash mid-send, never sends it again.
    """
    taken = db.session.execute(
        update(LetterEmail)
        .where(LetterEmail.id == email_id, LetterEmail.status == "queued")
        .values(status="sending")
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if not taken:
        LOG.info("email %s is not queued: not sent again", email_id)
        return None
    row = db.session.get(LetterEmail, email_id)
    letter = row.letter
    try:
        answer = _smtp_send(_message(letter, row.to.split(", ")))
    except (smtplib.SMTPException, OSError, ArchiveError) as exc:
        db.session.rollback()
        LOG.warning("letter %s: the mail server refused it", letter.number, exc_info=True)
        row = db.session.get(LetterEmail, email_id)
        row.status, row.answer, row.finished_at = "failed", _answer_of(exc), utcnow()
        db.session.commit()
        return row.status
    row.status, row.answer, row.finished_at = "sent", answer, utcnow()
    mark_sent(letter, "email", by=row.requested_by)
    db.session.commit()
    return row.status


@job_queue.every_minute("letters.settle_interrupted_emails")
def settle_interrupted_emails() -> int:
    """Emailings left ``sending`` by a crash: ``unknown`` (the board checks; never resent)."""
    stale = utcnow() - timedelta(seconds=current_app.config["JOBS_STALE_SECONDS"])
    count = db.session.execute(
        update(LetterEmail)
        .where(LetterEmail.status == "sending", LetterEmail.requested_at < stale)
        .values(status="unknown", answer="interrupted while sending", finished_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return count


def email_failure_message() -> str:
    return gettext(
        "The mail server did not take the letter. Nothing was marked as sent: try "
        "again later, or print it."
    )


#: The letter queue's tabs and the thank-you statuses each shows.
QUEUE_TABS: dict[str, tuple[str, ...]] = {
    "to_generate": ("not_thanked",),
    "generated": ("drafted",),
    "sent": ("sent",),
}
#: What "all unthanked" means (the API): no letter yet, or a letter not yet sent.
UNTHANKED = ("not_thanked", "drafted")


@dataclass(frozen=True)
class QueueFilter:
    """The letter queue's filters: a tab, and the gifts' year, fund, letter language and
    amount range (in the base currency, minor units, both ends included)."""

    tab: str | None = None
    year: int | None = None
    fund_id: int | None = None
    language: str | None = None
    min_minor: int | None = None
    max_minor: int | None = None

    def as_args(self, *, tab: bool = True) -> dict[str, str]:
        """The filter as query-string arguments (amounts as typed numbers)."""
        currency = current_app.config["BASE_CURRENCY"]
        args = {
            "tab": self.tab if tab else None,
            "year": str(self.year) if self.year else None,
            "fund": str(self.fund_id) if self.fund_id else None,
            "language": self.language,
            "min": to_input(Money(self.min_minor, currency))
            if self.min_minor is not None
            else None,
            "max": to_input(Money(self.max_minor, currency))
            if self.max_minor is not None
            else None,
        }
        return {k: v for k, v in args.items() if v}


def queue_filter(args: Mapping[str, str]) -> tuple[QueueFilter, dict[str, str]]:
    """The queue's filter from a query string or form, with a message per bad field.

    A bad value is left out of the filter (the list is shown without it) and named in the
    messages, so the filter row can say what to correct.
    """
    errors: dict[str, str] = {}

    def raw(name: str) -> str:
        return str(args.get(name) or "").strip()

    tab = raw("tab") or "to_generate"
    if tab not in QUEUE_TABS:
        errors["tab"] = gettext("Choose one of the tabs.")
        tab = "to_generate"
    year = None
    if raw("year"):
        year = whole_number(raw("year"), 1900, 2999)
        if year is None:
            errors["year"] = gettext("Enter a year, e.g. 2026.")
    fund_id = None
    if raw("fund"):
        fund_id = whole_number(raw("fund"), 1)
        if fund_id is None or db.session.get(Fund, fund_id) is None:
            errors["fund"] = gettext("There is no such fund: choose one from the list.")
            fund_id = None
    language = raw("language") or None
    if language and language not in LETTER_LANGUAGES:
        errors["language"] = gettext("Choose a letter language from the list.")
        language = None
    bounds: dict[str, int | None] = {"min": None, "max": None}
    for name in bounds:
        if raw(name):
            try:
                amount = parse_amount(
                    raw(name), current_app.config["BASE_CURRENCY"], allow_zero=True
                )
            except MoneyError as exc:
                errors[name] = money_message(exc)
            else:
                bounds[name] = amount.minor
    if bounds["min"] is not None and bounds["max"] is not None and bounds["min"] > bounds["max"]:
        errors["max"] = gettext("The largest amount is below the smallest.")
        bounds["max"] = None
    return QueueFilter(tab, year, fund_id, language, bounds["min"], bounds["max"]), errors


def queue_years() -> list[int]:
    """The years of the gifts the queue can show, newest first (the year filter's choices)."""
    first, last = db.session.execute(
        select(func.min(Contribution.received_on), func.max(Contribution.received_on)).where(
            Contribution.voided.is_(False)
        )
    ).one()
    if first is None:
        return []
    return list(range(last.year, first.year - 1, -1))


def queue_funds() -> list[Fund]:
    """Every fund, archived ones too (their gifts may still wait for a letter)."""
    return list(db.session.execute(select(Fund).order_by(Fund.id)).scalars())


def _queue_where(stmt: Select, f: QueueFilter | None) -> Select:
    stmt = stmt.where(Contribution.voided.is_(False))
    if f is None:
        return stmt.where(Contribution.thank_status.in_(UNTHANKED))
    if f.year:
        stmt = stmt.where(
            Contribution.received_on >= date(f.year, 1, 1),
            Contribution.received_on <= date(f.year, 12, 31),
        )
    if f.fund_id:
        stmt = stmt.where(Contribution.fund_id == f.fund_id)
    if f.language:
        stmt = stmt.where(
            Contribution.id.in_(
                select(ContributionDonor.contribution_id)
                .join(Donor, Donor.id == ContributionDonor.donor_id)
                .where(Donor.letter_language == f.language)
            )
        )
    if f.min_minor is not None:
        stmt = stmt.where(Contribution.base_amount_minor >= f.min_minor)
    if f.max_minor is not None:
        stmt = stmt.where(Contribution.base_amount_minor <= f.max_minor)
    return stmt


def _queue_select(f: QueueFilter | None) -> Select:
    stmt = _queue_where(select(Contribution), f)
    if f is not None:
        stmt = stmt.where(Contribution.thank_status.in_(QUEUE_TABS[f.tab or "to_generate"]))
    return stmt.order_by(Contribution.received_on, Contribution.id)


def queue(f: QueueFilter | None = None) -> list[Contribution]:
    """The gifts of the letter queue, oldest first.

    Without a filter: every gift not yet thanked (no letter, or a letter not yet sent), as
    the API's "all unthanked" asks. With one: the gifts of its tab that match it, which is
    what "select all matching" on the queue page sends.
    """
    return list(
        db.session.execute(
            _queue_select(f).options(
                selectinload(Contribution.shares).selectinload(ContributionDonor.donor)
            )
        ).scalars()
    )


def queue_page(f: QueueFilter, page: int, size: int) -> tuple[list[Contribution], int]:
    """One page (from 1) of the filtered queue, and how many gifts match in all."""
    total = db.session.execute(
        select(func.count()).select_from(_queue_select(f).order_by(None).subquery())
    ).scalar_one()
    rows = db.session.execute(
        _queue_select(f)
        .options(selectinload(Contribution.shares).selectinload(ContributionDonor.donor))
        .offset((page - 1) * size)
        .limit(size)
    ).scalars()
    return list(rows), total


def queue_counts(f: QueueFilter) -> dict[str, int]:
    """How many gifts match *f* on each tab (the tab of *f* itself is ignored)."""
    rows = db.session.execute(
        _queue_where(
            select(Contribution.thank_status, func.count()).group_by(Contribution.thank_status),
            f,
        )
    ).all()
    by_status = dict(rows)
    return {
        tab: sum(by_status.get(status, 0) for status in statuses)
        for tab, statuses in QUEUE_TABS.items()
    }


def selected_gifts(f: QueueFilter, ids: Iterable[int], *, every: bool) -> list[Contribution]:
    """The gifts a queue form selected: every gift matching *f*, or the ticked *ids* among
    the gifts of *f*'s tab (a ticked gift that has since left the tab is dropped)."""
    if every:
        return queue(f)
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return []
    tab_only = QueueFilter(tab=f.tab)
    return list(
        db.session.execute(_queue_select(tab_only).where(Contribution.id.in_(wanted))).scalars()
    )


def unsent_letters_of(gifts: Iterable[Contribution]) -> list[Letter]:
    """The thank-you letters of *gifts* not yet sent, in the gifts' order then by number."""
    return [
        letter
        for c in gifts
        for letter in letters_for(c)
        if letter.kind == "thank_you" and letter.status != "sent"
    ]


def mark_gifts_sent(gifts: Iterable[Contribution], *, by: User | None) -> int:
    """Mark the unsent thank-you letters of *gifts* as printed and sent; returns how many."""
    waiting = unsent_letters_of(gifts)
    for letter in waiting:
        mark_sent(letter, "print", by=by)
    return len(waiting)
