"""All models; import them from here."""

from .base import utcnow
from .book import (
    DONOR_DISPLAY,
    DONOR_KINDS,
    EXPENSE_CATEGORIES,
    GIFT_DISPLAY,
    LETTER_LANGUAGES,
    METHODS,
    THANK_STATUSES,
    Contribution,
    ContributionDonor,
    Donor,
    Expense,
    Fund,
    FundMonthTotal,
    LedgerEntry,
)
from .claims import CLAIM_STATUSES, ExpenseClaim
from .letters import (
    BATCH_STATUSES,
    LETTER_KINDS,
    LETTER_STATUSES,
    SENT_VIA,
    Letter,
    LetterBatch,
    LetterTextVersion,
    letter_recipient,
)
from .settings import Setting
from .users import ROLES, ApiToken, AuditEvent, Counter, LoginFailure, User

__all__ = [
    "CLAIM_STATUSES", "DONOR_DISPLAY", "DONOR_KINDS", "EXPENSE_CATEGORIES", "GIFT_DISPLAY",
    "LETTER_LANGUAGES", "METHODS", "ROLES", "THANK_STATUSES", "ApiToken", "AuditEvent",
    "Contribution", "ContributionDonor", "Counter", "Donor", "Expense", "ExpenseClaim", "Fund",
    "FundMonthTotal", "LedgerEntry", "LoginFailure", "Setting", "User", "utcnow",
    "BATCH_STATUSES", "LETTER_KINDS", "LETTER_STATUSES", "SENT_VIA", "Letter", "LetterBatch",
    "LetterTextVersion", "letter_recipient",
]  # fmt: skip
