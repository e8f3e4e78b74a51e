"""Schemathesis against ``/api/v1/openapi.json`` on a live server: generated requests, valid
and invalid, for every operation. No answer may be a server error or differ from the document
(status, content type, headers, body schema); a request the schema allows must be accepted
and one it forbids refused.

The only refusals of schema-valid requests let through are those JSON Schema cannot say: a
fund or donor that does not exist, a page cursor the server did not sign, an Idempotency-Key
already used for another body, a sum or product of two fields (see
:func:`accepted_or_unknowable`). The only schema-violating requests let through are text the
API trims before reading (see :func:`refused_unless_spaces`). Letters are a board member's
work: with the treasurer's token their operations answer 403, as documented.
"""

from __future__ import annotations

import json
import threading

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CheckContext
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from werkzeug.serving import make_server

from ceroc_donations.extensions import db
from ceroc_donations.openapi import build_spec

pytestmark = [pytest.mark.slow, pytest.mark.own_database]

#: Examples per operation and phase: enough to reach every rule of the schema, bounded so the
#: whole run stays within a couple of minutes on two cores.
MAX_EXAMPLES = 25

#: Refusals of schema-valid requests that JSON Schema cannot foresee: field -> a part of the
#: message (None: any message). Rows that do not exist, a cursor the server did not sign, a key
#: used before, file contents, and sums or products of two fields.
UNKNOWABLE = {
    "fund_id": None,  # no such fund, or archived
    "fund": "no such fund",  # the same, as a list's filter
    "to": "before the start date",  # from and to in the wrong order
    "donor_ids": None,  # no such donor
    "contribution_ids": None,
    "cursor": None,  # only the server's own next_cursor decodes
    "Idempotency-Key": "already used",
    "receipt": None,  # PDF, JPEG or PNG by content
    "shares": "add up",  # known shares must add up to the amount
    "exchange_rate": "more than the book takes",  # amount x rate beyond what the book holds
}


@pytest.fixture
def fuzz_server(app):
    """The app with a small book, served on a loopback port; yields (base URL, token)."""
    from tests.serving_support import seed_book

    token, funds, donors = seed_book(app)
    _seed_entries(app, funds, donors)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    served = requests.get(f"{base}/api/v1/openapi.json", timeout=30)
    assert served.json() == json.loads(json.dumps(build_spec())), "the fuzzed schema is served"
    yield base, token
    server.shutdown()
    thread.join()


def _seed_entries(app, funds: list[int], donors: list[int]) -> None:
    """A contribution and an expense, so that reads by id find something."""
    from sqlalchemy import select

    from ceroc_donations.accounts.models import User
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_expense
    from tests.conftest import contribution_form

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        book.record_contribution(
            parse_contribution(contribution_form(donors[0], funds[0])), by=user
        )
        book.record_expense(
            parse_expense(
                {
                    "paid_on": "2014-06-20",
                    "payee": "Print shop",
                    "amount": "120",
                    "currency": "USD",
                    "category": "printing",
                    "fund_id": str(funds[0]),
                }
            ),
            by=user,
        )
        db.session.commit()
        db.session.remove()


# Tests are made per operation when the module is collected, before any server runs, so the
# schema is built here from the code that serves it; the fixture checks that the live server
# serves exactly this document. (Schemathesis' lazy ``from_fixture`` loader does not work with
# pytest 9.)
# The API, like most, ignores query parameters it does not know (OpenAPI cannot forbid them):
# requests that add some are not counted as invalid ones.
CONFIG = schemathesis.Config.from_dict({"generation": {"allow-extra-parameters": False}})
schema = schemathesis.openapi.from_dict(build_spec(), config=CONFIG)


@schemathesis.check
def accepted_or_unknowable(ctx: CheckContext, response, case) -> bool | None:
    """Schemathesis' own "schema-valid request accepted" check, except for a 422 that names
    only fields in :data:`UNKNOWABLE`."""
    if response.status_code == 422:
        fields = (response.json() or {}).get("fields") or {}
        if fields and all(
            name in UNKNOWABLE and (UNKNOWABLE[name] is None or UNKNOWABLE[name] in message.lower())
            for name, message in fields.items()
        ):
            return None
    return positive_data_acceptance(ctx, response, case)


SPEC = build_spec()


def _valid_body(case, body) -> bool:
    """Whether *body* fits the operation's request body schema."""
    from openapi_schema_validator import OAS31Validator, oas31_format_checker

    operation = SPEC["paths"][case.operation.path][case.operation.method.lower()]
    media = operation["requestBody"]["content"][case.media_type or "application/json"]
    root = {"components": SPEC["components"], "allOf": [media["schema"]]}
    return OAS31Validator(root, format_checker=oas31_format_checker).is_valid(body)


@schemathesis.check
def refused_unless_spaces(ctx: CheckContext, response, case) -> bool | None:
    """Schemathesis' own "schema-violating request refused" check, except for a body that
    fits the schema once its text is trimmed and its runs of spaces are read as one, as the
    API reads text (a 201-character name whose first character is a line feed is a
    200-character name)."""
    if 200 <= response.status_code < 300 and isinstance(case.body, dict):
        tidied = {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in case.body.items()}
        if tidied != case.body and _valid_body(case, tidied):
            return None
    return negative_data_rejection(ctx, response, case)


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented(case, fuzz_server):
    base, token = fuzz_server
    case.call_and_validate(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        excluded_checks=[positive_data_acceptance, negative_data_rejection],
        additional_checks=[accepted_or_unknowable, refused_unless_spaces],
    )
