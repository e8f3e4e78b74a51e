"""The ledger's own table: transparency reports built in the background and cached."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db


class ReportBuild(db.Model):
    """One transparency report PDF for a period and language, as the books were at
    ``books_version`` (the audit counter: every change to the books moves it) on
    ``generated_on``. Built by a job; the file is kept until the books change."""

    __tablename__ = "report_build"
    __table_args__ = (
        UniqueConstraint(
            "since", "until", "language", "books_version", "generated_on", name="report_build_key"
        ),
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="report_build_status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    since: Mapped[date] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date)
    language: Mapped[str] = mapped_column(String(2))
    books_version: Mapped[int] = mapped_column(BigInteger)
    generated_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    pdf_path: Mapped[str | None] = mapped_column(String(200))
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
