"""Operations on the treasurer's book. Each one flushes and audits; the caller commits."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ceroc_donations import audit
from ceroc_donations.accounts.models import User
from ceroc_donations.book.inputs import (
    ContributionInput,
    DonorInput,
    ExpenseInput,
    Invalid,
    base_currency,
)
from ceroc_donations.book.models import (
    Contribution,
    ContributionDonor,
    Donor,
    Expense,
    Fund,
    FundMonthTotal,
    LedgerEntry,
)
from ceroc_donations.database import next_value, utcnow
from ceroc_donations.extensions import db
from ceroc_donations.money import MAX_BOOK_MINOR, Money, base_value, format_plain, rate_to_text


class Conflict(ValueError):
    """The operation does not fit the entry's state (e.g. voiding twice)."""


# --- snapshots for the audit trail -------------------------------------------------------


#: What a donor's record holds, as the forms, the API and the audit log name it.
DONOR_FIELDS = (
    "kind",
    "name_en",
    "name_km",
    "city",
    "region",
    "country",
    "email",
    "postal_address",
    "letter_language",
    "public_display",
    "note",
    "paper",
)


def donor_snapshot(donor: Donor) -> dict:
    return {k: getattr(donor, k) for k in DONOR_FIELDS}


def contribution_snapshot(c: Contribution) -> dict:
    return {
        "reference": c.reference,
        "donors": [{"donor_id": s.donor_id, "share_minor": s.share_minor} for s in c.shares],
        "amount_minor": c.amount_minor,
        "currency": c.currency,
        "exchange_rate": c.exchange_rate,
        "base_amount_minor": c.base_amount_minor,
        "base_currency": c.base_currency,
        "received_on": c.received_on,
        "received_by": c.received_by,
        "occasion": c.occasion,
        "occasion_km": c.occasion_km,
        "purpose": c.purpose,
        "purpose_km": c.purpose_km,
        "method": c.method,
        "in_kind_description": c.in_kind_description,
        "fund_id": c.fund_id,
        "public_display": c.public_display,
        "note": c.note,
        "voided": c.voided,
        "void_reason": c.void_reason,
        "thank_status": c.thank_status,
        "receipt_sha256": c.receipt_sha256,
        "receipt_name": c.receipt_name,
    }


def expense_snapshot(e: Expense) -> dict:
    return {
        "reference": e.reference,
        "paid_on": e.paid_on,
        "payee": e.payee,
        "amount_minor": e.amount_minor,
        "currency": e.currency,
        "exchange_rate": e.exchange_rate,
        "base_amount_minor": e.base_amount_minor,
        "base_currency": e.base_currency,
        "category": e.category,
        "fund_id": e.fund_id,
        "description_en": e.description_en,
        "description_km": e.description_km,
        "receipt_sha256": e.receipt_sha256,
        "receipt_name": e.receipt_name,
        "voided": e.voided,
        "void_reason": e.void_reason,
    }


# --- ledger projection and monthly totals ------------------------------------------------


def _month(day: date) -> date:
    return day.replace(day=1)


def _bump_totals(fund_id: int, day: date, direction: str, base_minor: int, sign: int) -> None:
    """Add an entry to (or, *sign* -1, take it from) its fund's month: one upsert, so a
    writer holding the numbering lock spends one round trip here, not a read and a write."""
    month = _month(day)
    money, count = ("in_minor", "in_count") if direction == "in" else ("out_minor", "out_count")
    table = FundMonthTotal.__table__
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(
        {"fund_id": fund_id, "month": month, "in_minor": 0, "out_minor": 0, "in_count": 0,
         "out_count": 0, money: sign * base_minor, count: sign}
    )  # fmt: skip
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=[table.c.fund_id, table.c.month],
            set_={money: table.c[money] + sign * base_minor, count: table.c[count] + sign},
        )
    )
    # A row this session loaded before is now out of date.
    loaded = db.session.identity_map.get(db.session.identity_key(FundMonthTotal, (fund_id, month)))
    if loaded is not None:
        db.session.expire(loaded)


def _post(
    entry: LedgerEntry,
    *,
    day: date,
    direction: str,
    fund_id: int,
    category: str,
    amount: Money,
    base: Money,
    label: str,
) -> LedgerEntry:
    """Point *entry* at the given values, keeping the monthly totals in step."""
    if entry.id is not None and not entry.voided:
        _bump_totals(entry.fund_id, entry.entry_on, entry.direction, entry.base_amount_minor, -1)
    entry.entry_on = day
    entry.direction = direction
    entry.fund_id = fund_id
    entry.category = category
    entry.amount_minor = amount.minor
    entry.currency = amount.currency
    entry.base_amount_minor = base.minor
    entry.label = label[:300]
    entry.voided = False
    _bump_totals(fund_id, day, direction, base.minor, +1)
    db.session.add(entry)
    return entry


def _unpost(entry: LedgerEntry) -> None:
    if not entry.voided:
        _bump_totals(entry.fund_id, entry.entry_on, entry.direction, entry.base_amount_minor, -1)
        entry.voided = True


def _entry_for(
    *, contribution: Contribution | None = None, expense: Expense | None = None
) -> LedgerEntry:
    if contribution is not None:
        found = db.session.execute(
            select(LedgerEntry).where(LedgerEntry.contribution_id == contribution.id)
        ).scalar()
        return found or LedgerEntry(contribution_id=contribution.id)
    found = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.expense_id == expense.id)
    ).scalar()
    return found or LedgerEntry(expense_id=expense.id)


def book_held_minor() -> int:
    """In plus out of every entry not voided, in base minor units: a bound on every total."""
    held = db.session.execute(
        select(func.coalesce(func.sum(FundMonthTotal.in_minor + FundMonthTotal.out_minor), 0))
    ).scalar()
    return int(held or 0)


def check_room(base: Money, *, replacing: int = 0, field: str = "amount") -> None:
    """Refuse an entry that would take the book past :data:`MAX_BOOK_MINOR`.

    Every running balance and total is at most the sum of all entries, so keeping that sum
    within 15 digits keeps every number the exports write exact. *replacing* is the base
    value (minor units) of the entry being edited, which the new value replaces.
    """
    if book_held_minor() - replacing + base.minor > MAX_BOOK_MINOR:
        raise Invalid(
            {
                field: _(
                    "The book would then hold more than %(max)s %(base)s in all, more than "
                    "its exports can show: check the amount and the rate.",
                    max=format_plain(Money(MAX_BOOK_MINOR, base.currency)),
                    base=base.currency,
                )
            }
        )


# --- donors and funds ----------------------------------------------------------------------


def create_donor(data: DonorInput, *, by: User | None) -> Donor:
    donor = Donor(**asdict(data))
    db.session.add(donor)
    db.session.flush()
    audit.log(by, "donor.created", "donor", donor.id, after=donor_snapshot(donor))
    return donor


def update_donor(donor: Donor, data: DonorInput, *, by: User | None) -> Donor:
    before = donor_snapshot(donor)
    for key, value in asdict(data).items():
        setattr(donor, key, value)
    db.session.flush()
    after = donor_snapshot(donor)
    if after != before:
        audit.log(by, "donor.updated", "donor", donor.id, before=before, after=after)
    return donor


#: Fields a merge copies from the merged donor when the kept donor has them empty.
_FILLED_ON_MERGE = ("name_km", "city", "region", "country", "email", "postal_address", "note")


def merge_donors(keep: Donor, other: Donor, *, by: User | None) -> Donor:
    """Fold *other* into *keep*: its gifts and letters move over, then it is removed.

    A joint gift given by both keeps one line for *keep* (the shares add up; unknown stays
    unknown). Empty details of *keep* are filled from *other*, and the stricter public
    display wins, so nothing either donor asked to keep private is shown. The caller commits.
    """
    from ceroc_donations.letters.models import Letter, letter_recipient

    if keep.id == other.id:
        raise Conflict(_("Choose two different donors to merge."))
    before = {"kept": {"id": keep.id, **donor_snapshot(keep)}}
    before["merged"] = {"id": other.id, **donor_snapshot(other)}
    gifts: list[int] = []
    for share in list(other.shares):
        c = share.contribution
        gifts.append(c.id)
        mine = next((s for s in c.shares if s.donor_id == keep.id), None)
        if mine is None:
            share.donor = keep
            continue
        both_known = mine.share_minor is not None and share.share_minor is not None
        mine.share_minor = mine.share_minor + share.share_minor if both_known else None
        c.shares.remove(share)
        for position, s in enumerate(c.shares):
            s.position = position
    db.session.flush()
    letters = list(
        db.session.execute(select(Letter.id).where(Letter.donor_id == other.id)).scalars()
    )
    if letters:
        db.session.execute(
            update(Letter).where(Letter.donor_id == other.id).values(donor_id=keep.id)
        )
    col = letter_recipient.c
    addressed = set(
        db.session.execute(select(col.letter_id).where(col.donor_id == other.id)).scalars()
    )
    if addressed:
        has_keep = set(
            db.session.execute(
                select(col.letter_id).where(
                    col.donor_id == keep.id, col.letter_id.in_(sorted(addressed))
                )
            ).scalars()
        )
        db.session.execute(
            delete(letter_recipient).where(
                col.donor_id == other.id, col.letter_id.in_(sorted(has_keep))
            )
        )
        db.session.execute(
            update(letter_recipient).where(col.donor_id == other.id).values(donor_id=keep.id)
        )
    for cid in sorted(set(gifts)):  # the ledger line names the donors of the gift
        c = db.session.get(Contribution, cid)
        entry = _entry_for(contribution=c)
        if entry.id is not None:
            entry.label = _contribution_label(c)[:300]
    for key in _FILLED_ON_MERGE:
        if not getattr(keep, key) and getattr(other, key):
            setattr(keep, key, getattr(other, key))
    if "anonymous" in (keep.public_display, other.public_display):
        keep.public_display = "anonymous"
    db.session.expire(other, ["shares"])
    db.session.delete(other)
    db.session.flush()
    db.session.expire_all()
    audit.log(
        by,
        "donor.merged",
        "donor",
        keep.id,
        before=before,
        after={
            "kept": {"id": keep.id, **donor_snapshot(keep)},
            "merged_id": before["merged"]["id"],
            "contribution_ids": sorted(set(gifts)),
            "letter_ids": sorted(set(letters) | addressed),
        },
    )
    return keep


def create_fund(
    code: str,
    name_en: str,
    *,
    name_km: str | None = None,
    description: str | None = None,
    description_km: str | None = None,
    by: User | None,
) -> Fund:
    """Open a fund; raise :class:`Invalid` if its code is taken. The caller commits."""
    if db.session.execute(select(Fund.id).where(Fund.code == code)).scalar():
        raise Invalid({"code": _("A fund with this code exists already.")})
    fund = Fund(
        code=code,
        name_en=name_en,
        name_km=name_km,
        description=description,
        description_km=description_km,
    )
    db.session.add(fund)
    db.session.flush()
    audit.log(
        by,
        "fund.created",
        "fund",
        fund.id,
        after={
            "code": code,
            "name_en": name_en,
            "name_km": name_km,
            "description": description,
            "description_km": description_km,
        },
    )
    return fund


def update_fund(fund: Fund, data: dict, *, by: User | None) -> Fund:
    keys = ("code", "name_en", "name_km", "description", "description_km", "archived")
    before = {k: getattr(fund, k) for k in keys}
    for key, value in data.items():
        if key in keys:
            setattr(fund, key, value)
    db.session.flush()
    after = {k: getattr(fund, k) for k in keys}
    if after != before:
        audit.log(by, "fund.updated", "fund", fund.id, before=before, after=after)
    return fund


# --- contributions -------------------------------------------------------------------------


def find_by_idempotency_key(model, key: str | None):
    if not key:
        return None
    return db.session.execute(select(model).where(model.idempotency_key == key)).scalar()


def _apply_contribution(c: Contribution, data: ContributionInput) -> None:
    base = base_value(data.amount, data.rate, base_currency())
    check_room(base, replacing=0 if c.id is None or c.voided else c.base_amount_minor)
    c.amount_minor = data.amount.minor
    c.currency = data.amount.currency
    c.exchange_rate = rate_to_text(data.rate)
    c.base_amount_minor = base.minor
    c.base_currency = base.currency
    c.received_on = data.received_on
    c.received_by = data.received_by
    c.occasion = data.occasion
    c.occasion_km = data.occasion_km
    c.purpose = data.purpose
    c.purpose_km = data.purpose_km
    c.method = data.method
    c.in_kind_description = data.in_kind_description
    c.fund = data.fund
    c.fund_id = data.fund.id
    c.public_display = data.public_display
    c.note = data.note
    wanted = [(s.donor.id, s.share.minor if s.share else None) for s in data.shares]
    current = [(s.donor_id, s.share_minor) for s in c.shares]
    if wanted != current:
        c.shares.clear()
        db.session.flush()
        for position, share in enumerate(data.shares):
            c.shares.append(
                ContributionDonor(
                    donor=share.donor,
                    share_minor=share.share.minor if share.share else None,
                    position=position,
                )
            )


def _contribution_label(c: Contribution) -> str:
    return " & ".join(s.donor.name_en for s in c.shares)


def record_contribution(
    data: ContributionInput,
    *,
    by: User | None,
    idempotency_key: str | None = None,
    is_example: bool = False,
    receipt=None,
) -> Contribution:
    """Record a gift with a fresh reference ``C-YYYY-NNNN`` and an optional checked receipt
    (a :class:`~ceroc_donations.book.receipts.StoredReceipt`). The caller commits."""
    existing = find_by_idempotency_key(Contribution, idempotency_key)
    if existing is not None:
        return existing
    year = data.received_on.year
    number = next_value(f"contribution-{year}")
    c = Contribution(
        reference=f"C-{year}-{number:04d}",
        recorded_by=by,
        idempotency_key=idempotency_key,
        is_example=is_example,
    )
    _apply_contribution(c, data)
    if receipt is not None:
        attach_receipt(c, receipt)
    db.session.add(c)
    db.session.flush()
    _post(
        LedgerEntry(contribution_id=c.id),  # a new gift has no entry yet
        day=c.received_on,
        direction="in",
        fund_id=c.fund_id,
        category="contribution",
        amount=c.amount,
        base=c.base_amount,
        label=_contribution_label(c),
    )
    db.session.flush()
    audit.log(by, "contribution.recorded", "contribution", c.id, after=contribution_snapshot(c))
    return c


def update_contribution(
    c: Contribution, data: ContributionInput, *, by: User | None, receipt=None
) -> Contribution:
    if c.voided:
        raise Conflict(_("A voided contribution cannot be edited."))
    before = contribution_snapshot(c)
    _apply_contribution(c, data)
    if receipt is not None:
        attach_receipt(c, receipt)
    c.updated_at = utcnow()
    db.session.flush()
    _post(
        _entry_for(contribution=c),
        day=c.received_on,
        direction="in",
        fund_id=c.fund_id,
        category="contribution",
        amount=c.amount,
        base=c.base_amount,
        label=_contribution_label(c),
    )
    after = contribution_snapshot(c)
    if after != before:
        audit.log(by, "contribution.updated", "contribution", c.id, before=before, after=after)
    db.session.flush()
    return c


def _void(item: Contribution | Expense, reason: str, by: User | None, kind: str, snapshot) -> None:
    """Void *item*: kept, struck through, out of every total; its ledger line leaves too."""
    if item.voided:
        raise Conflict(_("%(ref)s is already void.", ref=item.reference))
    before = snapshot(item)
    item.voided = True
    item.void_reason = reason
    item.voided_at = utcnow()
    item.voided_by_id = by.id if by else None
    _unpost(_entry_for(**{kind: item}))
    db.session.flush()
    audit.log(by, f"{kind}.voided", kind, item.id, before=before, after=snapshot(item))


def void_contribution(c: Contribution, reason: str, *, by: User | None) -> Contribution:
    """Void a gift: it stays, struck through, out of every total."""
    _void(c, reason, by, "contribution", contribution_snapshot)
    return c


def set_thank_status(c: Contribution, status: str, *, by: User | None) -> Contribution:
    set_thank_statuses([c], status, by=by)
    return c


def set_thank_statuses(cs: list[Contribution], status: str, *, by: User | None) -> None:
    """Set the gifts' thank status, with one audit event for each one changed (written at
    once: a letter batch sets hundreds)."""
    changed = [(c, c.thank_status) for c in cs if c.thank_status != status]
    if not changed:
        return
    for c, _before in changed:
        c.thank_status = status
    db.session.flush()
    audit.log_many(
        by,
        [
            ("contribution.thank_status", "contribution", c.id,
             {"thank_status": before}, {"thank_status": status})
            for c, before in changed
        ],
    )  # fmt: skip


# --- expenses ------------------------------------------------------------------------------


def _apply_expense(e: Expense, data: ExpenseInput) -> None:
    base = base_value(data.amount, data.rate, base_currency())
    check_room(base, replacing=0 if e.id is None or e.voided else e.base_amount_minor)
    e.paid_on = data.paid_on
    e.payee = data.payee
    e.amount_minor = data.amount.minor
    e.currency = data.amount.currency
    e.exchange_rate = rate_to_text(data.rate)
    e.base_amount_minor = base.minor
    e.base_currency = base.currency
    e.category = data.category
    e.fund = data.fund
    e.fund_id = data.fund.id
    e.description_en = data.description_en
    e.description_km = data.description_km


def _post_expense(e: Expense, *, new: bool = False) -> None:
    _post(
        LedgerEntry(expense_id=e.id) if new else _entry_for(expense=e),
        day=e.paid_on,
        direction="out",
        fund_id=e.fund_id,
        category=e.category,
        amount=e.amount,
        base=e.base_amount,
        label=e.payee,
    )


def record_expense(
    data: ExpenseInput,
    *,
    by: User | None,
    receipt=None,
    idempotency_key: str | None = None,
    is_example: bool = False,
) -> Expense:
    """Record money spent, with an optional checked receipt. The caller commits."""
    existing = find_by_idempotency_key(Expense, idempotency_key)
    if existing is not None:
        return existing
    year = data.paid_on.year
    number = next_value(f"expense-{year}")
    e = Expense(
        reference=f"E-{year}-{number:04d}",
        recorded_by=by,
        idempotency_key=idempotency_key,
        is_example=is_example,
    )
    _apply_expense(e, data)
    if receipt is not None:
        attach_receipt(e, receipt)
    db.session.add(e)
    db.session.flush()
    _post_expense(e, new=True)
    db.session.flush()
    audit.log(by, "expense.recorded", "expense", e.id, after=expense_snapshot(e))
    return e


def attach_receipt(e: Expense | Contribution, receipt) -> None:
    """*receipt* is a :class:`~ceroc_donations.book.receipts.StoredReceipt`."""
    e.receipt_path = receipt.path
    e.receipt_name = receipt.original_name
    e.receipt_mime = receipt.mime
    e.receipt_sha256 = receipt.sha256


def update_expense(e: Expense, data: ExpenseInput, *, by: User | None, receipt=None) -> Expense:
    if e.voided:
        raise Conflict(_("A voided expense cannot be edited."))
    before = expense_snapshot(e)
    _apply_expense(e, data)
    if receipt is not None:
        attach_receipt(e, receipt)
    e.updated_at = utcnow()
    db.session.flush()
    _post_expense(e)
    after = expense_snapshot(e)
    if after != before:
        audit.log(by, "expense.updated", "expense", e.id, before=before, after=after)
    db.session.flush()
    return e


def void_expense(e: Expense, reason: str, *, by: User | None) -> Expense:
    """Void an expense: it stays, struck through, out of every total."""
    _void(e, reason, by, "expense", expense_snapshot)
    return e
