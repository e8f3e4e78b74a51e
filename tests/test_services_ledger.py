from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from ceroc_donations import filters
from ceroc_donations.book import service as book
from ceroc_donations.book.inputs import Invalid, parse_contribution, parse_donor
from ceroc_donations.book.models import FundMonthTotal, LedgerEntry
from ceroc_donations.extensions import db
from ceroc_donations.ledger import service as ledger
from ceroc_donations.money import Money
from tests.conftest import contribution_form

START = date(2023, 11, 20)
CATEGORIES = ("printing", "travel", "events")

entry_st = st.tuples(
    st.integers(0, 120),  # day offset: about four months
    st.sampled_from(("in", "out")),
    st.integers(0, 2),  # fund index
    st.integers(1, 50_000),  # base minor
    st.booleans(),  # voided
    st.sampled_from(CATEGORIES),
    st.booleans(),  # foreign currency
)


def _write(entries, fund_ids):
    db.session.execute(delete(LedgerEntry))
    db.session.execute(delete(FundMonthTotal))
    written = []
    for offset, direction, fi, base, voided, category, foreign in entries:
        amount = Money(base * 4000, "KHR") if foreign else Money(base, "USD")
        e = book._post(
            LedgerEntry(),
            day=START + timedelta(days=offset),
            direction=direction,
            fund_id=fund_ids[fi],
            category="contribution" if direction == "in" else category,
            amount=amount,
            base=Money(base, "USD"),
            label=f"entry {len(written)} ស្រុកខ្មែរ",
        )
        db.session.flush()
        if voided:
            book._unpost(e)
        written.append(e)
    db.session.flush()
    return written


def _naive(written, f: ledger.LedgerFilter):
    """Expected (id, balance) newest first, recomputed from scratch."""
    ordered = sorted(written, key=lambda e: (e.entry_on, e.id))
    running, balance_after = 0, {}
    for e in ordered:
        if (f.fund_id is None or e.fund_id == f.fund_id) and not e.voided:
            running += e.signed_base_minor
        balance_after[e.id] = running
    shown = [
        e
        for e in ordered
        if (f.include_void or not e.voided)
        and (f.fund_id is None or e.fund_id == f.fund_id)
        and (f.date_from is None or e.entry_on >= f.date_from)
        and (f.date_to is None or e.entry_on <= f.date_to)
        and (f.category is None or e.category == f.category)
        and (f.direction is None or e.direction == f.direction)
    ]
    return [(e.id, balance_after[e.id]) for e in reversed(shown)]


def _walk(f, limit):
    got, cursor, pages = [], None, 0
    while True:
        page = ledger.ledger_page(f, cursor, limit)
        got += [(r.id, r.balance.minor) for r in page.rows]
        pages += 1
        assert pages < 1000
        if page.next_cursor is None:
            return got
        cursor = page.next_cursor


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=st.lists(entry_st, max_size=40), data=st.data())
def test_running_balance_matches_naive_recomputation(funds, entries, data):
    general, promo = funds
    third = db.session.execute(select(book.Fund).where(book.Fund.code == "third")).scalar()
    third = third or book.create_fund("third", "Third", by=None)
    fund_ids = [general.id, promo.id, third.id]
    written = _write(entries, fund_ids)
    fund = data.draw(st.sampled_from([None, *fund_ids]), "fund")
    lo = data.draw(st.none() | st.integers(0, 120), "from")
    hi = data.draw(st.none() | st.integers(0, 120), "to")
    f = ledger.LedgerFilter(
        date_from=START + timedelta(days=lo) if lo is not None else None,
        date_to=START + timedelta(days=hi) if hi is not None else None,
        fund_id=fund,
        category=data.draw(st.sampled_from([None, "contribution", *CATEGORIES]), "category"),
        direction=data.draw(st.sampled_from([None, "in", "out"]), "direction"),
        include_void=data.draw(st.booleans(), "void"),
    )
    limit = data.draw(st.integers(1, 7), "limit")
    expected = _naive(written, f)
    got = _walk(f, limit)
    # Every row exactly once, in order, each with the balance recomputed from scratch.
    assert got == expected
    db.session.rollback()


def test_balance_of_unfiltered_first_row_equals_total(funds):
    general, promo = funds
    _write(
        [
            (0, "in", 0, 1000, False, "printing", False),
            (40, "out", 1, 300, False, "printing", True),
            (41, "in", 1, 50, True, "printing", False),
        ],
        [general.id, promo.id],
    )
    page = ledger.ledger_page(ledger.LedgerFilter(), None, 10)
    assert [r.balance.minor for r in page.rows] == [700, 1000]
    assert page.rows[0].foreign and page.rows[0].amount == Money(1_200_000, "KHR")
    with_void = ledger.ledger_page(ledger.LedgerFilter(include_void=True), None, 10)
    assert [r.voided for r in with_void.rows] == [True, False, False]
    assert [r.balance.minor for r in with_void.rows] == [700, 700, 1000]
    promo_only = ledger.ledger_page(ledger.LedgerFilter(fund_id=promo.id), None, 10)
    assert [r.balance.minor for r in promo_only.rows] == [-300]


def _gift(user, donor_ids, fund_id, amount="100", day="2024-01-10", **extra):
    form = contribution_form(donor_ids[0], fund_id, amount=amount, received_on=day, **extra)
    form["donor_ids"] = [str(d) for d in donor_ids]
    return book.record_contribution(parse_contribution(form), by=user)


def test_donor_filter_and_void_reason(funds, user):
    general, _promo = funds
    a = book.create_donor(
        parse_donor({"name_en": "Sok Dara", "country": "US", "city": "Lowell"}), by=user
    )
    b = book.create_donor(
        parse_donor({"name_en": "Chan Thy", "country": "FR", "city": "Paris"}), by=user
    )
    g1 = _gift(user, [a.id], general.id, "100")
    _gift(user, [b.id], general.id, "50", day="2024-01-11")
    joint = _gift(user, [a.id, b.id], general.id, "31", day="2024-01-12")
    book.void_contribution(g1, "Entered twice", by=user)
    db.session.commit()
    rows = ledger.ledger_page(ledger.LedgerFilter(donor_id=a.id, include_void=True)).rows
    assert [r.contribution_id for r in rows] == [joint.id, g1.id]
    assert rows[1].voided and rows[1].void_reason == "Entered twice"
    assert rows[0].balance.minor == 8100 and rows[0].reference == joint.reference
    countries, cities = ledger.contributions_by_place(ledger.LedgerFilter(), min_donors=1)
    # The joint gift of 31.00 is split evenly; the voided gift counts nowhere.
    assert dict(countries) == {"FR": 5000 + 1550, "US": 1550}
    assert dict(cities) == {"Paris, FR": 6550, "Lowell, US": 1550}


def test_public_names(funds, user):
    general, _promo = funds
    hidden = book.create_donor(
        parse_donor({"name_en": "Secret Person", "public_display": "anonymous"}), by=user
    )
    named = book.create_donor(parse_donor({"name_en": "Sophea Chan", "kind": "person"}), by=user)
    group = book.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
    _gift(user, [hidden.id], general.id, day="2024-01-01")
    _gift(user, [named.id], general.id, day="2024-01-02", public_display="initials")
    _gift(user, [named.id, group.id], general.id, day="2024-01-03", public_display="group_only")
    _gift(user, [group.id], general.id, day="2024-01-04", public_display="anonymous")
    db.session.commit()
    labels = [r.label for r in ledger.ledger_page(ledger.LedgerFilter(), names="public").rows]
    assert labels == [
        "Anonymous donor",
        "Individual donor & CNRP Minnesota",
        "S. C.",
        "Anonymous donor",
    ]


def test_parse_filter_messages(funds):
    def parse(args):
        qa = filters.strict(args)
        f = filters.ledger_filter(qa)
        qa.check()
        return f

    with pytest.raises(Invalid) as exc:
        parse({"from": "2024-13-01", "fund": "999", "category": "x", "direction": "sideways"})
    assert set(exc.value.fields) == {"from", "fund", "category", "direction"}
    with pytest.raises(Invalid) as exc:
        parse({"from": "2024-02-01", "to": "2024-01-01"})
    assert "to" in exc.value.fields
    with pytest.raises(Invalid):
        qa = filters.strict({"cursor": "not-a-cursor"})
        qa.cursor()
        qa.check()
    with pytest.raises(Invalid):
        qa = filters.strict({"limit": "500"})
        qa.limit()
        qa.check()
    f = parse({"from": "2024-01-01", "fund": str(funds[0].id), "void": "1"})
    assert f.include_void and f.as_args() == {
        "from": "2024-01-01",
        "fund": str(funds[0].id),
        "void": "1",
    }
    lenient = filters.ledger_filter(filters.lenient({"fund": "9" * 30, "direction": "in"}))
    assert (lenient.fund_id, lenient.direction) == (None, "in")


def test_monthly_flow_carries_the_balance(funds):
    general, promo = funds
    _write(
        [
            (0, "in", 0, 1000, False, "printing", False),  # Nov 2023
            (60, "out", 1, 300, False, "printing", False),  # Jan 2024
            (61, "in", 1, 99, True, "printing", False),
        ],
        [general.id, promo.id],
    )
    points = ledger.monthly_flow(ledger.LedgerFilter())
    assert [(p.month, p.in_minor, p.out_minor, p.balance_minor) for p in points] == [
        (date(2023, 11, 1), 1000, 0, 1000),
        (date(2024, 1, 1), 0, 300, 700),
    ]
    later = ledger.monthly_flow(ledger.LedgerFilter(date_from=date(2024, 1, 5)))
    assert [(p.month, p.balance_minor) for p in later] == [(date(2024, 1, 1), 700)]
    assert ledger.spending_by_category(ledger.LedgerFilter()) == [("printing", 300)]
