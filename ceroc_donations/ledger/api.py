"""JSON API for the ledger: ``GET /api/v1/ledger`` and ``GET /api/v1/balances``.

Any member's token (capability ``read``). :func:`ledger_openapi_paths` describes both
paths for the OpenAPI document served by ``views/api.py``.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from ceroc_donations.book import queries
from ceroc_donations.book.inputs import Invalid
from ceroc_donations.ledger import service as ledger
from ceroc_donations.ledger.views import names_for, visible_filter
from ceroc_donations.money import Money
from ceroc_donations.security import api_error, api_requires, api_user

bp = Blueprint("api_ledger", __name__, url_prefix="/api/v1")


def _money(m: Money) -> dict:
    """Amounts as strings of the exact decimal, with integer minor units beside them."""
    return {"amount": format(m.amount, "f"), "minor": m.minor, "currency": m.currency}


def _row(r: ledger.LedgerRow) -> dict:
    return {
        "id": r.id,
        "date": r.entry_on.isoformat(),
        "direction": r.direction,
        "fund_id": r.fund_id,
        "category": r.category,
        "label": r.label,
        "reference": r.reference,
        "amount": _money(r.signed_base),
        "original": _money(r.amount),
        "balance": _money(r.balance),
        "voided": r.voided,
        "void_reason": r.void_reason,
        "contribution_id": r.contribution_id,
        "expense_id": r.expense_id,
    }


@bp.get("/ledger")
@api_requires("read")
def ledger_list():
    names = names_for(api_user())
    errors: dict[str, str] = {}
    f, after, limit = ledger.LedgerFilter(), None, 50
    try:
        f = visible_filter(ledger.parse_filter(request.args), names)
    except Invalid as exc:
        errors.update(exc.fields)
    try:
        after = ledger.parse_cursor(request.args.get("cursor"))
    except Invalid as exc:
        errors.update(exc.fields)
    try:
        limit = ledger.parse_limit(request.args.get("limit"))
    except Invalid as exc:
        errors.update(exc.fields)
    if errors:
        return api_error(422, "Some query parameters are not valid.", errors)
    page = ledger.ledger_page(f, after, limit, names=names)
    return jsonify(
        {
            "items": [_row(r) for r in page.rows],
            "next_cursor": page.next_cursor,
            "balance_scope": {"fund_id": f.fund_id},
        }
    )


@bp.get("/balances")
@api_requires("read")
def balances():
    rows = queries.fund_balances()
    total = queries.totals(rows)
    return jsonify(
        {
            "funds": [
                {
                    "fund_id": b.fund.id,
                    "code": b.fund.code,
                    "name_en": b.fund.name_en,
                    "name_km": b.fund.name_km,
                    "in": _money(b.money_in),
                    "out": _money(b.money_out),
                    "balance": _money(b.balance),
                }
                for b in rows
            ],
            "total": (
                {
                    "in": _money(total.money_in),
                    "out": _money(total.money_out),
                    "balance": _money(total.balance),
                }
                if total
                else None
            ),
        }
    )


def ledger_openapi_paths() -> dict:
    """OpenAPI 3.1 path items for ``/api/v1/ledger`` and ``/api/v1/balances``, schemas
    inlined, to merge into the ``paths`` of ``/api/v1/openapi.json`` (security scheme
    ``bearerAuth``)."""
    date = {"type": "string", "format": "date"}
    money = {
        "type": "object",
        "required": ["amount", "minor", "currency"],
        "properties": {
            "amount": {"type": "string", "description": "Exact decimal", "examples": ["400.00"]},
            "minor": {"type": "integer", "description": "Integer minor units (cents)"},
            "currency": {"type": "string", "minLength": 3, "maxLength": 3},
        },
    }
    error = {
        "description": "Error",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "error": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    },
                }
            }
        },
    }
    entry = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "date": date,
            "direction": {"type": "string", "enum": ["in", "out"]},
            "fund_id": {"type": "integer"},
            "category": {"type": "string"},
            "label": {"type": "string"},
            "reference": {"type": ["string", "null"]},
            "amount": {**money, "description": "Signed, in the base currency"},
            "original": {**money, "description": "As given, in its own currency"},
            "balance": {**money, "description": "Balance of the scope right after the entry"},
            "voided": {"type": "boolean"},
            "void_reason": {"type": ["string", "null"]},
            "contribution_id": {"type": ["integer", "null"]},
            "expense_id": {"type": ["integer", "null"]},
        },
    }

    def param(name: str, description: str, schema: dict) -> dict:
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "/api/v1/ledger": {
            "get": {
                "summary": "Ledger entries, newest first, with the running balance",
                "description": (
                    "Every contribution and expense (voided ones with void=1), ordered by date "
                    "then id, newest first. `balance` is the balance of the fund in `fund` (or "
                    "of all funds) right after the entry; category, direction and donor filters "
                    "hide entries without changing what the balance means. Members' tokens see "
                    "donors as they asked to be shown and cannot filter by donor."
                ),
                "security": [{"bearerAuth": []}],
                "parameters": [
                    param("from", "First day (inclusive)", date),
                    param("to", "Last day (inclusive)", date),
                    param("fund", "Fund id; also the balance scope", {"type": "integer"}),
                    param(
                        "category",
                        "contribution or an expense category",
                        {"type": "string", "enum": ledger.categories()},
                    ),
                    param("donor", "Donor id (admin, treasurer, board only)", {"type": "integer"}),
                    param("direction", "in or out", {"type": "string", "enum": ["in", "out"]}),
                    param(
                        "void",
                        "1 to include voided entries",
                        {"type": "string", "enum": ["0", "1"]},
                    ),
                    param("cursor", "next_cursor of the previous page", {"type": "string"}),
                    param(
                        "limit",
                        "Entries per page",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": ledger.MAX_LIMIT,
                            "default": 50,
                        },
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of entries",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["items", "next_cursor"],
                                    "properties": {
                                        "items": {"type": "array", "items": entry},
                                        "next_cursor": {"type": ["string", "null"]},
                                        "balance_scope": {
                                            "type": "object",
                                            "properties": {
                                                "fund_id": {"type": ["integer", "null"]}
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "401": error,
                    "403": error,
                    "422": error,
                },
            }
        },
        "/api/v1/balances": {
            "get": {
                "summary": "Money in, out and balance per fund, and in total",
                "security": [{"bearerAuth": []}],
                "responses": {
                    "200": {
                        "description": "Balances",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "funds": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "fund_id": {"type": "integer"},
                                                    "code": {"type": "string"},
                                                    "name_en": {"type": "string"},
                                                    "name_km": {"type": ["string", "null"]},
                                                    "in": money,
                                                    "out": money,
                                                    "balance": money,
                                                },
                                            },
                                        },
                                        "total": {
                                            "type": ["object", "null"],
                                            "properties": {
                                                "in": money,
                                                "out": money,
                                                "balance": money,
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "401": error,
                    "403": error,
                },
            }
        },
    }
