"""The OpenAPI 3 description of ``/api/v1/``, built as a plain dict.

tests/test_api.py checks that every ``/api/v1/`` route is here with its methods and nothing
else is, and validates the document, so it cannot drift from :mod:`.views.api`.
"""

from __future__ import annotations

from ceroc_donations.book.models import (
    DONOR_DISPLAY,
    DONOR_KINDS,
    EXPENSE_CATEGORIES,
    GIFT_DISPLAY,
    LETTER_LANGUAGES,
    METHODS,
    THANK_STATUSES,
)
from ceroc_donations.money import CURRENCIES

MAX_LIMIT = 200


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(max_len: int | None = None, **extra) -> dict:
    schema: dict = {"type": "string", "nullable": True, **extra}
    if max_len:
        schema["maxLength"] = max_len
    return schema


def _enum(values) -> dict:
    return {"type": "string", "enum": list(values)}


_AMOUNT = {
    "type": "string",
    "pattern": r"^[0-9][0-9,]*(\.[0-9]+)?$",
    "example": "400.00",
    "description": "A decimal string; numbers (floats) are refused.",
}
_DAY = {"type": "string", "format": "date", "example": "2014-06-15"}
_MOMENT = {"type": "string", "format": "date-time", "nullable": True}
_FUND_REF = {
    "type": "object",
    "required": ["id", "code", "name_en"],
    "properties": {
        "id": {"type": "integer"},
        "code": {"type": "string"},
        "name_en": {"type": "string"},
        "name_km": _text(),
    },
}
_MONEY = {
    "amount": _AMOUNT,
    "currency": _enum(CURRENCIES),
    "amount_minor": {"type": "integer"},
    "base_amount": _AMOUNT,
    "base_currency": _enum(CURRENCIES),
    "base_amount_minor": {"type": "integer"},
    "exchange_rate": {"type": "string", "example": "1"},
}
_VOIDING = {
    "voided": {"type": "boolean"},
    "void_reason": _text(),
    "voided_at": _MOMENT,
    "is_example": {"type": "boolean"},
    "created_at": _MOMENT,
    "updated_at": _MOMENT,
}

_DONOR_INPUT = {
    "kind": _enum(DONOR_KINDS),
    "name_en": _text(200),
    "name_km": _text(200),
    "city": _text(100),
    "region": _text(100),
    "country": _text(2, description="Two-letter country code, e.g. US."),
    "email": _text(254, format="email"),
    "postal_address": _text(1000),
    "letter_language": _enum(LETTER_LANGUAGES),
    "public_display": _enum(DONOR_DISPLAY),
    "note": _text(5000),
}
_FUND_INPUT = {
    "code": _text(40, pattern="^[a-z0-9][a-z0-9-]*$"),
    "name_en": _text(120),
    "name_km": _text(120),
    "description": _text(2000),
}
_FUND_ID = {
    "oneOf": [{"type": "integer"}, {"type": "string"}],
    "description": "The fund's id, or its code.",
}
_CONTRIBUTION_INPUT = {
    "donor_ids": {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 1,
        "maxItems": 100,
        "description": "Several donors for a joint gift.",
    },
    "shares": {
        "type": "array",
        "maxItems": 100,
        "items": {**_AMOUNT, "nullable": True},
        "description": "Each donor's share, in donor_ids' order (null: unknown).",
    },
    "amount": _AMOUNT,
    "currency": _enum(CURRENCIES),
    "exchange_rate": {
        **_AMOUNT,
        "example": "0.7312",
        "description": "Base currency per unit of the gift's currency. Required (no default) "
        "unless the currency is the base currency; a missing one is a 422 naming it.",
    },
    "received_on": _DAY,
    "received_by": _text(120),
    "occasion": _text(300),
    "purpose": _text(300),
    "method": _enum(METHODS),
    "in_kind_description": _text(2000),
    "fund_id": _FUND_ID,
    "public_display": _enum(GIFT_DISPLAY),
    "note": _text(5000),
}
_EXPENSE_INPUT = {
    "paid_on": _DAY,
    "payee": _text(200),
    "amount": _AMOUNT,
    "currency": _enum(CURRENCIES),
    "exchange_rate": {
        **_AMOUNT,
        "example": "0.7312",
        "description": "Required unless the currency is the base currency.",
    },
    "category": _enum(EXPENSE_CATEGORIES),
    "fund_id": _FUND_ID,
    "description_en": _text(2000),
    "description_km": _text(2000),
}

SCHEMAS: dict = {
    "Error": {
        "type": "object",
        "required": ["error", "fields"],
        "properties": {
            "error": {"type": "string"},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "A message per field that must be corrected.",
            },
        },
    },
    "DonorInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name_en"],
        "properties": _DONOR_INPUT,
    },
    "DonorPatch": {"type": "object", "additionalProperties": False, "properties": _DONOR_INPUT},
    "Donor": {
        "type": "object",
        "required": ["id", "name_en"],
        "properties": {"id": {"type": "integer"}, **_DONOR_INPUT, "created_at": _MOMENT},
    },
    "FundInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["code", "name_en"],
        "properties": _FUND_INPUT,
    },
    "Fund": {
        "type": "object",
        "required": ["id", "code", "name_en"],
        "properties": {
            "id": {"type": "integer"},
            **_FUND_INPUT,
            "archived": {"type": "boolean"},
            "currency": _enum(CURRENCIES),
            "money_in": _AMOUNT,
            "money_out": _AMOUNT,
            "balance": {"type": "string", "example": "-12.50"},
        },
    },
    "ContributionInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["donor_ids", "amount", "currency", "received_on", "fund_id"],
        "properties": _CONTRIBUTION_INPUT,
    },
    "Contribution": {
        "type": "object",
        "required": ["id", "reference", "amount", "currency"],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string", "example": "C-2014-0001"},
            **_MONEY,
            "donors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "name_en": {"type": "string"},
                        "name_km": _text(),
                        "share": {**_AMOUNT, "nullable": True},
                        "share_minor": {"type": "integer", "nullable": True},
                    },
                },
            },
            "received_on": _DAY,
            "received_by": _text(),
            "occasion": _text(),
            "purpose": _text(),
            "method": _enum(METHODS),
            "in_kind_description": _text(),
            "fund": _FUND_REF,
            "public_display": _enum(GIFT_DISPLAY),
            "note": _text(),
            "thank_status": _enum(THANK_STATUSES),
            **_VOIDING,
        },
    },
    "ExpenseInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["paid_on", "payee", "amount", "currency", "category", "fund_id"],
        "properties": _EXPENSE_INPUT,
    },
    "ExpenseUpload": {
        "type": "object",
        "required": ["paid_on", "payee", "amount", "currency", "category", "fund_id"],
        "properties": {
            **{k: {"type": "string"} for k in _EXPENSE_INPUT},
            "receipt": {
                "type": "string",
                "format": "binary",
                "description": "PDF, JPEG or PNG (checked by content), at most 10 MB.",
            },
        },
    },
    "Expense": {
        "type": "object",
        "required": ["id", "reference", "amount", "currency"],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string", "example": "E-2014-0001"},
            **_MONEY,
            "paid_on": _DAY,
            "payee": {"type": "string"},
            "category": _enum(EXPENSE_CATEGORIES),
            "fund": _FUND_REF,
            "description_en": _text(),
            "description_km": _text(),
            "receipt": {
                "type": "object",
                "nullable": True,
                "properties": {
                    "name": {"type": "string"},
                    "mime": {"type": "string"},
                    "sha256": {"type": "string"},
                    "url": {"type": "string"},
                },
            },
            **_VOIDING,
        },
    },
    "VoidInput": {
        "type": "object",
        "additionalProperties": False,
        "required": ["reason"],
        "properties": {"reason": _text(1000)},
    },
}
for _name in ("Donor", "Fund", "Contribution", "Expense"):
    SCHEMAS[_name + "Page"] = {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": _ref(_name)},
            "next_cursor": {
                "type": "string",
                "nullable": True,
                "description": "Pass as ?cursor= for the next page.",
            },
        },
    }

_ERRORS = {
    "400": "The body is not JSON, not an object, or a header is malformed.",
    "401": "No valid bearer token (writes accept no browser session).",
    "403": "The token's role may not do this.",
    "404": "Nothing with this id.",
    "409": "The entry's state does not allow it (e.g. already void, code taken).",
    "413": "The request is too large.",
    "415": "The body's Content-Type is not one this endpoint reads.",
    "422": "Some fields are not valid: a message per field in 'fields'.",
}
RESPONSES = {
    code: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
    for code, text in _ERRORS.items()
}


def _param(name: str, description: str, schema: dict | None = None) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


PARAMETERS = {
    "q": _param(
        "q", "Search text (names, references, descriptions).", {"type": "string", "maxLength": 100}
    ),
    "fund": _param("fund", "Only this fund's id.", {"type": "integer"}),
    "from": _param("from", "On or after this day.", {"type": "string", "format": "date"}),
    "to": _param("to", "On or before this day.", {"type": "string", "format": "date"}),
    "void": _param("void", "1 includes voided entries.", _enum(("0", "1", "true", "false"))),
    "thanks": _param("thanks", "Only this thank-you status.", _enum(THANK_STATUSES)),
    "category": _param("category", "Only this category.", _enum(EXPENSE_CATEGORIES)),
    "donor": _param("donor", "Only gifts of this donor id.", {"type": "integer"}),
    "cursor": _param("cursor", "next_cursor of the previous page."),
    "limit": _param(
        "limit",
        f"Items per page, at most {MAX_LIMIT}.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
    ),
    "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Sending the same key again returns the entry made the first time "
        "(200) and records nothing new.",
        "schema": {"type": "string", "maxLength": 64},
    },
}


def _p(*names: str) -> list[dict]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _errors(*codes: str) -> dict:
    return {c: {"$ref": f"#/components/responses/{c}"} for c in codes}


def _ok(schema: str, code: str = "200", description: str = "OK", headers: bool = False) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema)}},
    }
    if headers:
        response["headers"] = {
            "Location": {"description": "The new entry's address.", "schema": {"type": "string"}}
        }
    return {code: response}


def _json_body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


def _id_param(name: str) -> list[dict]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}]


_READ = _errors("401", "403")
_READ_ONE = _errors("401", "403", "404")
_WRITE = _errors("400", "401", "403", "413", "415", "422")


def _list(tag: str, schema: str, params: list[dict]) -> dict:
    return {
        "get": {
            "tags": [tag],
            "summary": f"List {tag}",
            "operationId": f"list_{tag}",
            "parameters": params,
            "responses": {**_ok(schema + "Page"), **_READ, **_errors("422")},
        }
    }


def _get(tag: str, schema: str, id_name: str) -> dict:
    return {
        "get": {
            "tags": [tag],
            "summary": f"One {schema.lower()}",
            "operationId": f"get_{schema.lower()}",
            "parameters": _id_param(id_name),
            "responses": {**_ok(schema), **_READ_ONE},
        }
    }


def _create(tag: str, schema: str, *, idempotent: bool, body: dict | None = None) -> dict:
    responses = {**_ok(schema, "201", "Created", headers=True), **_WRITE}
    if idempotent:
        responses.update(_ok(schema, "200", "Already created with this Idempotency-Key"))
    if tag == "funds":
        responses.update(_errors("409"))
    return {
        "tags": [tag],
        "summary": f"Create a {schema.lower()}",
        "operationId": f"create_{schema.lower()}",
        "parameters": _p("Idempotency-Key") if idempotent else [],
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
            "parameters": _id_param(id_name),
            "requestBody": _json_body("VoidInput"),
            "responses": {**_ok(schema), **_WRITE, **_errors("404", "409")},
        }
    }


def _extra_paths() -> list[dict]:
    """Path items described next to the blueprints that serve them."""
    from ceroc_donations.ledger.api import ledger_openapi_paths
    from ceroc_donations.letters.api import letters_openapi_paths

    return [_as_openapi_30(ledger_openapi_paths()), _as_openapi_30(letters_openapi_paths())]


def _as_openapi_30(node):
    """Turn OpenAPI 3.1 schema spellings (``type: [x, "null"]``, ``examples``) into 3.0's."""
    if isinstance(node, list):
        return [_as_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            out["type"] = kinds[0]
            if "null" in value:
                out["nullable"] = True
        elif key == "examples" and isinstance(value, list) and "type" in node:
            out["example"] = value[0]
        else:
            out[key] = _as_openapi_30(value)
    return out


def build_spec() -> dict:
    """The whole document."""
    expense_body = {
        "required": True,
        "content": {
            "application/json": {"schema": _ref("ExpenseInput")},
            "multipart/form-data": {"schema": _ref("ExpenseUpload")},
        },
    }
    paths = {
        "/api/v1/openapi.json": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "operationId": "openapi",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3 document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/v1/donors": {
            **_list("donors", "Donor", _p("q", "cursor", "limit")),
            "post": _create("donors", "Donor", idempotent=False),
        },
        "/api/v1/donors/{donor_id}": {
            **_get("donors", "Donor", "donor_id"),
            "patch": {
                "tags": ["donors"],
                "summary": "Change some of a donor's fields",
                "operationId": "update_donor",
                "parameters": _id_param("donor_id"),
                "requestBody": _json_body("DonorPatch"),
                "responses": {**_ok("Donor"), **_WRITE, **_errors("404")},
            },
        },
        "/api/v1/funds": {
            **_list("funds", "Fund", []),
            "post": _create("funds", "Fund", idempotent=False),
        },
        "/api/v1/funds/{fund_id}": _get("funds", "Fund", "fund_id"),
        "/api/v1/contributions": {
            **_list(
                "contributions",
                "Contribution",
                _p("q", "fund", "from", "to", "void", "thanks", "donor", "cursor", "limit"),
            ),
            "post": _create("contributions", "Contribution", idempotent=True),
        },
        "/api/v1/contributions/{cid}": _get("contributions", "Contribution", "cid"),
        "/api/v1/contributions/{cid}/void": _void("contributions", "Contribution", "cid"),
        "/api/v1/expenses": {
            **_list(
                "expenses",
                "Expense",
                _p("q", "fund", "from", "to", "void", "category", "cursor", "limit"),
            ),
            "post": _create("expenses", "Expense", idempotent=True, body=expense_body),
        },
        "/api/v1/expenses/{eid}": _get("expenses", "Expense", "eid"),
        "/api/v1/expenses/{eid}/void": _void("expenses", "Expense", "eid"),
    }
    for extra in _extra_paths():
        paths.update(extra)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "CEROC Donations API",
            "version": "1",
            "description": "The treasurer's book: donors, funds, contributions and "
            "expenses. Amounts are decimal strings with a currency; "
            "reads need any role, writes need a treasurer's or an "
            "admin's bearer token.",
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
                    "or the admin's token page.",
                }
            },
            "schemas": SCHEMAS,
            "parameters": PARAMETERS,
            "responses": RESPONSES,
        },
    }
