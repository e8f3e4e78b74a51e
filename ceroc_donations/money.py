"""Money: parsing, minor units, exchange rates and formatting.

This is the only module that converts between text, :class:`~decimal.Decimal` and the
integer minor units stored in the database. No float ever touches an amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from babel.numbers import format_currency, format_decimal

#: ISO 4217 codes accepted, with their minor unit (number of decimals).
#: A deliberately short list: the currencies CEROC's diaspora gives in, plus a few
#: with 0 and 3 decimals so the rules stay honest.
CURRENCIES: dict[str, int] = {
    "USD": 2, "CAD": 2, "AUD": 2, "NZD": 2, "EUR": 2, "GBP": 2, "CHF": 2,
    "KHR": 2, "THB": 2, "SGD": 2, "MYR": 2, "HKD": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "JPY": 0, "KRW": 0, "VND": 0, "KWD": 3, "BHD": 3,
}  # fmt: skip

#: The largest amount accepted in any currency, in major units (ten billion).
MAX_MAJOR = Decimal("10000000000")
#: Exchange rates are kept with at most this many decimals.
RATE_DECIMALS = 10
MAX_RATE = Decimal("1000000")

KHMER_DIGITS = str.maketrans("0123456789", "០១២៣៤៥៦៧៨៩")


def N_(message: str) -> str:
    """Mark *message* for translation; the caller translates ``message % params``."""
    return message


class MoneyError(ValueError):
    """Raised for an amount, currency or rate a person must correct.

    ``message`` is the English msgid and ``params`` its placeholders, so a page can show
    ``gettext(exc.message, **exc.params)``; ``str(exc)`` is the English text.
    """

    def __init__(self, message: str, **params):
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


def check_currency(code: str) -> str:
    """Return the upper-cased ISO 4217 *code* or raise :class:`MoneyError`."""
    code = (code or "").strip().upper()
    if code not in CURRENCIES:
        raise MoneyError(
            N_("Unknown currency %(code)s: use an ISO 4217 code such as USD."), code=repr(code)
        )
    return code


def exponent(currency: str) -> int:
    """Number of decimals of *currency*'s minor unit."""
    return CURRENCIES[check_currency(currency)]


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount: integer minor units of one currency."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money.minor must be an int")
        object.__setattr__(self, "currency", check_currency(self.currency))

    @property
    def amount(self) -> Decimal:
        """The amount in major units, exact."""
        return Decimal(self.minor).scaleb(-exponent(self.currency))

    @classmethod
    def from_decimal(cls, amount: Decimal, currency: str) -> Money:
        """Build from a Decimal that already has no more decimals than the currency allows."""
        exp = exponent(currency)
        scaled = amount.scaleb(exp)
        if scaled != scaled.to_integral_value():
            raise MoneyError(
                N_("%(currency)s amounts have at most %(n)d decimal places."),
                currency=currency,
                n=exp,
            )
        return cls(int(scaled), currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError("cannot add different currencies")
        return Money(self.minor + other.minor, self.currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def parse_amount(text: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> Money:
    """Parse a positive amount typed by a person (``1,234.50``, ``400``) into :class:`Money`.

    Raises :class:`MoneyError` with a message fit to show next to the field.
    """
    currency = check_currency(currency)
    if isinstance(text, float):
        raise TypeError("floats are not accepted for money")
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
    else:
        raw = str(text or "").strip().replace(",", "").replace(" ", "").replace("\u00a0", "")
        raw = raw.translate(str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789"))
        if not raw:
            raise MoneyError(N_("Enter an amount."))
        if raw.startswith("+"):
            raw = raw[1:]
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise MoneyError(N_("Enter the amount as a number, e.g. 400 or 1,250.50.")) from None
    if not value.is_finite():
        raise MoneyError(N_("Enter the amount as a number, e.g. 400 or 1,250.50."))
    if value < 0 or (value == 0 and not allow_zero):
        raise MoneyError(N_("Amount must be greater than 0."))
    if value > MAX_MAJOR:
        raise MoneyError(
            N_("Amount is too large (at most %(max)s %(currency)s)."),
            max=f"{MAX_MAJOR:,}",
            currency=currency,
        )
    exp = CURRENCIES[currency]
    if -value.as_tuple().exponent > exp and value != value.quantize(Decimal(1).scaleb(-exp)):
        if exp == 0:
            raise MoneyError(N_("%(currency)s amounts have no decimal places."), currency=currency)
        raise MoneyError(
            N_("%(currency)s amounts have at most %(n)d decimal places."), currency=currency, n=exp
        )
    return Money.from_decimal(value, currency)


def parse_rate(text: str | Decimal | int) -> Decimal:
    """Parse an exchange rate (units of base currency per unit of the gift's currency)."""
    if isinstance(text, float):
        raise TypeError("floats are not accepted for rates")
    raw = str(text if text is not None else "").strip().replace(",", "")
    if not raw:
        raise MoneyError(N_("Enter the exchange rate."))
    try:
        rate = Decimal(raw)
    except InvalidOperation:
        raise MoneyError(N_("Enter the exchange rate as a number, e.g. 0.74.")) from None
    if not rate.is_finite() or rate <= 0:
        raise MoneyError(N_("Exchange rate must be greater than 0."))
    if rate > MAX_RATE:
        raise MoneyError(N_("Exchange rate is too large."))
    if -rate.as_tuple().exponent > RATE_DECIMALS:
        raise MoneyError(N_("Exchange rate has at most %(n)d decimal places."), n=RATE_DECIMALS)
    return rate.normalize() if rate == rate.to_integral_value() else rate


def convert(money: Money, rate: Decimal, base_currency: str) -> Money:
    """Convert *money* to *base_currency* at *rate*, rounding half to even to the minor unit."""
    base_currency = check_currency(base_currency)
    if money.currency == base_currency:
        return money
    value = (money.amount * rate).quantize(
        Decimal(1).scaleb(-CURRENCIES[base_currency]), rounding=ROUND_HALF_EVEN
    )
    return Money.from_decimal(value, base_currency)


def rate_to_text(rate: Decimal) -> str:
    """Canonical text for storing a rate exactly."""
    text = format(rate, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_money(money: Money, locale: str = "en", *, latin_digits: bool = False) -> str:
    """Format for people: ``US$400.00`` in English, Khmer digits in Khmer.

    *latin_digits* keeps ``0-9`` in every locale, for tables and chart labels.
    """
    text = format_currency(money.amount, money.currency, locale=locale)
    if locale.startswith("km") and not latin_digits:
        text = to_khmer_digits(text)
    return text


def format_plain(money: Money, locale: str = "en") -> str:
    """The amount with grouping but no symbol, e.g. for tables: ``1,250.50``."""
    exp = CURRENCIES[money.currency]
    fmt = "#,##0" + ("." + "0" * exp if exp else "")
    number_locale = "en" if locale.startswith("km") else locale
    return format_decimal(money.amount, format=fmt, locale=number_locale)


def to_input(money: Money) -> str:
    """The amount as typed into a form field again: ``1250.50``."""
    return format(money.amount, "f")


def to_khmer_digits(text: str) -> str:
    """Replace Latin digits with Khmer digits (Babel has none)."""
    return text.translate(KHMER_DIGITS)


def allocate(total_minor: int, shares: Sequence[int]) -> list[int]:
    """Split *total_minor* in proportion to *shares* (non-negative weights), by largest
    remainder: each part is within one minor unit of its exact proportion and the parts
    always sum to *total_minor*. Ties go to the earlier share. All-zero weights split evenly.
    """
    if not shares:
        raise ValueError("allocate needs at least one share")
    if any(s < 0 for s in shares):
        raise ValueError("shares must not be negative")
    weights = list(shares) if sum(shares) else [1] * len(shares)
    whole = sum(weights)
    sign = -1 if total_minor < 0 else 1
    total = abs(total_minor)
    parts = [total * w // whole for w in weights]
    # Remainders are (total * w) mod whole; the largest get the minor units left over.
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return [sign * p for p in parts]


def joint_shares(total_minor: int, amount_minor: int, shares: Sequence[int | None]) -> list[int]:
    """A joint gift's *total_minor* (e.g. its base amount) credited to each co-donor.

    *shares* are the co-donors' recorded shares of the gift's *amount_minor*, ``None``
    where unknown: known shares are credited in proportion, and what they leave is split
    evenly between the unknown ones (by :func:`allocate`, so the parts sum to the total).
    """
    unknown = sum(1 for s in shares if s is None)
    if not unknown:
        return allocate(total_minor, [int(s) for s in shares])  # type: ignore[arg-type]
    rest = max(amount_minor - sum(s for s in shares if s is not None), 0)
    # Scaled by the number of unknown shares, so every weight stays an integer.
    return allocate(total_minor, [rest if s is None else int(s) * unknown for s in shares])
