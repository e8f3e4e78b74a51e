from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ceroc_donations import audit
from ceroc_donations.accounts.models import AuditEvent
from ceroc_donations.book import queries
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Invalid, parse_contribution, parse_expense
from ceroc_donations.book.models import Contribution, FundMonthTotal, LedgerEntry
from ceroc_donations.book.service import Conflict
from ceroc_donations.extensions import db
from ceroc_donations.money import Money
from tests.conftest import contribution_form


def record(donor, fund, user, **kw):
    data = parse_contribution(contribution_form(donor.id, fund.id, **kw))
    c = book.record_contribution(data, by=user)
    db.session.commit()
    return c


def test_references_sequential_per_year(funds, donor, user):
    general, _ = funds
    refs = [record(donor, general, user).reference for _ in range(3)]
    other = record(donor, general, user, received_on="2015-01-02").reference
    assert refs == ["C-2014-0001", "C-2014-0002", "C-2014-0003"]
    assert other == "C-2015-0001"


def test_rollback_leaves_no_gap(funds, donor, user):
    general, _ = funds
    record(donor, general, user)
    book.record_contribution(parse_contribution(contribution_form(donor.id, general.id)), by=user)
    db.session.rollback()
    assert record(donor, general, user).reference == "C-2014-0002"


def test_joint_gift_shares(funds, user, donor):
    from ceroc_donations.book.inputs import parse_donor

    ika = book.create_donor(parse_donor({"name_en": "IKA"}), by=user)
    general, _ = funds
    form = contribution_form(donor.id, general.id)
    data = parse_contribution(form, donor_ids=[str(donor.id), str(ika.id)], shares=["300", "100"])
    c = book.record_contribution(data, by=user)
    assert [s.share for s in c.shares] == [Money(30000, "USD"), Money(10000, "USD")]
    with pytest.raises(Invalid) as exc:
        parse_contribution(form, donor_ids=[str(donor.id), str(ika.id)], shares=["300", "200"])
    assert "shares" in exc.value.fields
    _, years = queries.donor_history(ika)
    assert years[0].total == Money(10000, "USD")


def test_foreign_currency_stores_base_value(funds, donor, user):
    general, _ = funds
    c = record(donor, general, user, amount="700", currency="CAD", exchange_rate="0.745")
    assert c.amount == Money(70000, "CAD")
    assert c.base_amount == Money(52150, "USD")
    assert c.exchange_rate == "0.745"


def test_void_keeps_row_and_leaves_totals(funds, donor, user):
    general, _ = funds
    keep = record(donor, general, user)
    gone = record(donor, general, user, amount="50")
    book.void_contribution(gone, "typed twice", by=user)
    db.session.commit()
    assert db.session.get(Contribution, gone.id).voided
    [balance] = [b for b in queries.fund_balances() if b.fund.id == general.id]
    assert balance.money_in == keep.base_amount
    with pytest.raises(Conflict):
        book.void_contribution(gone, "again", by=user)
    with pytest.raises(Conflict):
        book.update_contribution(
            gone, parse_contribution(contribution_form(donor.id, general.id)), by=user
        )


def test_edit_moves_totals_between_funds_and_months(funds, donor, user):
    general, promo = funds
    c = record(donor, general, user)
    book.update_contribution(
        c,
        parse_contribution(
            contribution_form(donor.id, promo.id, amount="450", received_on="2014-09-01")
        ),
        by=user,
    )
    db.session.commit()
    rows = {
        (r.fund_id, r.month): (r.in_minor, r.in_count)
        for r in db.session.execute(select(FundMonthTotal)).scalars()
    }
    assert rows[(general.id, date(2014, 6, 1))] == (0, 0)
    assert rows[(promo.id, date(2014, 9, 1))] == (45000, 1)
    ev = db.session.execute(
        select(AuditEvent).where(AuditEvent.action == "contribution.updated")
    ).scalar_one()
    assert '"amount_minor": 40000' in ev.before_json and '"amount_minor": 45000' in ev.after_json


def test_expense_posts_out(funds, user):
    _, promo = funds
    e = book.record_expense(
        parse_expense(
            {
                "paid_on": "2014-06-20",
                "payee": "Print shop",
                "amount": "120",
                "currency": "USD",
                "category": "printing",
                "fund_id": str(promo.id),
            }
        ),
        by=user,
    )
    db.session.commit()
    entry = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.expense_id == e.id)
    ).scalar_one()
    assert entry.direction == "out" and entry.base_amount_minor == 12000
    [b] = [b for b in queries.fund_balances() if b.fund.id == promo.id]
    assert b.balance == Money(-12000, "USD")


def test_idempotency_key_records_once(funds, donor, user):
    general, _ = funds
    data = parse_contribution(contribution_form(donor.id, general.id))
    a = book.record_contribution(data, by=user, idempotency_key="k1")
    b = book.record_contribution(data, by=user, idempotency_key="k1")
    db.session.commit()
    assert a.id == b.id
    assert db.session.execute(select(func.count()).select_from(Contribution)).scalar() == 1


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("amount", "-5", "greater than 0"),
        ("amount", "1000000000000", "too large"),
        ("amount", "10.005", "decimal places"),
        ("currency", "XYZ", "Unknown currency"),
        ("received_on", "2014-02-30", "real date"),
        ("received_on", (date.today() + timedelta(days=60)).isoformat(), "future"),
        ("received_on", "1900-01-01", "before"),
        ("exchange_rate", "", "Enter how many"),
        ("occasion", "x" * 301, "under 300"),
        ("fund_id", "999", "Choose a fund"),
        ("donor_ids", [], "Choose the donor"),
        ("method", "bitcoin", "Choose one of"),
        ("note", "bad\x00byte", "control characters"),
    ],
)
def test_contribution_bad_input(funds, donor, field, value, message):
    general, _ = funds
    form = contribution_form(donor.id, general.id)
    form[field] = value
    if field == "exchange_rate":
        form["currency"] = "CAD"
    with pytest.raises(Invalid) as exc:
        parse_contribution(form)
    assert message in exc.value.fields[field]


def test_html_and_khmer_kept_as_text(funds, donor, user):
    general, _ = funds
    text = "<script>alert(1)</script> ដំណើរទៅមីនីសូតា ជាមួយ លោកស្រី មូរ សុខហួរ"
    c = record(donor, general, user, occasion=text, note=text)
    assert db.session.get(Contribution, c.id).occasion == text


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(1, 10**9), st.booleans(), st.booleans()), min_size=1, max_size=8)
)
def test_totals_equal_sum_of_entries_not_voided(funds, donor, user, entries):
    general, promo = funds
    db.session.execute(LedgerEntry.__table__.delete())
    db.session.execute(FundMonthTotal.__table__.delete())
    db.session.commit()
    expected = {general.id: 0, promo.id: 0}
    for minor, voided, is_expense in entries:
        amount = str(Money(minor, "USD").amount)
        if is_expense:
            item = book.record_expense(
                parse_expense(
                    {
                        "paid_on": "2014-07-01",
                        "payee": "P",
                        "amount": amount,
                        "currency": "USD",
                        "category": "other",
                        "fund_id": str(promo.id),
                    }
                ),
                by=user,
            )
            fund_id, sign = promo.id, -1
        else:
            item = book.record_contribution(
                parse_contribution(contribution_form(donor.id, general.id, amount=amount)), by=user
            )
            fund_id, sign = general.id, 1
        if voided:
            (book.void_expense if is_expense else book.void_contribution)(item, "x", by=user)
        else:
            expected[fund_id] += sign * minor
    db.session.commit()
    got = {b.fund.id: b.balance.minor for b in queries.fund_balances()}
    assert got == expected
    direct = db.session.execute(select(LedgerEntry).where(LedgerEntry.voided.is_(False))).scalars()
    assert sum(e.signed_base_minor for e in direct) == sum(expected.values())


def test_audit_chain_detects_alteration_and_removal(funds, donor, user):
    general, _ = funds
    record(donor, general, user)
    record(donor, general, user)
    count, problems = audit.verify()
    assert count >= 4 and problems == []
    ev = db.session.execute(select(AuditEvent).where(AuditEvent.seq == 2)).scalar_one()
    ev.after_json = ev.after_json.replace('"', "'")
    db.session.commit()
    _, problems = audit.verify()
    assert [p.seq for p in problems] == [2]
    db.session.delete(
        db.session.execute(select(AuditEvent).where(AuditEvent.seq == 3)).scalar_one()
    )
    db.session.commit()
    _, problems = audit.verify()
    assert any("missing" in p.message for p in problems)
    last = db.session.execute(select(func.max(AuditEvent.seq))).scalar()
    db.session.delete(
        db.session.execute(select(AuditEvent).where(AuditEvent.seq == last)).scalar_one()
    )
    db.session.commit()
    _, problems = audit.verify()
    assert any("end of the chain" in p.message for p in problems)


_ADVISORY_HELD = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    " AND granted"
)


def test_numbering_lock_is_taken_by_each_transaction_that_numbers(app):
    """PostgreSQL: the first counter of every transaction takes the numbering lock, even as
    its first statement; later counters of the same transaction do not ask again."""
    from sqlalchemy import text

    from ceroc_donations.database import next_value

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's advisory lock")
        db.session.commit()
        db.session.remove()  # a new session, which has numbered nothing yet
        first = next_value("lock-test")  # the first statement of a new transaction
        assert db.session.execute(text(_ADVISORY_HELD)).scalar() == 1
        assert next_value("lock-test") == first + 1
        db.session.commit()
        assert db.session.execute(text(_ADVISORY_HELD)).scalar() == 0
        db.session.rollback()
        assert next_value("lock-test") == first + 2  # again first in its transaction
        assert db.session.execute(text(_ADVISORY_HELD)).scalar() == 1
        db.session.rollback()
