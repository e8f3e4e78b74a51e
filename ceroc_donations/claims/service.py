"""Expense claims: submit, withdraw, approve, reject, pay. Each flushes and audits; the
caller commits. Only :func:`mark_paid` touches the book: it records the Expense, and so
the ledger line, through :func:`~ceroc_donations.book.service.record_expense`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import gettext
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Checker, ExpenseInput, Invalid, base_currency
from ceroc_donations.book.models import EXPENSE_CATEGORIES, Fund
from ceroc_donations.book.receipts import StoredReceipt
from ceroc_donations.book.service import Conflict
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.database import next_value, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.money import Money
from ceroc_donations.security import CAPABILITIES


class NotAllowed(PermissionError):
    """The person may not take this step on this claim (role, or their own claim)."""


# --- input ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimInput:
    amount: Money
    spent_on: date
    purpose_en: str
    purpose_km: str | None
    category: str


def parse_claim(data: Mapping) -> ClaimInput:
    """Check a claim form; raise :class:`~.inputs.Invalid` with a message per field."""
    c = Checker(data)
    currency = c.currency()
    result = ClaimInput(
        amount=c.money("amount", currency),  # type: ignore[arg-type]
        spent_on=c.day("spent_on", label=gettext("the day you paid")),  # type: ignore[arg-type]
        purpose_en=c.text("purpose_en", max_len=2000, multiline=True) or "",
        purpose_km=c.text("purpose_km", max_len=2000, multiline=True),
        category=c.choice("category", EXPENSE_CATEGORIES, ""),
    )
    # Either language is enough: a member may write only in Khmer.
    if not result.purpose_en and not result.purpose_km and not c.errors.get("purpose_km"):
        c.errors.setdefault(
            "purpose_en",
            gettext("Enter %(what)s.", what=gettext("what the money was for")),
        )
    c.done()
    return result


def parse_decision_note(data: Mapping, *, required: bool) -> str | None:
    """The rejection reason (required) or approval note (optional), field ``note``."""
    c = Checker(data)
    note = c.text(
        "note",
        max_len=1000,
        required=required,
        multiline=True,
        label=gettext("why the claim is rejected"),
    )
    c.done()
    return note


@dataclass(frozen=True)
class PaymentInput:
    fund: Fund
    rate: Decimal
    paid_on: date


def parse_payment(claim: ExpenseClaim, data: Mapping) -> PaymentInput:
    c = Checker(data)
    result = PaymentInput(
        fund=c.fund(),  # type: ignore[arg-type]
        rate=c.rate("exchange_rate", claim.currency, base_currency()),  # type: ignore[arg-type]
        paid_on=c.day("paid_on", label=gettext("the day you paid the claimant")),  # type: ignore[arg-type]
    )
    c.base_value(claim.amount, result.rate, base_currency())
    if result.paid_on and claim.spent_on and result.paid_on < claim.spent_on:
        c.errors["paid_on"] = gettext("The claim cannot be paid back before the money was spent.")
    c.done()
    return result


# --- audit snapshot ------------------------------------------------------------------------


def claim_snapshot(claim: ExpenseClaim) -> dict:
    return {
        "reference": claim.reference,
        "claimant_id": claim.claimant_id,
        "amount_minor": claim.amount_minor,
        "currency": claim.currency,
        "spent_on": claim.spent_on,
        "purpose_en": claim.purpose_en,
        "purpose_km": claim.purpose_km,
        "category": claim.category,
        "fund_id": claim.fund_id,
        "receipt_sha256": claim.receipt_sha256,
        "receipt_name": claim.receipt_name,
        "status": claim.status,
        "decided_by_id": claim.decided_by_id,
        "decision_note": claim.decision_note,
        "paid_by_id": claim.paid_by_id,
        "expense_id": claim.expense_id,
    }


# --- who may do what -----------------------------------------------------------------------


def _has(user: User | None, capability: str) -> bool:
    return user is not None and capability in CAPABILITIES.get(user.role, ())


#: What each step needs, said in full so a message is never pieced together.
_NEEDS = {
    "withdraw": ("submitted", "{ref} is {status}: only a submitted claim can be withdrawn."),
    "approve": ("submitted", "{ref} is {status}: only a submitted claim can be approved."),
    "reject": ("submitted", "{ref} is {status}: only a submitted claim can be rejected."),
    "pay": ("approved", "{ref} is {status}: only an approved claim can be paid."),
}


def expect_step(claim: ExpenseClaim, step: str) -> None:
    """Raise :class:`Conflict` unless *claim* is in the state *step* starts from."""
    status, message = _NEEDS[step]
    if claim.status != status:
        raise Conflict(message.format(ref=claim.reference, status=claim.status))


def _check_decider(claim: ExpenseClaim, by: User | None) -> None:
    if not _has(by, "approve_claims"):
        raise NotAllowed(gettext("Only the board may approve or reject claims."))
    if by is not None and by.id == claim.claimant_id:
        raise NotAllowed(
            gettext(
                "This is your own claim: another board member must approve or "
                "reject it (conflict of interest)."
            )
        )


# --- operations ----------------------------------------------------------------------------


def find_by_idempotency_key(key: str | None) -> ExpenseClaim | None:
    if not key:
        return None
    return db.session.execute(
        select(ExpenseClaim).where(ExpenseClaim.idempotency_key == key)
    ).scalar()


def submit_claim(
    data: ClaimInput, receipt: StoredReceipt, *, by: User, idempotency_key: str | None = None
) -> ExpenseClaim:
    """File a claim for money *by* spent, with its stored receipt. The caller commits."""
    if not _has(by, "claim"):
        raise NotAllowed(gettext("Your role may not file claims."))
    existing = find_by_idempotency_key(idempotency_key)
    if existing is not None:
        return existing
    year = utcnow().year
    number = next_value(f"claim-{year}")
    claim = ExpenseClaim(
        reference=f"CL-{year}-{number:04d}",
        claimant=by,
        claimant_id=by.id,
        amount_minor=data.amount.minor,
        currency=data.amount.currency,
        spent_on=data.spent_on,
        purpose_en=data.purpose_en,
        purpose_km=data.purpose_km,
        category=data.category,
        receipt_path=receipt.path,
        receipt_name=receipt.original_name,
        receipt_mime=receipt.mime,
        receipt_sha256=receipt.sha256,
        status="submitted",
        idempotency_key=idempotency_key,
        submitted_at=utcnow(),
    )
    db.session.add(claim)
    db.session.flush()
    audit.log(by, "claim.submitted", "claim", claim.id, after=claim_snapshot(claim))
    return claim


def withdraw(claim: ExpenseClaim, *, by: User) -> ExpenseClaim:
    """The claimant takes back a claim the board has not decided yet."""
    if by.id != claim.claimant_id:
        raise NotAllowed(gettext("Only the person who filed a claim may withdraw it."))
    expect_step(claim, "withdraw")
    before = claim_snapshot(claim)
    claim.status = "withdrawn"
    claim.withdrawn_at = utcnow()
    db.session.flush()
    audit.log(by, "claim.withdrawn", "claim", claim.id, before=before, after=claim_snapshot(claim))
    return claim


def approve(claim: ExpenseClaim, note: str | None = None, *, by: User) -> ExpenseClaim:
    """A board member (not the claimant) agrees the claim should be paid back."""
    _check_decider(claim, by)
    expect_step(claim, "approve")
    return _decide(claim, "approved", note, by)


def reject(claim: ExpenseClaim, reason: str, *, by: User) -> ExpenseClaim:
    """A board member (not the claimant) refuses the claim; *reason* is shown to them."""
    _check_decider(claim, by)
    expect_step(claim, "reject")
    if not (reason or "").strip():
        raise Invalid({"note": gettext("Enter why the claim is rejected.")})
    return _decide(claim, "rejected", reason.strip(), by)


def _decide(claim: ExpenseClaim, status: str, note: str | None, by: User) -> ExpenseClaim:
    before = claim_snapshot(claim)
    claim.status = status
    claim.decision_note = note
    claim.decided_at = utcnow()
    claim.decided_by = by
    claim.decided_by_id = by.id
    db.session.flush()
    audit.log(by, f"claim.{status}", "claim", claim.id, before=before, after=claim_snapshot(claim))
    return claim


def mark_paid(claim: ExpenseClaim, payment: PaymentInput, *, by: User) -> ExpenseClaim:
    """The treasurer paid the claimant back: record the Expense (→ ledger) and link it."""
    if not _has(by, "write_book"):
        raise NotAllowed(gettext("Only the treasurer may mark claims paid."))
    expect_step(claim, "pay")
    before = claim_snapshot(claim)
    receipt = StoredReceipt(
        claim.receipt_path, claim.receipt_name, claim.receipt_mime, claim.receipt_sha256
    )
    expense = book.record_expense(
        ExpenseInput(
            paid_on=payment.paid_on,
            payee=claim.claimant.name,
            amount=claim.amount,
            rate=payment.rate,
            category=claim.category,
            fund=payment.fund,
            description_en=claim.purpose_en or None,
            description_km=claim.purpose_km,
        ),
        by=by,
        receipt=receipt,
        # One claim, one expense, even if this runs twice.
        idempotency_key=f"claim-{claim.reference}",
    )
    claim.status = "paid"
    claim.fund = payment.fund
    claim.fund_id = payment.fund.id
    claim.paid_at = utcnow()
    claim.paid_by = by
    claim.paid_by_id = by.id
    claim.expense = expense
    claim.expense_id = expense.id
    db.session.flush()
    audit.log(by, "claim.paid", "claim", claim.id, before=before, after=claim_snapshot(claim))
    return claim


# --- queries -------------------------------------------------------------------------------


def claims_of(user: User) -> list[ExpenseClaim]:
    return list(
        db.session.execute(
            select(ExpenseClaim)
            .where(ExpenseClaim.claimant_id == user.id)
            .order_by(ExpenseClaim.submitted_at.desc(), ExpenseClaim.id.desc())
        ).scalars()
    )


def queue(status: str, limit: int = 200) -> list[ExpenseClaim]:
    """Claims waiting in *status*, oldest first."""
    order = ExpenseClaim.decided_at if status == "approved" else ExpenseClaim.submitted_at
    return list(
        db.session.execute(
            select(ExpenseClaim)
            .where(ExpenseClaim.status == status)
            .order_by(order, ExpenseClaim.id)
            .limit(limit)
        ).scalars()
    )


def count_waiting(status: str) -> int:
    return db.session.execute(
        select(func.count()).select_from(ExpenseClaim).where(ExpenseClaim.status == status)
    ).scalar_one()
