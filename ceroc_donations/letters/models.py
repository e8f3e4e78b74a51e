"""Thank-you letters: the archive of rendered PDFs, the board's text versions and batches."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db

LETTER_KINDS = ("thank_you", "statement")
LETTER_STATUSES = ("drafted", "sent")
SENT_VIA = ("print", "post", "hand", "email")
BATCH_STATUSES = ("queued", "running", "done", "failed")

letter_recipient = Table(
    "letter_recipient",
    db.metadata,
    Column("letter_id", ForeignKey("letter.id"), primary_key=True),
    Column("donor_id", ForeignKey("donor.id"), primary_key=True, index=True),
)


class LetterTextVersion(db.Model):
    """One saved version of the board-editable letter wording; never changed once saved."""

    __tablename__ = "letter_text_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    texts_json: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    created_by = relationship("User")

    @property
    def texts(self) -> dict:
        return json.loads(self.texts_json)


class Letter(db.Model):
    """One rendered letter, kept as a PDF file under ARCHIVE_DIR with its SHA-256."""

    __tablename__ = "letter"
    __table_args__ = (
        CheckConstraint("kind IN ('thank_you', 'statement')", name="letter_kind"),
        CheckConstraint("status IN ('drafted', 'sent')", name="letter_status"),
        CheckConstraint("paper IN ('a4', 'letter')", name="letter_paper"),
        CheckConstraint(
            "contribution_id IS NOT NULL OR (donor_id IS NOT NULL AND year IS NOT NULL)",
            name="letter_subject",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(12), default="thank_you")
    contribution_id: Mapped[int | None] = mapped_column(ForeignKey("contribution.id"), index=True)
    # Statements: the donor and year; thank-you letters leave them empty.
    donor_id: Mapped[int | None] = mapped_column(ForeignKey("donor.id"), index=True)
    year: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(10))
    # The paper it was laid out on (a4 or letter): part of what re-renders it byte for byte.
    paper: Mapped[str] = mapped_column(String(6), default="a4", server_default="a4")
    issued_on: Mapped[date] = mapped_column(Date)
    text_version_id: Mapped[int | None] = mapped_column(ForeignKey("letter_text_version.id"))
    pdf_path: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("letter_batch.id"), index=True)
    generated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    generated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(10), default="drafted")
    sent_via: Mapped[str | None] = mapped_column(String(10))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # Anyone can check the letter (letters/verification.py): the code printed in its footer
    # (10 characters, no dash), the link its QR code holds, and the amount it was issued
    # for. Letters made before verification existed have none.
    verify_code: Mapped[str | None] = mapped_column(String(10), unique=True, index=True)
    verify_url: Mapped[str | None] = mapped_column(String(300))
    amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))

    contribution = relationship("Contribution")
    donor = relationship("Donor", foreign_keys=[donor_id])
    recipients = relationship("Donor", secondary=letter_recipient, order_by="Donor.id")
    text_version: Mapped[LetterTextVersion | None] = relationship()
    generated_by = relationship("User", foreign_keys=[generated_by_id])

    @property
    def recipient_names(self) -> str:
        return " & ".join(d.name_en for d in self.recipients)

    def __repr__(self) -> str:
        return f"<Letter {self.number} {self.kind}>"


class LetterBatch(db.Model):
    """Letters generated together by a job; the page and the API poll its progress.

    The job that runs it holds the batch by writing its ``claim`` and touching
    ``heartbeat_at`` with every gift; a batch whose heartbeat is stale was interrupted and
    is taken over (resumed after its ``done`` gifts) by the next job that asks.
    """

    __tablename__ = "letter_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    mode: Mapped[str] = mapped_column(String(10), default="joint")
    # auto (each letter on its donor's paper), a4 or letter for the whole batch.
    paper: Mapped[str] = mapped_column(String(6), default="auto", server_default="auto")
    contribution_ids_json: Mapped[str] = mapped_column(Text)
    # The letters of the batch in print order (new ones, or a gift's existing letters).
    letter_ids_json: Mapped[str] = mapped_column(Text, default="[]")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    worker_pid: Mapped[int | None] = mapped_column(Integer)
    claim: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_by = relationship("User")
    letters: Mapped[list[Letter]] = relationship(order_by="Letter.number", viewonly=True)

    @property
    def contribution_ids(self) -> list[int]:
        return json.loads(self.contribution_ids_json)

    @property
    def letter_ids(self) -> list[int]:
        return json.loads(self.letter_ids_json or "[]")


EMAIL_STATUSES = ("queued", "sending", "sent", "failed", "unknown")


class LetterEmail(db.Model):
    """One emailing of a letter, done by a job, with the mail server's answer.

    ``sending`` is written and committed before the mail server is asked; a job that finds
    it there was interrupted mid-send and does not send again (``unknown``): a letter is
    never emailed twice by the queue.
    """

    __tablename__ = "letter_email"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'sending', 'sent', 'failed', 'unknown')",
            name="letter_email_status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("letter.id"), index=True)
    to: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    # The SMTP reply to the message (e.g. "250 2.0.0 Ok: queued as 4F1"), or the error.
    answer: Mapped[str | None] = mapped_column(Text)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)

    letter: Mapped[Letter] = relationship()
    requested_by = relationship("User")
