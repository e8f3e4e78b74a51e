"""What is waiting for the signed-in person: the dashboard's to-do list, per role.

Each item is a count and the page where the work is done; a role sees only the items it
can act on (its capabilities, :data:`~ceroc_donations.security.CAPABILITIES`).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ceroc_donations.book.models import Contribution, Expense
from ceroc_donations.claims.models import ExpenseClaim
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from ceroc_donations.security import can


@dataclass(frozen=True)
class TodoItem:
    """One kind of waiting work: *count* things, done at *url*."""

    key: str
    label: str
    count: int
    url: str


def _count(stmt) -> int:
    return db.session.execute(stmt).scalar_one()


def claims_waiting(status: str) -> int:
    return _count(
        select(func.count()).select_from(ExpenseClaim).where(ExpenseClaim.status == status)
    )


def letters_not_sent() -> int:
    """Letters generated (drafted) and not yet marked sent."""
    return _count(select(func.count()).select_from(Letter).where(Letter.status == "drafted"))


def gifts_to_thank() -> int:
    """Gifts (not void) with no thank-you letter yet."""
    return _count(
        select(func.count())
        .select_from(Contribution)
        .where(Contribution.thank_status == "not_thanked", Contribution.voided.is_(False))
    )


def expenses_without_receipt() -> int:
    return _count(
        select(func.count())
        .select_from(Expense)
        .where(Expense.receipt_path.is_(None), Expense.voided.is_(False))
    )


def todo_for(user) -> list[TodoItem]:
    """The to-do items *user*'s role can act on, in the order they are shown."""
    items: list[TodoItem] = []
    if can(user, "approve_claims"):
        items.append(
            TodoItem(
                "approve",
                _("Claims to approve"),
                claims_waiting("submitted"),
                url_for("claims.review"),
            )
        )
    if can(user, "write_book"):
        items.append(
            TodoItem(
                "pay", _("Claims to pay"), claims_waiting("approved"), url_for("claims.to_pay")
            )
        )
    if can(user, "letters"):
        items.append(
            TodoItem("thank", _("Gifts to thank"), gifts_to_thank(), url_for("letters.queue"))
        )
        items.append(
            TodoItem(
                "send",
                _("Letters generated, not sent"),
                letters_not_sent(),
                url_for("letters.queue"),
            )
        )
    elif can(user, "write_book"):
        items.append(
            TodoItem(
                "thank",
                _("Gifts to thank"),
                gifts_to_thank(),
                url_for("contributions.index", thanks="not_thanked"),
            )
        )
    if can(user, "write_book"):
        items.append(
            TodoItem(
                "receipts",
                _("Expenses without a receipt file"),
                expenses_without_receipt(),
                url_for("expenses.index", no_receipt=1),
            )
        )
    return items
