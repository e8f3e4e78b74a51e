from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ceroc_donations.money import (
    CURRENCIES,
    Money,
    MoneyError,
    convert,
    format_money,
    format_plain,
    parse_amount,
    parse_rate,
    to_input,
    to_khmer_digits,
)


@pytest.mark.parametrize(
    "text, minor",
    [
        ("400", 40000),
        ("400.00", 40000),
        ("1,250.50", 125050),
        (" 7 ", 700),
        ("0.01", 1),
        ("៤០០", 40000),
        ("+5", 500),
    ],
)
def test_parse_amount_usd(text, minor):
    assert parse_amount(text, "USD") == Money(minor, "USD")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Enter an amount"),
        ("-5", "greater than 0"),
        ("0", "greater than 0"),
        ("10.005", "at most 2 decimal places"),
        ("abc", "as a number"),
        ("NaN", "as a number"),
        ("Infinity", "as a number"),
        ("1e400", "as a number"),
        ("1e3", "as a number"),
        ("1,234", "1234 or 1.234"),
        ("$400", "as a number"),
        ("1 2 3", "as a number"),
        ("99999999999", "too large"),
        ("<script>", "as a number"),
    ],
)
def test_parse_amount_rejects(text, message):
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, "USD")


def test_zero_decimal_and_three_decimal_currencies():
    assert parse_amount("5000", "JPY") == Money(5000, "JPY")
    with pytest.raises(MoneyError, match="no decimal places"):
        parse_amount("5.5", "JPY")
    assert parse_amount("1.234", "KWD") == Money(1234, "KWD")


def test_unknown_currency():
    with pytest.raises(MoneyError, match="Unknown currency"):
        parse_amount("5", "XYZ")
    with pytest.raises(MoneyError):
        Money(5, "DOGE")


def test_floats_never_accepted():
    with pytest.raises(TypeError):
        parse_amount(0.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(1.5, "USD")  # type: ignore[arg-type]


def test_sum_of_dimes_is_exact():
    total = sum((parse_amount("0.10", "USD") for _ in range(1000)), Money(0, "USD"))
    assert total.amount == Decimal("100.00")


def test_convert_rounds_half_even():
    assert convert(Money(100, "CAD"), Decimal("0.745"), "USD") == Money(74, "USD")
    assert convert(Money(300, "CAD"), Decimal("0.745"), "USD") == Money(224, "USD")  # 2.235
    assert convert(Money(40000, "USD"), Decimal("3"), "USD") == Money(40000, "USD")


@pytest.mark.parametrize("bad", ["0", "-1", "x", "", "1.00000000001", "2000000"])
def test_parse_rate_rejects(bad):
    with pytest.raises(MoneyError):
        parse_rate(bad)


def test_format_money_khmer_digits():
    assert format_money(Money(40000, "USD"), "en") == "$400.00"
    km = format_money(Money(40000, "USD"), "km_KH")
    assert "៤០០" in km and "4" not in km
    assert to_khmer_digits("2026") == "២០២៦"


amounts = st.decimals(
    min_value=Decimal("0.01"),
    max_value=Decimal("9999999999"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@given(amounts, st.sampled_from(["USD", "CAD", "EUR", "KHR", "AUD"]))
def test_round_trip_plain_and_input(value, currency):
    money = parse_amount(str(value), currency)
    assert money.amount == value
    assert parse_amount(to_input(money), currency) == money
    assert parse_amount(format_plain(money), currency) == money


@given(st.integers(min_value=1, max_value=10**12), st.sampled_from(sorted(CURRENCIES)))
def test_round_trip_minor_units(minor, currency):
    money = Money(minor, currency)
    assert Money.from_decimal(money.amount, currency) == money
    if money.amount <= Decimal("10000000000"):
        assert parse_amount(to_input(money), currency) == money


# --- joint-gift shares ------------------------------------------------------------------------


@given(
    st.integers(-(10**15), 10**15),
    st.lists(st.integers(0, 10**12), min_size=1, max_size=12),
)
def test_allocate_sums_to_the_total_and_stays_within_one_unit(total, shares):
    from fractions import Fraction

    from ceroc_donations.money import allocate

    parts = allocate(total, shares)
    assert sum(parts) == total
    weights = shares if sum(shares) else [1] * len(shares)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(total * weight, sum(weights))
        assert abs(part - exact) < 1


def test_allocate_largest_remainder():
    from ceroc_donations.money import allocate

    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(1000, [1, 2]) == [333, 667]  # 333.3 and 666.7: the larger remainder wins
    assert allocate(5, [0, 0]) == [3, 2]
    with pytest.raises(ValueError):
        allocate(5, [])


@given(
    st.integers(0, 10**12),
    st.lists(st.one_of(st.none(), st.integers(1, 10**6)), min_size=1, max_size=8),
    st.integers(0, 10**6),
)
def test_joint_shares_sum_to_the_total(total, shares, extra):
    from ceroc_donations.money import joint_shares

    amount = sum(s for s in shares if s is not None) + extra
    parts = joint_shares(total, amount, shares)
    assert sum(parts) == total and len(parts) == len(shares)
    if None not in shares:  # then the shares add up to the amount (the form checks it)
        whole = sum(shares)
        for part, share in zip(parts, shares, strict=True):
            assert abs(part * whole - total * share) < whole
