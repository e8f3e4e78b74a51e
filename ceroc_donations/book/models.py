"""The treasurer's book: donors, funds, contributions, expenses and the ledger they post to."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.money import Money

DONOR_KINDS = ("group", "person")
LETTER_LANGUAGES = ("bilingual", "km", "en")
DONOR_DISPLAY = ("named", "anonymous")
GIFT_DISPLAY = ("default", "full_name", "group_only", "initials", "anonymous")
METHODS = ("cash", "cheque", "bank_transfer", "online", "in_kind")
#: The paper a donor's letters are printed on: ``auto`` follows the donor's country.
DONOR_PAPER = ("auto", "a4", "letter")
THANK_STATUSES = ("not_thanked", "drafted", "sent", "do_not_acknowledge")
EXPENSE_CATEGORIES = ("promotion", "printing", "travel", "events", "fees", "other")


class Donor(db.Model):
    __tablename__ = "donor"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="group")
    name_en: Mapped[str] = mapped_column(String(200), index=True)
    name_km: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(254))
    postal_address: Mapped[str | None] = mapped_column(Text)
    letter_language: Mapped[str] = mapped_column(String(10), default="bilingual")
    public_display: Mapped[str] = mapped_column(String(10), default="named")
    paper: Mapped[str] = mapped_column(String(6), default="auto", server_default="auto")
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    shares: Mapped[list[ContributionDonor]] = relationship(back_populates="donor")

    def __repr__(self) -> str:
        return f"<Donor {self.id} {self.name_en!r}>"


class Fund(db.Model):
    __tablename__ = "fund"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_en: Mapped[str] = mapped_column(String(120))
    name_km: Mapped[str | None] = mapped_column(String(120))
    description: Mapped[str | None] = mapped_column(Text)
    description_km: Mapped[str | None] = mapped_column(Text)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return f"<Fund {self.code}>"


class _Posted:
    """Columns shared by contributions and expenses: money, status and voiding."""

    reference: Mapped[str] = mapped_column(String(20), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    exchange_rate: Mapped[str] = mapped_column(String(32), default="1")
    base_amount_minor: Mapped[int] = mapped_column(BigInteger)
    base_currency: Mapped[str] = mapped_column(String(3))
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_at: Mapped[datetime | None] = mapped_column(DateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    is_example: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def base_amount(self) -> Money:
        return Money(self.base_amount_minor, self.base_currency)

    @property
    def rate(self) -> Decimal:
        return Decimal(self.exchange_rate)


class Contribution(_Posted, db.Model):
    __tablename__ = "contribution"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="contribution_amount_positive"),
        CheckConstraint("base_amount_minor >= 0", name="contribution_base_nonnegative"),
        Index("ix_contribution_received", "received_on", "id"),
        # Covers the dashboard's "letters to send" count (a table scan without it).
        Index("ix_contribution_thanks", "thank_status", "voided"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    received_on: Mapped[date] = mapped_column(Date)
    received_by: Mapped[str | None] = mapped_column(String(120))
    occasion: Mapped[str | None] = mapped_column(String(300))
    occasion_km: Mapped[str | None] = mapped_column(String(300))
    purpose: Mapped[str | None] = mapped_column(String(300))
    purpose_km: Mapped[str | None] = mapped_column(String(300))
    method: Mapped[str] = mapped_column(String(20), default="cash")
    in_kind_description: Mapped[str | None] = mapped_column(Text)
    fund_id: Mapped[int] = mapped_column(ForeignKey("fund.id"), index=True)
    public_display: Mapped[str] = mapped_column(String(12), default="default")
    note: Mapped[str | None] = mapped_column(Text)
    thank_status: Mapped[str] = mapped_column(String(20), default="not_thanked")
    # A photo or scan of the cheque, transfer slip or donor's note, as on expenses.
    receipt_path: Mapped[str | None] = mapped_column(String(80))
    receipt_name: Mapped[str | None] = mapped_column(String(255))
    receipt_mime: Mapped[str | None] = mapped_column(String(40))
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    fund: Mapped[Fund] = relationship()
    shares: Mapped[list[ContributionDonor]] = relationship(
        back_populates="contribution",
        order_by="ContributionDonor.position",
        cascade="all, delete-orphan",
    )
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])

    @property
    def donors(self) -> list[Donor]:
        return [share.donor for share in self.shares]

    @property
    def donor_names(self) -> str:
        return " & ".join(d.name_en for d in self.donors)

    def __repr__(self) -> str:
        return f"<Contribution {self.reference}>"


class ContributionDonor(db.Model):
    """One co-donor of a contribution, with its share when known."""

    __tablename__ = "contribution_donor"
    __table_args__ = (
        UniqueConstraint("contribution_id", "donor_id"),
        CheckConstraint("share_minor IS NULL OR share_minor > 0", name="share_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contribution_id: Mapped[int] = mapped_column(ForeignKey("contribution.id"), index=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donor.id"), index=True)
    share_minor: Mapped[int | None] = mapped_column(BigInteger)
    position: Mapped[int] = mapped_column(Integer, default=0)

    contribution: Mapped[Contribution] = relationship(back_populates="shares")
    donor: Mapped[Donor] = relationship(back_populates="shares")

    @property
    def share(self) -> Money | None:
        if self.share_minor is None:
            return None
        return Money(self.share_minor, self.contribution.currency)


class Expense(_Posted, db.Model):
    __tablename__ = "expense"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="expense_amount_positive"),
        CheckConstraint("base_amount_minor >= 0", name="expense_base_nonnegative"),
        Index("ix_expense_paid", "paid_on", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    paid_on: Mapped[date] = mapped_column(Date)
    payee: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20))
    fund_id: Mapped[int] = mapped_column(ForeignKey("fund.id"), index=True)
    description_en: Mapped[str | None] = mapped_column(Text)
    description_km: Mapped[str | None] = mapped_column(Text)
    receipt_path: Mapped[str | None] = mapped_column(String(80))
    receipt_name: Mapped[str | None] = mapped_column(String(255))
    receipt_mime: Mapped[str | None] = mapped_column(String(40))
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    fund: Mapped[Fund] = relationship()
    recorded_by = relationship("User", foreign_keys=[recorded_by_id])

    def __repr__(self) -> str:
        return f"<Expense {self.reference}>"


class LedgerEntry(db.Model):
    """One line of the members' ledger, written as contributions and expenses are posted.

    A projection kept in step by the services, so the ledger is one indexed table.
    """

    __tablename__ = "ledger_entry"
    __table_args__ = (
        # Covering indexes: a page is read in (entry_on, id) order, and the running balance
        # sums voided/direction/base_amount_minor over at most one month of them, so neither
        # touches the table rows.
        Index("ix_ledger_order", "entry_on", "id", "voided", "direction", "base_amount_minor"),
        Index(
            "ix_ledger_fund_order",
            "fund_id",
            "entry_on",
            "id",
            "voided",
            "direction",
            "base_amount_minor",
        ),
        Index("ix_ledger_category_order", "category", "entry_on", "id"),
        CheckConstraint("direction IN ('in', 'out')", name="ledger_direction"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_on: Mapped[date] = mapped_column(Date)
    direction: Mapped[str] = mapped_column(String(3))
    fund_id: Mapped[int] = mapped_column(ForeignKey("fund.id"))
    category: Mapped[str] = mapped_column(String(20))
    base_amount_minor: Mapped[int] = mapped_column(BigInteger)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    label: Mapped[str] = mapped_column(String(300))
    voided: Mapped[bool] = mapped_column(Boolean, default=False)
    contribution_id: Mapped[int | None] = mapped_column(ForeignKey("contribution.id"), unique=True)
    expense_id: Mapped[int | None] = mapped_column(ForeignKey("expense.id"), unique=True)

    fund: Mapped[Fund] = relationship()

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def signed_base_minor(self) -> int:
        return self.base_amount_minor if self.direction == "in" else -self.base_amount_minor


class FundMonthTotal(db.Model):
    """Totals per fund per month, kept as entries are written (sums at read time are slow)."""

    __tablename__ = "fund_month_total"

    fund_id: Mapped[int] = mapped_column(ForeignKey("fund.id"), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    in_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    out_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    in_count: Mapped[int] = mapped_column(Integer, default=0)
    out_count: Mapped[int] = mapped_column(Integer, default=0)
