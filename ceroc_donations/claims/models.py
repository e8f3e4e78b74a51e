"""Expense claims: money a member paid from their own pocket and asks to be paid back."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Date, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Expense, Fund
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.money import Money

#: submitted → approved | rejected | withdrawn; approved → paid.
CLAIM_STATUSES = ("submitted", "approved", "rejected", "withdrawn", "paid")


class ExpenseClaim(db.Model):
    """One claim. Only a paid claim has an :class:`Expense`, and so a ledger line."""

    __tablename__ = "expense_claim"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="claim_amount_positive"),
        CheckConstraint(
            "status IN ('submitted', 'approved', 'rejected', 'withdrawn', 'paid')",
            name="claim_status",
        ),
        Index("ix_claim_status_submitted", "status", "submitted_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    claimant_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    spent_on: Mapped[date] = mapped_column(Date)
    purpose_en: Mapped[str] = mapped_column(Text)
    purpose_km: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(20))
    # Chosen by the treasurer when paying (the claimant may not know the funds).
    fund_id: Mapped[int | None] = mapped_column(ForeignKey("fund.id"))
    receipt_path: Mapped[str] = mapped_column(String(80))
    receipt_name: Mapped[str] = mapped_column(String(255))
    receipt_mime: Mapped[str] = mapped_column(String(40))
    receipt_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="submitted")
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    submitted_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    # The reason for a rejection (required) or the note on an approval (optional).
    decision_note: Mapped[str | None] = mapped_column(Text)
    paid_at: Mapped[datetime | None] = mapped_column(DateTime)
    paid_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    expense_id: Mapped[int | None] = mapped_column(ForeignKey("expense.id"), unique=True)

    claimant: Mapped[User] = relationship(foreign_keys=[claimant_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    paid_by: Mapped[User | None] = relationship(foreign_keys=[paid_by_id])
    fund: Mapped[Fund | None] = relationship()
    expense: Mapped[Expense | None] = relationship()

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def receipt_is_image(self) -> bool:
        return self.receipt_mime.startswith("image/")

    def __repr__(self) -> str:
        return f"<ExpenseClaim {self.reference} {self.status}>"
