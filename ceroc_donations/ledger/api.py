"""JSON API for the ledger: ``GET /api/v1/ledger`` and ``GET /api/v1/balances``.

Any member's token (capability ``read``). Both are described in
:mod:`ceroc_donations.openapi`.
"""

from __future__ import annotations

from flask import jsonify

from ceroc_donations import filters
from ceroc_donations.apiutil import api_blueprint, caller, money_json, query, token_required
from ceroc_donations.book import queries
from ceroc_donations.ledger import service as ledger
from ceroc_donations.ledger.views import names_for, visible_filter

bp = api_blueprint("api_ledger", __name__)


def _row(r: ledger.LedgerRow) -> dict:
    return {
        "id": r.id,
        "date": r.entry_on.isoformat(),
        "direction": r.direction,
        "fund_id": r.fund_id,
        "category": r.category,
        "label": r.label,
        "reference": r.reference,
        "amount": money_json(r.signed_base),
        "original": money_json(r.amount),
        "balance": money_json(r.balance),
        "voided": r.voided,
        "void_reason": r.void_reason,
        "contribution_id": r.contribution_id,
        "expense_id": r.expense_id,
    }


@bp.get("/ledger")
@token_required("read")
def ledger_list():
    names = names_for(caller())
    args = query()
    f = visible_filter(filters.ledger_filter(args), names)
    cursor, limit = args.cursor(), args.limit()
    args.check()
    page = ledger.ledger_page(f, cursor, limit, names=names)
    return jsonify(
        {
            "items": [_row(r) for r in page.rows],
            "next_cursor": page.next_cursor,
            "balance_scope": {"fund_id": f.fund_id},
        }
    )


def _totals(b: queries.FundBalance) -> dict:
    return {
        "in": money_json(b.money_in),
        "out": money_json(b.money_out),
        "balance": money_json(b.balance),
    }


@bp.get("/balances")
@token_required("read")
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
                    **_totals(b),
                }
                for b in rows
            ],
            "total": _totals(total) if total else None,
        }
    )
