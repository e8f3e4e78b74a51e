"""The OpenAPI 3.1 description of ``/api/v1/``, written as a plain dict (JSON Schema 2020-12
spellings: ``type: [x, "null"]``, ``examples``; no 3.0 conversion).

tests/test_api.py checks that every ``/api/v1/`` route is here with its methods and
nothing else is, validates the document with openapi-spec-validator's 3.1 validator, and
checks the API's real responses against the response schemas.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, has_app_context

from ceroc_donations.apiutil import IDEMPOTENCY_KEY_MAX, MAX_LIST_ITEMS
from ceroc_donations.book.countries import COUNTRY_CODES
from ceroc_donations.book.inputs import EARLIEST, MAX_EMAIL, MAX_ID
from ceroc_donations.book.models import (
    DONOR_DISPLAY,
    DONOR_KINDS,
    DONOR_PAPER,
    EXPENSE_CATEGORIES,
    GIFT_DISPLAY,
    LETTER_LANGUAGES,
    METHODS,
    THANK_STATUSES,
)
from ceroc_donations.filters import (
    DEFAULT_LIMIT,
    DIRECTIONS,
    MAX_CURSOR,
    MAX_LIMIT,
    MAX_QUERY_TEXT,
)
from ceroc_donations.letters.models import LETTER_KINDS, LETTER_STATUSES
from ceroc_donations.letters.models import SENT_VIA as STORED_SENT_VIA
from ceroc_donations.money import CURRENCIES, MAX_RATE, RATE_DECIMALS
from ceroc_donations.rendering.letter import PAPERS

# --- small schema builders ------------------------------------------------------------------


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(max_len: int | None = None, **extra) -> dict:
    """Optional text: a string (or null, read as empty)."""
    schema: dict = {"type": ["string", "null"], **extra}
    if max_len:
        schema["maxLength"] = max_len
    return schema


def _enum(values, *, null: bool = False) -> dict:
    if null:
        return {"type": ["string", "null"], "enum": [*values, None]}
    return {"type": "string", "enum": list(values)}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict, required=(), *, closed: bool = False, **extra) -> dict:
    schema: dict = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


_ID = {"type": "integer", "format": "int32", "minimum": 1, "maximum": MAX_ID}
# --- what the input checks accept (book/inputs.py, money.py), said as JSON Schema -------------
# A regex for Python's whitespace (str.split, which one-line text is collapsed with) and for
# the control characters Checker.text refuses: in one-line text the whitespace ones among them
# are read as spaces, in multi-line text only tab, line feed and carriage return are kept.
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_CONTROL_LINE = r"\x00-\x08\x0e-\x1b\x7f"
_CONTROL_LINES = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"


def _text_in(max_len: int, *, multiline: bool = False, **extra) -> dict:
    """Optional free text as the API reads it: null or empty for none, no control characters."""
    control = _CONTROL_LINES if multiline else _CONTROL_LINE
    return {
        "type": ["string", "null"],
        "maxLength": max_len,
        "pattern": f"^[^{control}]*$",
        **extra,
    }


def _required_in(max_len: int, *, multiline: bool = False, **extra) -> dict:
    """Required free text: something besides spaces, no control characters."""
    control = _CONTROL_LINES if multiline else _CONTROL_LINE
    pattern = f"^[^{control}]*[^{control}{_WS}][^{control}]*$"
    return {"type": "string", "minLength": 1, "maxLength": max_len, "pattern": pattern, **extra}


#: book/inputs.py's email check (one @, a dot in the domain, no spaces or angle brackets).
_EMAIL_CHAR = f"[^@<>{_WS}{_CONTROL_LINE}]+"
_EMAIL_IN = {
    "anyOf": [
        {
            "type": "string",
            "maxLength": MAX_EMAIL,
            "pattern": f"^{_EMAIL_CHAR}@{_EMAIL_CHAR}\\.{_EMAIL_CHAR}$",
            "examples": ["name@example.org"],
        },
        {"type": ["string", "null"], "maxLength": 0},
    ],
    "description": "An address such as name@example.org; null or empty for none.",
}
_EMPTY = {"type": "string", "maxLength": 0}


def _amount_pattern(decimals: int, whole_digits: int) -> str:
    """A plain decimal with at most *decimals* decimals (more trailing zeros are harmless)."""
    fraction = r"(\.0+)?" if decimals == 0 else rf"(\.[0-9]{{1,{decimals}}}0*)?"
    return rf"^[0-9]{{1,{whole_digits}}}{fraction}$"


_NOT_ZERO = {"not": {"pattern": r"^[0.]*$"}}
#: Amounts below 10,000,000,000 (money.MAX_MAJOR) with their currency's decimals.
_AMOUNT_DIGITS = 10
_AMOUNT_IN = {
    "type": "string",
    "maxLength": 40,
    "pattern": _amount_pattern(max(CURRENCIES.values()), _AMOUNT_DIGITS),
    **_NOT_ZERO,
    "examples": ["400.00"],
    "description": "A positive decimal string with at most the currency's decimals (2 for "
    "USD, 0 for JPY, 3 for KWD), below 10,000,000,000; JSON numbers are refused so that no "
    "amount passes through a float. (People's spellings such as 1,234.50 are read too; this "
    "is the form to send.)",
}
_RATE_IN = {
    "type": "string",
    "maxLength": 40,
    "pattern": _amount_pattern(RATE_DECIMALS, len(str(int(MAX_RATE))) - 1),
    **_NOT_ZERO,
    "examples": ["0.74"],
    "description": "Base currency per unit of the entry's currency, e.g. 0.74 for CAD in "
    f"USD: above 0, below {int(MAX_RATE):,}, at most {RATE_DECIMALS} decimals. Required when "
    "the currency is not the base currency; 1, empty or null otherwise.",
}
_RATE_OR_NONE = {"anyOf": [{"type": "null"}, _EMPTY, _RATE_IN]}
_DAY = {"type": "string", "format": "date", "examples": ["2014-06-15"]}
_DAY_OR_EMPTY = {"anyOf": [_DAY, _EMPTY], "description": "YYYY-MM-DD; empty for no limit."}


def _latest_day() -> date:
    """The last day an entry may be dated (book/inputs.py: a few days ahead at most)."""
    days = current_app.config["MAX_FUTURE_DAYS"] if has_app_context() else 7
    return date.today() + timedelta(days=days)


def _alternatives(values) -> str:
    return "(" + "|".join(values) + ")"


def _day_in(earliest: date = EARLIEST, latest: date | None = None) -> dict:
    """A day from *earliest* (a 1 January) to *latest*, as Checker.day accepts it."""
    latest = latest or _latest_day()
    assert (earliest.month, earliest.day) == (1, 1)
    any_month, any_day = r"(0[1-9]|1[0-2])", r"(0[1-9]|[12][0-9]|3[01])"
    years = _alternatives(str(y) for y in range(earliest.year, latest.year))
    months = _alternatives(f"{m:02d}" for m in range(1, latest.month))
    days = _alternatives(f"{d:02d}" for d in range(1, latest.day + 1))
    choices = [f"{years}-{any_month}-{any_day}"] if latest.year > earliest.year else []
    if latest.month > 1:
        choices.append(f"{latest.year}-{months}-{any_day}")
    choices.append(f"{latest.year}-{latest.month:02d}-{days}")
    return {
        **_DAY,
        "pattern": "^" + _alternatives(choices) + "$",
        "description": f"A day from {earliest.isoformat()} to {latest.isoformat()} (today, "
        "or a few days ahead).",
    }


def _amounts_by_currency(*, shares: bool = False) -> list[dict]:
    """Each currency's decimals for the amount (and the shares), as conditions."""
    rules = []
    for decimals in sorted(set(CURRENCIES.values())):
        codes = [code for code, d in CURRENCIES.items() if d == decimals]
        amount = {"type": "string", "pattern": _amount_pattern(decimals, _AMOUNT_DIGITS)}
        properties: dict = {"amount": amount}
        if shares:
            properties["shares"] = {"items": {"anyOf": [{"type": "null"}, _EMPTY, amount]}}
        rules.append(
            {
                "if": {"properties": {"currency": {"enum": codes}}, "required": ["currency"]},
                "then": {"properties": properties},
            }
        )
    return rules


_MOMENT = {"type": "string", "format": "date-time"}
_MOMENT_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
_CURRENCY = _enum(CURRENCIES)
_FUND_CODE = r"^[a-z0-9][a-z0-9-]*$"

# --- components -----------------------------------------------------------------------------


#: An ISO 3166-1 country code in any case, or empty (book/countries.py).
_COUNTRY_PATTERN = (
    "^(|" + "|".join(f"[{a}{a.lower()}][{b}{b.lower()}]" for a, b in sorted(COUNTRY_CODES)) + ")$"
)


def _choice_in(values) -> dict:
    """One of *values*; null or empty for the default."""
    return {"type": ["string", "null"], "enum": [*values, "", None]}


_DONOR_INPUT = {
    "kind": _choice_in(DONOR_KINDS),
    "name_en": _required_in(200),
    "name_km": _text_in(200),
    "city": _text_in(100),
    "region": _text_in(100),
    "country": {
        "type": ["string", "null"],
        "pattern": _COUNTRY_PATTERN,
        "description": "ISO 3166-1 alpha-2 code, e.g. US (any case); a code that names no "
        "country is refused. US and CA get their letters on US Letter, others on A4.",
    },
    "email": _EMAIL_IN,
    "postal_address": _text_in(
        1000,
        multiline=True,
        description="As on an envelope, at most 5 lines (blank lines do not count); printed "
        "for a window envelope.",
    ),
    "letter_language": _choice_in(LETTER_LANGUAGES),
    "public_display": _choice_in(DONOR_DISPLAY),
    "note": _text_in(5000, multiline=True),
    "paper": {
        **_choice_in(DONOR_PAPER),
        "description": "The paper of the donor's letters: auto (by country), a4 or letter.",
    },
}
_FUND_INPUT = {
    "code": {"type": "string", "minLength": 1, "maxLength": 40, "pattern": _FUND_CODE},
    "name_en": _required_in(120),
    "name_km": _text_in(120),
    "description": _text_in(2000, multiline=True),
    "description_km": _text_in(2000, multiline=True),
}
_FUND_ID_IN = {
    "oneOf": [_ID, {"type": "string", "minLength": 1, "maxLength": 40, "pattern": _FUND_CODE}],
    "description": "The fund's id, or its code.",
}


def _contribution_input() -> dict:
    return {
        "donor_ids": {
            "type": "array",
            "items": _ID,
            "minItems": 1,
            "maxItems": MAX_LIST_ITEMS,
            "uniqueItems": True,
            "description": "Several donors for a joint gift.",
        },
        "shares": {
            "type": ["array", "null"],
            "maxItems": MAX_LIST_ITEMS,
            "items": {"anyOf": [{"type": "null"}, _EMPTY, _AMOUNT_IN]},
            "description": "Each donor's share, in donor_ids' order (null or empty: unknown); "
            "known shares add up to the amount.",
        },
        "amount": _AMOUNT_IN,
        "currency": _CURRENCY,
        "exchange_rate": {
            **_RATE_OR_NONE,
            "description": "Base currency per unit of the gift's currency. Required (no "
            "default) unless the currency is the base currency; a missing one is a 422 naming "
            "it.",
        },
        "received_on": _day_in(),
        "received_by": _text_in(120),
        "occasion": _text_in(300),
        "occasion_km": _text_in(300),
        "purpose": _text_in(300),
        "purpose_km": _text_in(300),
        "method": _choice_in(METHODS),
        "in_kind_description": _text_in(
            2000,
            multiline=True,
            description="Required when method is in_kind; the amount is its value.",
        ),
        "fund_id": _FUND_ID_IN,
        "public_display": _choice_in(GIFT_DISPLAY),
        "note": _text_in(5000, multiline=True),
    }


def _expense_input() -> dict:
    return {
        "paid_on": _day_in(),
        "payee": _required_in(200),
        "amount": _AMOUNT_IN,
        "currency": _CURRENCY,
        "exchange_rate": _RATE_OR_NONE,
        "category": _enum(EXPENSE_CATEGORIES),
        "fund_id": _FUND_ID_IN,
        "description_en": _text_in(2000, multiline=True),
        "description_km": _text_in(2000, multiline=True),
    }


def _rules(base: str, *, shares: bool = False, in_kind: bool = False) -> dict:
    """What one field asks of another: a rate for a foreign currency and only 1 for the base
    currency, the currency's decimals, a description for a gift in kind."""
    rules = [
        {
            "if": {"properties": {"currency": {"not": {"const": base}}}, "required": ["currency"]},
            "then": {"required": ["exchange_rate"], "properties": {"exchange_rate": _RATE_IN}},
            "else": {
                "properties": {
                    "exchange_rate": {
                        "anyOf": [
                            {"type": "null"},
                            _EMPTY,
                            {"type": "string", "pattern": r"^0*1(\.0+)?$"},
                        ]
                    }
                }
            },
        },
        *_amounts_by_currency(shares=shares),
    ]
    if in_kind:
        rules.append(
            {
                "if": {"properties": {"method": {"const": "in_kind"}}, "required": ["method"]},
                "then": {
                    "required": ["in_kind_description"],
                    "properties": {"in_kind_description": _required_in(2000, multiline=True)},
                },
            }
        )
    return {"allOf": rules}


def _as_form_fields(properties: dict) -> dict:
    """*properties* as multipart form fields: strings, an empty one for none."""

    def one(schema: dict) -> dict:
        schema = {k: v for k, v in schema.items() if k not in ("type", "anyOf", "oneOf")}
        return {"type": "string", **schema}

    fields = {}
    for name, schema in properties.items():
        if "anyOf" in schema or "oneOf" in schema:
            choices = schema.get("anyOf") or schema.get("oneOf")
            strings = [one(c) for c in choices if c.get("type") not in ("null", "integer")]
            if any(c.get("type") == "integer" for c in choices):
                strings.append({"type": "string", "pattern": "^[0-9]{1,19}$"})
            fields[name] = {"anyOf": strings} if len(strings) > 1 else strings[0]
        elif "enum" in schema:
            fields[name] = {"type": "string", "enum": [v for v in schema["enum"] if v is not None]}
        else:
            fields[name] = one(schema)
    return fields


_VOIDING = {
    "voided": {"type": "boolean"},
    "void_reason": {"type": ["string", "null"]},
    "voided_at": _MOMENT_OR_NULL,
    "is_example": {"type": "boolean"},
    "created_at": _MOMENT_OR_NULL,
    "updated_at": _MOMENT_OR_NULL,
}
_ENTRY_MONEY = {
    "amount": {**_ref("Money"), "description": "As given, in its own currency."},
    "base_amount": {**_ref("Money"), "description": "In the base currency."},
    "exchange_rate": {
        "type": "string",
        "examples": ["1", "0.74"],
        "description": "Base currency per unit of the amount's currency.",
    },
}
_FUND_REF = _object(
    {"id": _ID, "code": {"type": "string"}, "name_en": {"type": "string"}, "name_km": _text()},
    ("id", "code", "name_en", "name_km"),
)
_SENT_VIA_API = ("post", "hand", "email")


def _schemas(base: str) -> dict:
    schemas: dict = {
        "Error": _object(
            {
                "error": {"type": "string", "description": "What went wrong, in a sentence."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "A message per field (or header) that must be corrected.",
                },
            },
            ("error", "fields"),
            closed=True,
        ),
        "Money": _object(
            {
                "amount": {
                    "type": "string",
                    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
                    "examples": ["400.00"],
                    "description": "The exact decimal, with the currency's decimals.",
                },
                "currency": _CURRENCY,
                "minor": {
                    "type": "integer",
                    "format": "int64",
                    "description": "Integer minor units (cents).",
                },
            },
            ("amount", "currency", "minor"),
            closed=True,
            description="An exact amount. The one money shape of this API.",
            examples=[{"amount": "400.00", "currency": "USD", "minor": 40000}],
        ),
        "DonorInput": _object(_DONOR_INPUT, ("name_en",), closed=True),
        "DonorPatch": _object(_DONOR_INPUT, closed=True),
        "Donor": _object(
            {
                "id": _ID,
                "kind": _enum(DONOR_KINDS),
                "name_en": {"type": "string"},
                "name_km": _text(),
                "city": _text(),
                "region": _text(),
                "country": _text(),
                "email": _text(),
                "postal_address": _text(),
                "letter_language": _enum(LETTER_LANGUAGES),
                "public_display": _enum(DONOR_DISPLAY),
                "note": _text(),
                "paper": _enum(DONOR_PAPER),
                "created_at": _MOMENT_OR_NULL,
            },
            ("id", "name_en"),
        ),
        "FundInput": _object(_FUND_INPUT, ("code", "name_en"), closed=True),
        "FundRef": _FUND_REF,
        "Fund": _object(
            {
                **_FUND_REF["properties"],
                "description": _text(),
                "description_km": _text(),
                "archived": {"type": "boolean"},
                "money_in": _ref("Money"),
                "money_out": _ref("Money"),
                "balance": _ref("Money"),
            },
            ("id", "code", "name_en", "archived", "money_in", "money_out", "balance"),
        ),
        "ContributionInput": _object(
            _contribution_input(),
            ("donor_ids", "amount", "currency", "received_on", "fund_id"),
            closed=True,
            **_rules(base, shares=True, in_kind=True),
        ),
        "Contribution": _object(
            {
                "id": _ID,
                "reference": {"type": "string", "examples": ["C-2014-0001"]},
                **_ENTRY_MONEY,
                "donors": {
                    "type": "array",
                    "items": _object(
                        {
                            "id": {
                                **_ID,
                                "description": "Only for roles that see donors' names as "
                                "recorded (treasurer, board, admin): an id would link the "
                                "gifts of an anonymous donor.",
                            },
                            "name_en": {
                                "type": "string",
                                "description": "As this caller may see the donor "
                                "(privacy.public_name).",
                            },
                            "name_km": _text(),
                            "share": _nullable(_ref("Money")),
                        },
                        ("name_en", "share"),
                    ),
                },
                "received_on": _DAY,
                "received_by": _text(),
                "occasion": _text(),
                "occasion_km": _text(),
                "purpose": _text(),
                "purpose_km": _text(),
                "method": _enum(METHODS),
                "in_kind_description": _text(),
                "fund": _ref("FundRef"),
                "public_display": _enum(GIFT_DISPLAY),
                "note": _text(),
                "thank_status": _enum(THANK_STATUSES),
                **_VOIDING,
            },
            (
                "id",
                "reference",
                "amount",
                "base_amount",
                "exchange_rate",
                "donors",
                "received_on",
                "fund",
                "thank_status",
                "voided",
            ),
        ),
        "ExpenseInput": _object(
            _expense_input(),
            ("paid_on", "payee", "amount", "currency", "category", "fund_id"),
            closed=True,
            **_rules(base),
        ),
        "ExpenseUpload": _object(
            {
                **_as_form_fields(_expense_input()),
                "receipt": {
                    "type": "string",
                    "contentMediaType": "application/octet-stream",
                    "description": "PDF, JPEG or PNG (checked by content), at most 10 MB.",
                },
            },
            ("paid_on", "payee", "amount", "currency", "category", "fund_id"),
            **_rules(base),
        ),
        "Expense": _object(
            {
                "id": _ID,
                "reference": {"type": "string", "examples": ["E-2014-0001"]},
                **_ENTRY_MONEY,
                "paid_on": _DAY,
                "payee": {"type": "string"},
                "category": _enum(EXPENSE_CATEGORIES),
                "fund": _ref("FundRef"),
                "description_en": _text(),
                "description_km": _text(),
                "receipt": _nullable(
                    _object(
                        {
                            "name": {"type": "string"},
                            "mime": {"type": "string"},
                            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                            "url": {"type": "string"},
                        },
                        ("name", "mime", "sha256", "url"),
                    )
                ),
                **_VOIDING,
            },
            (
                "id",
                "reference",
                "amount",
                "base_amount",
                "exchange_rate",
                "paid_on",
                "payee",
                "category",
                "fund",
                "receipt",
                "voided",
            ),
        ),
        "VoidInput": _object({"reason": _required_in(1000)}, ("reason",), closed=True),
        "LedgerEntry": _object(
            {
                "id": _ID,
                "date": _DAY,
                "direction": _enum(DIRECTIONS),
                "fund_id": _ID,
                "category": {"type": "string"},
                "label": {"type": "string"},
                "reference": _text(),
                "amount": {**_ref("Money"), "description": "Signed, in the base currency."},
                "original": {**_ref("Money"), "description": "As given, in its own currency."},
                "balance": {
                    **_ref("Money"),
                    "description": "Balance of the scope right after the entry.",
                },
                "voided": {"type": "boolean"},
                "void_reason": _text(),
                "contribution_id": _nullable(_ID),
                "expense_id": _nullable(_ID),
            },
            ("id", "date", "direction", "fund_id", "category", "label", "amount", "balance"),
        ),
        "LedgerPage": _object(
            {
                "items": {"type": "array", "items": _ref("LedgerEntry")},
                "next_cursor": {"type": ["string", "null"]},
                "balance_scope": _object({"fund_id": _nullable(_ID)}, ("fund_id",)),
            },
            ("items", "next_cursor", "balance_scope"),
        ),
        "Totals": _object(
            {"in": _ref("Money"), "out": _ref("Money"), "balance": _ref("Money")},
            ("in", "out", "balance"),
        ),
        "Balances": _object(
            {
                "funds": {
                    "type": "array",
                    "items": {
                        "allOf": [_ref("Totals")],
                        **_object(
                            {
                                "fund_id": _ID,
                                "code": {"type": "string"},
                                "name_en": {"type": "string"},
                                "name_km": _text(),
                            },
                            ("fund_id", "code", "name_en"),
                        ),
                    },
                },
                "total": _nullable(_ref("Totals")),
            },
            ("funds", "total"),
        ),
        "Letter": _object(
            {
                "number": {"type": "integer", "minimum": 1},
                "kind": _enum(LETTER_KINDS),
                "status": _enum(LETTER_STATUSES),
                "sent_via": _enum(STORED_SENT_VIA, null=True),
                "sent_at": _MOMENT_OR_NULL,
                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                "size": {"type": "integer", "minimum": 0},
                "language": _enum(LETTER_LANGUAGES),
                "paper": {**_enum(PAPERS), "description": "The paper it is laid out on"},
                "issued_on": _DAY,
                "contribution": _text(),
                "donor_id": _nullable(_ID),
                "year": {"type": ["integer", "null"]},
                "recipients": {
                    "type": "array",
                    "items": _object(
                        {"id": _ID, "name_en": {"type": "string"}, "name_km": _text()},
                        ("id",),
                    ),
                },
                "text_version": {"type": ["integer", "null"]},
                "generated_at": _MOMENT,
                "generated_by": _text(),
                "pdf_url": {"type": "string", "format": "uri"},
                "verify_code": {"type": ["string", "null"], "pattern": "^[0-9A-Z]{5}-[0-9A-Z]{5}$"},
                "verify_url": {"type": ["string", "null"], "format": "uri"},
            },
            ("number", "kind", "status", "sent_via", "sha256", "size", "issued_on", "pdf_url"),
        ),
        "GiftLetters": _object(
            {
                "contribution": {"type": "string"},
                "thank_status": _enum(THANK_STATUSES),
                "created": {
                    "type": "boolean",
                    "description": "Only on POST: true when this call generated the letters.",
                },
                "letters": {"type": "array", "items": _ref("Letter")},
            },
            ("contribution", "thank_status", "letters"),
        ),
        "LetterInput": _object(
            {
                "mode": {
                    **_enum(("joint", "each"), null=True),
                    "default": "joint",
                    "description": "A joint gift: one letter to all co-donors, or one each.",
                },
                "force": {
                    "type": ["boolean", "null"],
                    "default": False,
                    "description": "Generate new letters (new numbers) even if some exist.",
                },
            },
            closed=True,
        ),
        "LetterSentInput": _object(
            {
                "via": {
                    **_enum(_SENT_VIA_API),
                    "description": "post, hand (handed over) or email.",
                }
            },
            ("via",),
            closed=True,
        ),
    }
    for name in ("Donor", "Fund", "Contribution", "Expense"):
        schemas[name + "Page"] = _object(
            {
                "items": {"type": "array", "items": _ref(name)},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as ?cursor= for the next page; null on the last.",
                },
            },
            ("items", "next_cursor"),
        )
    return schemas


_ERRORS = {
    "400": "The body is not JSON, not an object, or a header is malformed.",
    "401": "No valid bearer token (the API reads no browser session).",
    "403": "The token's role may not do this.",
    "404": "Nothing with this id or number.",
    "409": "The entry's state does not allow it (e.g. already void, code taken).",
    "413": "The request is too large.",
    "415": "The body's Content-Type is not one this endpoint reads.",
    "422": "Some fields (or query parameters, or the Idempotency-Key) are not valid: a "
    "message per field in 'fields'.",
    "500": "The archived PDF is missing or altered.",
}
RESPONSES = {
    code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for code, text in _ERRORS.items()
}


def _param(name: str, description: str, schema: dict) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


def _parameters() -> dict:
    from ceroc_donations.ledger.service import categories

    # A query parameter sent empty is read as not sent (as HTML forms send them).
    id_or_empty = {"anyOf": [_ID, _EMPTY]}

    def choice(values) -> dict:
        return {"type": "string", "enum": [*values, ""]}

    def letters(word: str) -> str:
        return "".join(f"[{c.upper()}{c}]" for c in word)

    return {
        "q": _param(
            "q",
            f"Search text (names, references, descriptions); only its first {MAX_QUERY_TEXT} "
            "characters are used.",
            {"type": "string", "pattern": r"^[^\x00]*$"},
        ),
        "fund": _param("fund", "Only this fund's id.", id_or_empty),
        "from": _param("from", "On or after this day.", _DAY_OR_EMPTY),
        "to": _param("to", "On or before this day.", _DAY_OR_EMPTY),
        "void": _param(
            "void",
            "1 includes voided entries.",
            {
                "type": "string",
                "pattern": "^(|0|1|"
                + "|".join(letters(w) for w in ("true", "false", "yes", "no", "on", "off"))
                + ")$",
                "description": "Upper or lower case.",
            },
        ),
        "thanks": _param("thanks", "Only this thank-you status.", choice(THANK_STATUSES)),
        "category": _param("category", "Only this category.", choice(EXPENSE_CATEGORIES)),
        "donor": _param("donor", "Only gifts of this donor id.", id_or_empty),
        "ledger_category": _param(
            "category", "contribution, or an expense category.", choice(categories())
        ),
        "ledger_donor": _param(
            "donor",
            "Only this donor's gifts (admin, treasurer and board tokens only).",
            id_or_empty,
        ),
        "direction": _param("direction", "Money in or out.", choice(DIRECTIONS)),
        "ledger_fund": _param(
            "fund", "Only this fund's id; also the balance's scope.", id_or_empty
        ),
        "cursor": _param(
            "cursor",
            "next_cursor of the previous page.",
            {"type": "string", "maxLength": MAX_CURSOR, "pattern": "^[A-Za-z0-9_-]*$"},
        ),
        "limit": _param(
            "limit",
            f"Items per page, at most {MAX_LIMIT}.",
            {
                "anyOf": [
                    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    _EMPTY,
                ],
                "default": DEFAULT_LIMIT,
            },
        ),
        "Idempotency-Key": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Any unique text. Sending the same key with the same request again "
            "returns what the first one made (200) and makes nothing new; the same key with a "
            "different request is a 422. An empty key is no key.",
            "schema": {"type": "string", "maxLength": IDEMPOTENCY_KEY_MAX},
        },
    }


# --- operations -----------------------------------------------------------------------------


def _p(*names: str) -> list[dict]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _errors(*codes: str) -> dict:
    return {c: {"$ref": f"#/components/responses/{c}"} for c in codes}


def _ok(schema: str, code: str = "200", description: str = "OK", location: bool = False) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if location:
        response["headers"] = {
            "Location": {"description": "The new entry's address.", "schema": {"type": "string"}}
        }
    return {code: response}


def _json_body(schema: str, *, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": _ref(schema)}}}


def _path_id(name: str, description: str = "The id.") -> list[dict]:
    return [
        {"name": name, "in": "path", "required": True, "description": description, "schema": _ID}
    ]


_READ = _errors("401", "403", "422")
_READ_ONE = _errors("401", "403", "404")
_WRITE = _errors("400", "401", "403", "413", "415", "422")


def _list(tag: str, schema: str, params: list[dict]) -> dict:
    return {
        "get": {
            "tags": [tag],
            "summary": f"List {tag}",
            "operationId": f"list_{tag}",
            "parameters": params,
            "responses": {**_ok(schema + "Page"), **_READ},
        }
    }


def _get(tag: str, schema: str, id_name: str) -> dict:
    return {
        "get": {
            "tags": [tag],
            "summary": f"One {schema.lower()}",
            "operationId": f"get_{schema.lower()}",
            "parameters": _path_id(id_name),
            "responses": {**_ok(schema), **_READ_ONE},
        }
    }


def _create(tag: str, schema: str, *, body: dict | None = None, conflict: bool = False) -> dict:
    responses = {
        **_ok(schema, "201", "Created", location=True),
        **_ok(schema, "200", "Made already by a request with this Idempotency-Key"),
        **_WRITE,
    }
    if conflict:
        responses.update(_errors("409"))
    return {
        "tags": [tag],
        "summary": f"Create a {schema.lower()}",
        "operationId": f"create_{schema.lower()}",
        "parameters": _p("Idempotency-Key"),
        "requestBody": body or _json_body(schema + "Input"),
        "responses": responses,
    }


def _void(tag: str, schema: str, id_name: str) -> dict:
    return {
        "post": {
            "tags": [tag],
            "summary": f"Void a {schema.lower()}",
            "description": "The entry stays, struck through, out of every total.",
            "operationId": f"void_{schema.lower()}",
            "parameters": _path_id(id_name),
            "requestBody": _json_body("VoidInput"),
            "responses": {**_ok(schema), **_WRITE, **_errors("404", "409")},
        }
    }


def book_paths() -> dict:
    expense_body = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("ExpenseInput")},
            "multipart/form-data": {"schema": _ref("ExpenseUpload")},
        },
    }
    return {
        "/api/v1/donors": {
            **_list("donors", "Donor", _p("q", "cursor", "limit")),
            "post": _create("donors", "Donor"),
        },
        "/api/v1/donors/{donor_id}": {
            **_get("donors", "Donor", "donor_id"),
            "patch": {
                "tags": ["donors"],
                "summary": "Change some of a donor's fields",
                "operationId": "update_donor",
                "parameters": _path_id("donor_id"),
                "requestBody": _json_body("DonorPatch"),
                "responses": {**_ok("Donor"), **_WRITE, **_errors("404")},
            },
        },
        "/api/v1/funds": {
            **_list("funds", "Fund", []),
            "post": _create("funds", "Fund", conflict=True),
        },
        "/api/v1/funds/{fund_id}": _get("funds", "Fund", "fund_id"),
        "/api/v1/contributions": {
            **_list(
                "contributions",
                "Contribution",
                _p("q", "fund", "from", "to", "void", "thanks", "donor", "cursor", "limit"),
            ),
            "post": _create("contributions", "Contribution"),
        },
        "/api/v1/contributions/{cid}": _get("contributions", "Contribution", "cid"),
        "/api/v1/contributions/{cid}/void": _void("contributions", "Contribution", "cid"),
        "/api/v1/expenses": {
            **_list(
                "expenses",
                "Expense",
                _p("q", "fund", "from", "to", "void", "category", "cursor", "limit"),
            ),
            "post": _create("expenses", "Expense", body=expense_body),
        },
        "/api/v1/expenses/{eid}": _get("expenses", "Expense", "eid"),
        "/api/v1/expenses/{eid}/void": _void("expenses", "Expense", "eid"),
    }


def ledger_paths() -> dict:
    """``/api/v1/ledger`` and ``/api/v1/balances``."""
    return {
        "/api/v1/ledger": {
            "get": {
                "tags": ["ledger"],
                "summary": "Ledger entries, newest first, with the running balance",
                "description": (
                    "Every contribution and expense (voided ones with void=1), ordered by date "
                    "then id, newest first. `balance` is the balance of the fund in `fund` (or "
                    "of all funds) right after the entry; category, direction and donor filters "
                    "hide entries without changing what the balance means. Members' tokens see "
                    "donors as they asked to be shown and cannot filter by donor."
                ),
                "operationId": "list_ledger",
                "parameters": _p(
                    "from",
                    "to",
                    "ledger_fund",
                    "ledger_category",
                    "ledger_donor",
                    "direction",
                    "void",
                    "cursor",
                    "limit",
                ),
                "responses": {**_ok("LedgerPage"), **_READ},
            }
        },
        "/api/v1/balances": {
            "get": {
                "tags": ["ledger"],
                "summary": "Money in, out and balance per fund, and in total",
                "operationId": "balances",
                "responses": {**_ok("Balances"), **_errors("401", "403")},
            }
        },
    }


def letters_paths() -> dict:
    """The letters endpoints."""
    number = [
        {
            "name": "number",
            "in": "path",
            "required": True,
            "description": "The letter's number.",
            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        }
    ]
    cid = _path_id("cid", "The contribution's id.")
    return {
        "/api/v1/contributions/{cid}/letter": {
            "post": {
                "tags": ["letters"],
                "summary": "Generate the gift's thank-you letter, or return the archived one",
                "description": "Board or admin token. Numbers are sequential without gaps. "
                "An existing letter is returned (200) unless force is true.",
                "operationId": "generate_letter",
                "parameters": [*cid, *_p("Idempotency-Key")],
                "requestBody": _json_body("LetterInput", required=False),
                "responses": {
                    **_ok("GiftLetters", "201", "Generated"),
                    **_ok(
                        "GiftLetters",
                        "200",
                        "Archived already, or made by a request with this Idempotency-Key",
                    ),
                    **_WRITE,
                    **_errors("404", "409"),
                },
            },
            "get": {
                "tags": ["letters"],
                "summary": "The gift's archived letters",
                "description": "Board, admin or treasurer token.",
                "operationId": "gift_letters",
                "parameters": cid,
                "responses": {**_ok("GiftLetters"), **_READ_ONE},
            },
        },
        "/api/v1/letters/{number}": {
            "get": {
                "tags": ["letters"],
                "summary": "One archived letter",
                "description": "Board, admin or treasurer token.",
                "operationId": "get_letter",
                "parameters": number,
                "responses": {**_ok("Letter"), **_READ_ONE},
            }
        },
        "/api/v1/letters/{number}/sent": {
            "post": {
                "tags": ["letters"],
                "summary": "Record that the letter was sent (post, hand or email)",
                "description": "Board or admin token. Marks the letter sent and, for a "
                "thank-you letter, its gift thanked. Sending the same `via` again for a letter "
                "already sent changes nothing and answers 200; a letter already recorded as "
                "sent another way is a 409.",
                "operationId": "letter_sent",
                "parameters": number,
                "requestBody": _json_body("LetterSentInput"),
                "responses": {**_ok("Letter"), **_WRITE, **_errors("404", "409")},
            }
        },
        "/api/v1/letters/{number}.pdf": {
            "get": {
                "tags": ["letters"],
                "summary": "The archived PDF, byte for byte (ETag: its SHA-256)",
                "description": "Board, admin or treasurer token.",
                "operationId": "letter_pdf",
                "parameters": number,
                "responses": {
                    "200": {
                        "description": "PDF/A",
                        "content": {"application/pdf": {"schema": {"type": "string"}}},
                    },
                    **_errors("401", "403", "404", "500"),
                },
            }
        },
    }


_ERROR = {"$ref": "#/components/schemas/Error"}


def _inline_errors(*codes: int) -> dict:
    text = {
        400: "Bad request",
        401: "No valid token",
        403: "Role may not do this",
        404: "Not found",
        409: "Void or 'do not acknowledge'",
        422: "Invalid input",
        500: "Archived PDF missing or altered",
    }
    return {
        str(c): {"description": text[c], "content": {"application/json": {"schema": _ERROR}}}
        for c in codes
    }


_BATCH = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string", "format": "uri"},
        "status": {"enum": ["queued", "running", "done", "failed"]},
        "mode": {"enum": ["joint", "each"]},
        "paper": {"enum": ["auto", *PAPERS]},
        "total": {"type": "integer", "description": "Gifts in the batch"},
        "done": {"type": "integer", "description": "Gifts whose letters are made"},
        "eta_seconds": {"type": ["integer", "null"]},
        "error": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
        "letters": {"type": "array", "items": {"type": "integer"}, "description": "Numbers"},
        "pdf_url": {"type": ["string", "null"], "format": "uri"},
        "zip_url": {"type": ["string", "null"], "format": "uri"},
    },
}


def letter_batches_paths() -> dict:
    """OpenAPI path items of the letter-batch API."""
    batch_id = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "integer"}}

    def download(mimetype: str, summary: str) -> dict:
        return {
            "get": {
                "summary": summary,
                "tags": ["letters"],
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The file",
                        "content": {mimetype: {"schema": {"type": "string", "format": "binary"}}},
                    },
                    **_inline_errors(401, 403, 404, 500),
                    "409": {
                        "description": "The batch is not finished",
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                },
            }
        }

    return {
        "/api/v1/letter-batches": {
            "post": {
                "summary": "Queue the letters of many gifts as one batch (a background job)",
                "description": "Board or admin token. Answers at once with 202 and the batch's "
                "URL in Location; poll it for progress.",
                "tags": ["letters"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "contribution_ids": {
                                        "type": "array",
                                        "items": {"type": "integer"},
                                    },
                                    "all_unthanked": {
                                        "type": "boolean",
                                        "description": "Every gift waiting for a letter",
                                    },
                                    "mode": {"enum": ["joint", "each"], "default": "joint"},
                                    "paper": {
                                        "enum": ["auto", *PAPERS],
                                        "default": "auto",
                                        "description": "auto: each letter on its donor's "
                                        "paper (US Letter for the United States and Canada, "
                                        "A4 elsewhere, unless the donor chose); a4 or letter: "
                                        "every new letter of the batch on that paper.",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "202": {
                        "description": "Queued",
                        "headers": {
                            "Location": {
                                "description": "The batch's URL",
                                "schema": {"type": "string", "format": "uri"},
                            }
                        },
                        "content": {"application/json": {"schema": _BATCH}},
                    },
                    **_inline_errors(400, 401, 403, 422),
                },
            }
        },
        "/api/v1/letter-batches/{batch_id}": {
            "get": {
                "summary": "A batch's status and progress; links to its PDF and ZIP when done",
                "tags": ["letters"],
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The batch",
                        "content": {"application/json": {"schema": _BATCH}},
                    },
                    **_inline_errors(401, 403, 404),
                },
            }
        },
        "/api/v1/letter-batches/{batch_id}.pdf": download(
            "application/pdf", "The batch's letters as one print-ready PDF"
        ),
        "/api/v1/letter-batches/{batch_id}.zip": download(
            "application/zip", "The batch's letters as a ZIP of single PDFs"
        ),
    }


def build_spec() -> dict:
    """The whole document."""
    base = current_app.config["BASE_CURRENCY"] if has_app_context() else "USD"
    paths = {
        "/api/v1/openapi.json": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        **book_paths(),
        **ledger_paths(),
        **letters_paths(),
        **letter_batches_paths(),
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "CEROC Donations API",
            "version": "1",
            "description": "The treasurer's book (donors, funds, contributions, expenses), "
            "the ledger and the thank-you letters. Every call but this document needs "
            "'Authorization: Bearer <token>' (browser sessions are not read): reads any "
            "role's token, book writes a treasurer's or an admin's, generating letters and "
            "marking them sent a board member's or an admin's. Money is always "
            '{"amount": "400.00", "currency": "USD", "minor": 40000}; amounts are sent as '
            f"decimal strings. Base currency: {base}. Every create call honours "
            "Idempotency-Key. Errors are "
            '{"error": "...", "fields": {"name": "message"}}.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": t}
            for t in ("donors", "funds", "contributions", "expenses", "ledger", "letters", "meta")
        ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `flask --app ceroc_donations create-token EMAIL` "
                    "or the token page.",
                }
            },
            "schemas": _schemas(base),
            "parameters": _parameters(),
            "responses": RESPONSES,
        },
    }
