"""Money: parsing, minor units, exchange rates and formatting.

This is the only module that converts between text, :class:`~decimal.Decimal` and the
integer minor units stored in the database. No float ever touches an amount.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext

from babel.numbers import format_currency, format_decimal

#: ISO 4217 codes accepted, with their minor unit (number of decimals).
#: A deliberately short list: the currencies CEROC's diaspora gives in, plus a few
#: with 0 and 3 decimals so the rules stay honest.
CURRENCIES: dict[str, int] = {
    "USD": 2, "CAD": 2, "AUD": 2, "NZD": 2, "EUR": 2, "GBP": 2, "CHF": 2,
    "KHR": 2, "THB": 2, "SGD": 2, "MYR": 2, "HKD": 2, "SEK": 2, "NOK": 2,
    "DKK": 2, "JPY": 0, "KRW": 0, "VND": 0, "KWD": 3, "BHD": 3,
}  # fmt: skip

#: The largest amount accepted in any currency, in major units (ten billion). With at most
#: three decimals that is 14 significant digits, so every stored amount and base value is a
#: number a spreadsheet keeps exactly (see :data:`MAX_DIGITS`) and far inside a BigInteger.
MAX_MAJOR = Decimal("10000000000")
#: Exchange rates are kept with at most this many decimals.
RATE_DECIMALS = 10
#: The largest rate: one unit of the strongest currency listed (KWD) is worth under 100,000
#: of the weakest (VND), so a rate past a million is a typing mistake.
MAX_RATE = Decimal("1000000")
#: Spreadsheets (Excel, LibreOffice) keep 15 significant digits of a number; the CSV and
#: XLSX exports refuse a longer one rather than let it be changed.
MAX_DIGITS = 15
#: The most the whole book may hold, in base-currency minor units: every total and every
#: running balance is at most the sum of all entries, so none is ever longer than
#: :data:`MAX_DIGITS` digits (a BigInteger would hold 9.2e18).
MAX_BOOK_MINOR = 10**MAX_DIGITS - 1

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


#: Spaces people and spreadsheets put between groups of digits: space, no-break space,
#: narrow no-break space (French), thin space.
_GROUP_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " "})
_LATIN_DIGITS = str.maketrans("០១២៣៤៥៦៧៨៩", "0123456789")
_NUMBER_CHARS = re.compile(r"[0-9 ,.]*")
_FIRST_GROUP = re.compile(r"[1-9][0-9]{0,2}")
_DIGITS = re.compile(r"[0-9]*")


class Ambiguous(MoneyError):
    """A number with a comma that could be a decimal mark or a thousands separator."""


def _grouped(int_part: str, sep: str) -> str | None:
    """*int_part* without its separators when they group digits by three, else None."""
    groups = int_part.split(sep)
    if not _FIRST_GROUP.fullmatch(groups[0]):
        return None
    if any(len(g) != 3 or not g.isdigit() for g in groups[1:]):
        return None
    return "".join(groups)


def read_decimal(text: str) -> Decimal | None:
    """Read a number as people write it; None when *text* is not one.

    The one rule for decimal marks, used by the forms, the API and the CSV import:

    * A point is a decimal mark, unless it appears more than once or before a comma
      (``1.234.567``, ``1.234,56``): then points group thousands.
    * A comma is a decimal mark when that is the only reading: ``12,50``, ``0,74``,
      ``1.234,56``, ``1 234,5``, ``1234,567``. Commas group thousands when there are
      several (``1,234,567``) or a point follows (``1,234.56``).
    * ``1,234`` could be 1234 or 1.234: :class:`Ambiguous` is raised, naming both readings.
    * Spaces may group thousands (``1 234,56``); a sign, Khmer digits, and nothing else.
    """
    raw = str(text).strip().translate(_LATIN_DIGITS).translate(_GROUP_SPACES)
    sign = ""
    if raw[:1] in ("+", "-", "\u2212"):
        sign = "-" if raw[0] != "+" else ""
        raw = raw[1:].strip()
    if not raw or not _NUMBER_CHARS.fullmatch(raw) or not any(c.isdigit() for c in raw):
        return None
    separators = [c for c in " ,." if c in raw]
    decimal_mark = group = None
    if len(separators) > 2:
        return None
    if len(separators) == 2:
        if " " in separators:
            group = " "
            decimal_mark = separators[1] if separators[0] == " " else separators[0]
        else:  # both a comma and a point: the last one marks the decimals
            decimal_mark = "," if raw.rfind(",") > raw.rfind(".") else "."
            group = "." if decimal_mark == "," else ","
    elif separators == [" "]:
        group = " "
    elif separators:
        sep = separators[0]
        if raw.count(sep) > 1:
            group = sep
        elif sep == ".":
            decimal_mark = "."
        else:
            before, after = raw.split(",")
            if len(after) == 3 and _FIRST_GROUP.fullmatch(before):
                whole, decimal = before + after, f"{before}.{after}"
                raise Ambiguous(
                    N_("Is %(text)s %(whole)s or %(decimal)s? Write %(whole)s or %(decimal)s."),
                    text=f"“{str(text).strip()}”",
                    whole=sign + whole,
                    decimal=sign + decimal,
                )
            decimal_mark = ","
    int_part, fraction = raw, ""
    if decimal_mark is not None:
        if raw.count(decimal_mark) != 1:
            return None
        int_part, fraction = raw.split(decimal_mark)
    if group is not None:
        if group not in int_part or group in fraction:
            return None
        int_part = _grouped(int_part, group)
        if int_part is None:
            return None
    if not _DIGITS.fullmatch(int_part) or not _DIGITS.fullmatch(fraction):
        return None
    if not int_part and not fraction:
        return None
    return Decimal(f"{sign}{int_part or '0'}.{fraction or '0'}")


def _number(text: str, not_a_number: str, negative: str) -> Decimal:
    if text.startswith(("-", "\u2212")):
        try:
            is_number = read_decimal(text[1:]) is not None
        except Ambiguous:
            is_number = True
        if is_number:
            raise MoneyError(negative)
    value = read_decimal(text)
    if value is None:
        raise MoneyError(not_a_number)
    return value


def parse_amount(text: str | Decimal | int, currency: str, *, allow_zero: bool = False) -> Money:
    """Parse a positive amount typed by a person (``1,234.50``, ``400``, ``12,50``).

    Decimal marks are read by :func:`read_decimal`. Raises :class:`MoneyError` with a
    message fit to show next to the field.
    """
    currency = check_currency(currency)
    if isinstance(text, float):
        raise TypeError("floats are not accepted for money")
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        value = Decimal(text)
    else:
        raw = str(text or "").strip()
        if not raw:
            raise MoneyError(N_("Enter an amount."))
        value = _number(
            raw,
            N_("Enter the amount as a number, e.g. 400 or 1,250.50."),
            N_("Amount must be greater than 0."),
        )
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
    if value != value.quantize(Decimal(1).scaleb(-exp)):
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
    if isinstance(text, Decimal | int) and not isinstance(text, bool):
        rate = Decimal(text)
    else:
        raw = str(text if text is not None else "").strip()
        if not raw:
            raise MoneyError(N_("Enter the exchange rate."))
        rate = _number(
            raw,
            N_("Enter the exchange rate as a number, e.g. 0.74."),
            N_("Exchange rate must be greater than 0."),
        )
    if not rate.is_finite() or rate <= 0:
        raise MoneyError(N_("Exchange rate must be greater than 0."))
    if rate > MAX_RATE:
        raise MoneyError(N_("Exchange rate is too large (at most %(max)s)."), max=f"{MAX_RATE:,}")
    if rate != rate.quantize(Decimal(1).scaleb(-RATE_DECIMALS)):
        raise MoneyError(N_("Exchange rate has at most %(n)d decimal places."), n=RATE_DECIMALS)
    rate = rate.normalize()
    return rate.quantize(Decimal(1)) if rate == rate.to_integral_value() else rate


def convert(money: Money, rate: Decimal, base_currency: str) -> Money:
    """Convert *money* to *base_currency* at *rate*, rounding half to even to the minor unit."""
    base_currency = check_currency(base_currency)
    if money.currency == base_currency:
        return money
    with localcontext() as ctx:  # exact product: no rounding before the one half-even step
        ctx.prec = 80
        value = (money.amount * rate).quantize(
            Decimal(1).scaleb(-CURRENCIES[base_currency]), rounding=ROUND_HALF_EVEN
        )
    return Money.from_decimal(value, base_currency)


def base_value(money: Money, rate: Decimal, base_currency: str) -> Money:
    """:func:`convert`, refusing a result larger than :data:`MAX_MAJOR` of the base currency."""
    base = convert(money, rate, base_currency)
    if base.amount > MAX_MAJOR:
        raise MoneyError(
            N_(
                "At this rate the amount is worth %(value)s %(base)s, more than the book takes "
                "(at most %(max)s %(base)s): check the amount and the rate."
            ),
            value=f"{base.amount:,}",
            base=base.currency,
            max=f"{MAX_MAJOR:,}",
        )
    return base


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
