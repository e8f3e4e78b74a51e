"""Letters anyone can verify: the short code and QR code in every letter's footer, and what
the public page ``/v/<code>`` may say about the letter.

The code is an HMAC-SHA-256, under a key derived from the instance's ``SECRET_KEY``, of the
letter's number and the SHA-256 of the letter's content: a canonical JSON of the data it is
rendered from (kind, number, dates, amounts, names, gifts, text version). The PDF's own
SHA-256 cannot go in, since the PDF prints the code; the public page shows that one beside
the facts. The first 50 bits of the HMAC make 10 characters of Crockford's base32 (no I, L,
O or U), printed ``ABCDE-FGHJK`` and read back in either case, with or without the dash.

The code is stored on the letter (unique): a re-rendered letter prints the same code and
link, and a new secret key leaves the codes of earlier letters valid.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime

from flask import current_app, url_for
from sqlalchemy import select

from ceroc_donations import security
from ceroc_donations.book.models import Contribution, ContributionDonor
from ceroc_donations.extensions import db
from ceroc_donations.letters.models import Letter
from ceroc_donations.money import Money
from ceroc_donations.privacy import ShownName, gift_names, joined, public_name
from ceroc_donations.rendering import LetterData, Verification
from ceroc_donations.web import external_url

LOGGER = logging.getLogger(__name__)

#: Crockford's base32: digits and capitals without I, L, O and U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10  # 50 bits
#: What people type for what they read: O for 0, I and L for 1 (Crockford's rule).
_READ_AS = str.maketrans("OIL", "011")
_SEPARATORS = re.compile(r"[\s\-–—_.]+")
#: The HMAC label that derives the verification key from the secret key: the same secret
#: never signs two kinds of thing.
_KEY_LABEL = b"ceroc letter verification v1"


def _key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _plain(value: object) -> object:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not part of a letter's content: {type(value).__name__}")


def content_sha256(data: LetterData, kind: str, text_version: int) -> str:
    """SHA-256 of a canonical JSON of what the letter says (its code left out)."""
    content = asdict(data)
    content.pop("verification", None)
    content.update(kind=kind, text_version=text_version)
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(text.encode()).hexdigest()


def make_code(number: int, content_sha: str) -> str:
    """The 10-character code of letter *number* with content *content_sha*."""
    digest = hmac.new(_key(), f"{number}:{content_sha}".encode(), hashlib.sha256).digest()
    bits = int.from_bytes(digest[:8], "big") >> (64 - 5 * LENGTH)
    return "".join(ALPHABET[(bits >> (5 * i)) & 31] for i in reversed(range(LENGTH)))


def normalise(text: str | None) -> str | None:
    """The stored form of a code as typed (``abcde fghjk``, ``ABCDE-FGHJK``), else ``None``."""
    if not text:
        return None
    code = _SEPARATORS.sub("", text).upper().translate(_READ_AS)
    if len(code) != LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return code


def grouped(code: str) -> str:
    """``ABCDEFGHJK`` → ``ABCDE-FGHJK``, as printed."""
    return f"{code[:5]}-{code[5:]}"


_warned: list[bool] = []


def verification_url(code: str) -> str:
    """The public page of *code*: under ``PUBLIC_URL``, else the request's host.

    A background job without ``PUBLIC_URL`` has no host to link to: it links to localhost
    and says so in the log (set ``CEROC_PUBLIC_URL``).
    """
    try:
        return external_url("verify.letter", code=grouped(code))
    except RuntimeError:
        if not _warned:  # once per process, not once per letter of a batch
            _warned.append(True)
            LOGGER.warning("CEROC_PUBLIC_URL is not set: letter QR codes link to localhost")
        with current_app.test_request_context():
            return url_for("verify.letter", code=grouped(code), _external=True)


def verified(data: LetterData, kind: str, text_version: int) -> LetterData:
    """Numbered letter *data* with its verification: the code (which depends on all the
    rest of the data) as printed, and the link of its QR code."""
    if data.number is None:
        raise ValueError("a draft has no verification code")
    code = make_code(data.number, content_sha256(data, kind, text_version))
    return replace(data, verification=Verification(grouped(code), verification_url(code)))


def printed(letter: Letter) -> Verification | None:
    """The verification *letter* was printed with (``None`` for letters made before)."""
    if not letter.verify_code or not letter.verify_url:
        return None
    return Verification(grouped(letter.verify_code), letter.verify_url)


# --- the public page ---------------------------------------------------------------------


def lookup_allowed() -> bool:
    """Count one lookup from this address; ``False`` when it has made too many lately."""
    cfg = current_app.config
    return not security.rate_limited(
        "verify", limit=cfg["VERIFY_MAX_LOOKUPS"], window_seconds=cfg["VERIFY_WINDOW_SECONDS"]
    )


def find(text: str | None) -> Letter | None:
    """The letter whose code is *text* (as typed), or ``None``."""
    code = normalise(text)
    if code is None:
        return None
    return db.session.execute(select(Letter).where(Letter.verify_code == code)).scalar()


@dataclass(frozen=True)
class PublicLetter:
    """What the public page says about a letter: only what its holder may check."""

    code: str
    number: int
    kind: str
    issued_on: date
    donor: ShownName
    amount: Money | None
    received_on: date | None  # thank-you letters: the gift's date
    year: int | None  # statements: the year covered
    sha256: str
    voided: bool  # the gift (or, for a statement, one of its gifts) was voided since
    voided_gifts: int


def public_view(letter: Letter) -> PublicLetter:
    """*letter* as the public may see it: donors as they asked to be shown publicly."""
    amount = (
        Money(letter.amount_minor, letter.currency)
        if letter.amount_minor is not None and letter.currency
        else None
    )
    if letter.kind == "statement":
        donor = public_name(letter.donor, None, None)
        voided_gifts = _voided_since(letter)
        received_on = None
    else:
        gift = letter.contribution
        donor = joined(gift_names(letter.recipients, gift, None))
        voided_gifts = 1 if gift.voided else 0
        received_on = gift.received_on
    return PublicLetter(
        code=grouped(letter.verify_code or ""),
        number=letter.number,
        kind=letter.kind,
        issued_on=letter.issued_on,
        donor=donor,
        amount=amount,
        received_on=received_on,
        year=letter.year,
        sha256=letter.sha256,
        voided=voided_gifts > 0,
        voided_gifts=voided_gifts,
    )


def _voided_since(letter: Letter) -> int:
    """Gifts a statement listed that were voided after it was made (void gifts are left
    out of a statement, so these are the gifts of its year voided since)."""
    rows = db.session.execute(
        select(Contribution.id, Contribution.received_on)
        .join(ContributionDonor)
        .where(
            ContributionDonor.donor_id == letter.donor_id,
            Contribution.voided.is_(True),
            Contribution.created_at <= letter.generated_at,
            Contribution.voided_at >= letter.generated_at,
        )
    ).all()
    return sum(1 for _id, received_on in rows if received_on.year == letter.year)
