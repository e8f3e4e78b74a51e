"""The JSON API: roles, bad input, idempotency, voiding, tokens and the OpenAPI document."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ceroc_donations.accounts.models import ApiToken, AuditEvent, User
from ceroc_donations.book.models import Contribution, Donor, Expense, Fund
from ceroc_donations.database import utcnow
from ceroc_donations.extensions import db
from ceroc_donations.filters import encode_cursor
from tests.api_support import check_documented
from tests.conftest import ROLES

API = "/api/v1"
HTML = '<script>alert("x")</script> & <b>bold</b>'
KHMER = "សមាគមខ្មែរ មីនីសូតា"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MODELS = (Contribution, Expense, Donor, Fund, AuditEvent)


class Book:
    """Ids made by the ``book`` fixture and one token per role."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


@pytest.fixture
def book(app):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense
    from ceroc_donations.security import new_api_token
    from tests.conftest import contribution_form

    with app.app_context():
        users = {u.role: u for u in db.session.execute(select(User)).scalars()}
        user = users["treasurer"]
        general = svc.create_fund("general", "General", by=user)
        promo = svc.create_fund("promotion", "Promotion", by=user)
        donor = svc.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
        c = svc.record_contribution(
            parse_contribution(contribution_form(donor.id, general.id)), by=user
        )
        e = svc.record_expense(
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
        tokens = {role: new_api_token(u, "test") for role, u in users.items()}
        db.session.commit()
        return Book(
            fund=general.id,
            promo=promo.id,
            donor=donor.id,
            contribution=c.id,
            expense=e.id,
            tokens=tokens,
        )


@pytest.fixture
def call(app, client, book):
    """Call the API as *role*; every JSON answer is checked against the OpenAPI document."""
    doc = client.get(API + "/openapi.json").json

    def call(method, url, role="treasurer", *, headers=None, **kw):
        headers = dict(headers or {})
        if role:
            headers["Authorization"] = f"Bearer {book.tokens[role]}"
        response = client.open(API + url, method=method, headers=headers, **kw)
        check_documented(app, doc, method, API + url, response)
        return response

    return call


def counts(app) -> dict:
    with app.app_context():
        return {
            m.__name__: db.session.execute(select(func.count()).select_from(m)).scalar_one()
            for m in MODELS
        }


def contribution_body(book, **overrides):
    body = {
        "donor_ids": [book.donor],
        "amount": "400.00",
        "currency": "USD",
        "exchange_rate": "1",
        "received_on": "2014-06-15",
        "fund_id": book.fund,
        "received_by": "Mrs. Janet Seng",
        "occasion": "Trip to Minnesota",
        "method": "cash",
        "public_display": "default",
    }
    body.update(overrides)
    return body


def expense_body(book, **overrides):
    body = {
        "paid_on": "2014-06-20",
        "payee": "Print shop",
        "amount": "120.00",
        "currency": "USD",
        "category": "printing",
        "fund_id": book.promo,
    }
    body.update(overrides)
    return body


# --- the OpenAPI document ---------------------------------------------------------------------


def _api_routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API + "/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def test_openapi_lists_exactly_the_routes(app, client):
    doc = client.get(API + "/openapi.json").json
    documented = {
        (path, method)
        for path, ops in doc["paths"].items()
        for method in ops
        if method in ("get", "post", "patch", "put", "delete")
    }
    assert documented == _api_routes(app)
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for op in ops.values():
            params = {p["name"] for p in op.get("parameters", []) if p.get("in") == "path"}
            assert params == names, path


def test_openapi_document_is_valid(client):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    r = client.get(API + "/openapi.json")  # public: no token needed
    doc = r.json
    assert r.status_code == 200 and doc["openapi"] == "3.1.0"
    OpenAPIV31SpecValidator(doc).validate()
    assert "nullable" not in json.dumps(doc) and '"example"' not in json.dumps(doc)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert set(doc["components"]["schemas"]["Error"]["required"]) == {"error", "fields"}


def test_openapi_bodies_name_the_fields_the_api_reads(client):
    from ceroc_donations.book import api

    schemas = client.get(API + "/openapi.json").json["components"]["schemas"]
    for schema, fields in (
        ("DonorInput", api.DONOR_FIELDS),
        ("FundInput", api.FUND_FIELDS),
        ("ContributionInput", api.CONTRIBUTION_FIELDS),
        ("ExpenseInput", api.EXPENSE_FIELDS),
        ("VoidInput", api.VOID_FIELDS),
    ):
        assert set(schemas[schema]["properties"]) == set(fields), schema


# --- roles × endpoints ------------------------------------------------------------------------

READS = [
    "/donors",
    "/donors/{donor}",
    "/funds",
    "/funds/{fund}",
    "/contributions",
    "/contributions/{contribution}",
    "/expenses",
    "/expenses/{expense}",
]


def _writes(book):
    return [
        ("POST", "/donors", {"name_en": "New donor"}, 201),
        ("PATCH", f"/donors/{book.donor}", {"city": "Saint Paul"}, 200),
        ("POST", "/funds", {"code": "events", "name_en": "Events"}, 201),
        ("POST", "/contributions", contribution_body(book), 201),
        ("POST", f"/contributions/{book.contribution}/void", {"reason": "test"}, 200),
        ("POST", "/expenses", expense_body(book), 201),
        ("POST", f"/expenses/{book.expense}/void", {"reason": "test"}, 200),
    ]


#: Donor records hold contact details: members may not read them (see test_privacy).
DONOR_READS = ("/donors", "/donors/{donor}")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_every_list_and_entry(call, book, role):
    for url in READS:
        template, url = url, url.format(**book.__dict__)
        assert call("GET", url, None).status_code == 401, url
        r = call("GET", url, role)
        expected = 403 if role == "member" and template in DONOR_READS else 200
        assert r.status_code == expected, (url, r.json)


@pytest.mark.parametrize("role", ROLES)
def test_writes_by_role(app, call, book, role):
    for method, url, body, ok in _writes(book):
        before = counts(app)
        r = call(method, url, None, json=body)
        assert r.status_code == 401 and r.json["error"], url
        r = call(method, url, role, json=body)
        if role in ("member", "board"):
            assert r.status_code == 403 and r.json["error"], url
            assert counts(app) == before
        else:
            assert r.status_code == ok, (url, r.json)


@pytest.mark.parametrize("csrf", [True, False])
def test_a_browser_session_neither_reads_nor_writes(app, client, auth, book, csrf):
    """Under /api/v1 only a bearer token counts: a logged-in browser gets 401 everywhere."""
    auth.login("admin")
    app.config["WTF_CSRF_ENABLED"] = csrf
    with client.session_transaction() as session:
        token = session.get("csrf_token", "")
    before = counts(app)
    for path, method in sorted(_api_routes(app)):
        if path.endswith("/openapi.json"):
            continue
        url = re.sub(r"{[^}]+}", "1", path)
        r = client.open(url, method=method.upper(), json={}, headers={"X-CSRFToken": token})
        assert r.status_code == 401 and "Bearer" in r.json["error"], (method, url, r.status_code)
    assert counts(app) == before


def test_a_bearer_write_needs_no_csrf_token(csrf_app, call, book):
    assert call("POST", "/contributions", json=contribution_body(book)).status_code == 201


def test_revoked_token_and_disabled_user(app, call, book):
    assert call("GET", "/funds", "admin").status_code == 200
    with app.app_context():
        for token in db.session.execute(select(ApiToken)).scalars():
            if token.user.role == "admin":
                token.revoked_at = utcnow()
            if token.user.role == "treasurer":
                token.user.active = False  # disabled without revoking: still refused
        db.session.commit()
    for role in ("admin", "treasurer"):
        assert call("GET", "/funds", role).status_code == 401
        before = counts(app)
        assert call("POST", "/contributions", role, json=contribution_body(book)).status_code == 401
        assert counts(app) == before


def test_bad_tokens_are_401(client, book):
    for header in (
        "Bearer nope",
        "Bearer ",
        "Basic abc",
        "bearer " + book.tokens["admin"],
        "Bearer " + book.tokens["admin"] + "x",
        "Bearer \u00e9",
    ):
        r = client.get(API + "/funds", headers={"Authorization": header})
        assert r.status_code == 401 and r.is_json, header


def test_cli_token_works(app, runner, client, book):
    result = runner.invoke(args=["create-token", "board@test.example", "--label", "script"])
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    r = client.get(API + "/contributions", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and len(r.json["items"]) == 1
    r = client.post(
        API + "/funds",
        json={"code": "x", "name_en": "X"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403


# --- shapes -----------------------------------------------------------------------------------


def test_contribution_json_shape_and_money(call, book):
    r = call(
        "POST",
        "/contributions",
        json=contribution_body(
            book,
            amount="1,000.50",
            currency="EUR",
            exchange_rate="1.1",
            shares=["600.50", None],
            donor_ids=[book.donor, _new_donor(call)],
        ),
    )
    assert r.status_code == 201, r.json
    c = r.json
    assert r.headers["Location"].endswith(f"/api/v1/contributions/{c['id']}")
    assert c["amount"] == {"amount": "1000.50", "currency": "EUR", "minor": 100050}
    assert c["base_amount"] == {"amount": "1100.55", "currency": "USD", "minor": 110055}
    assert c["exchange_rate"] == "1.1"
    assert [d["share"] for d in c["donors"]] == [
        {"amount": "600.50", "currency": "EUR", "minor": 60050},
        None,
    ]
    assert c["reference"].startswith("C-2014-") and c["fund"]["id"] == book.fund
    assert call("GET", f"/contributions/{c['id']}", "board").json == c
    # Members see the gift as the public does: donors' names as shown, without their ids.
    public = call("GET", f"/contributions/{c['id']}", "member").json
    assert {k: v for k, v in public.items() if k != "donors"} == {
        k: v for k, v in c.items() if k != "donors"
    }
    assert [set(d) for d in public["donors"]] == [{"name_en", "name_km", "share"}] * 2
    first = call("GET", f"/contributions/{book.contribution}", "board").json
    assert (first["amount"], first["base_amount"], first["exchange_rate"]) == (
        {"amount": "400.00", "currency": "USD", "minor": 40000},
        {"amount": "400.00", "currency": "USD", "minor": 40000},
        "1",
    )


def test_one_money_shape_everywhere(call, book):
    """Every amount the API returns is {"amount", "currency", "minor"}, whatever the path."""
    money_keys = {"amount", "currency", "minor"}

    def amounts(node, key=None):
        if isinstance(node, dict):
            if set(node) == money_keys:
                yield key, node
                return
            for k, v in node.items():
                yield from amounts(v, k)
        elif isinstance(node, list):
            for item in node:
                yield from amounts(item, key)

    found = {}
    for url in ("/contributions", "/expenses", "/funds", "/ledger", "/balances"):
        body = call("GET", url).json
        for key, money in amounts(body):
            found.setdefault(url, set()).add(key)
            assert isinstance(money["minor"], int) and isinstance(money["amount"], str)
        flat = json.dumps(body)
        for old in ("amount_minor", "base_amount_minor", "share_minor", "base_currency"):
            assert old not in flat, (url, old)
    assert found == {
        "/contributions": {"amount", "base_amount"},
        "/expenses": {"amount", "base_amount"},
        "/funds": {"money_in", "money_out", "balance"},
        "/ledger": {"amount", "original", "balance"},
        "/balances": {"in", "out", "balance"},
    }


def _new_donor(call) -> int:
    return call("POST", "/donors", json={"name_en": "Second donor"}).json["id"]


def test_zero_decimal_currency_is_shown_without_decimals(call, book):
    r = call(
        "POST",
        "/expenses",
        json=expense_body(book, amount="5000", currency="JPY", exchange_rate="0.0091"),
    )
    assert r.status_code == 201, r.json
    assert r.json["amount"] == {"amount": "5000", "currency": "JPY", "minor": 5000}
    assert r.json["base_amount"]["amount"] == "45.50"


# --- bad input --------------------------------------------------------------------------------

FUTURE = (date.today() + timedelta(days=30)).isoformat()

BAD_CONTRIBUTIONS = [
    ({"amount": "-5"}, "amount"),
    ({"amount": "0"}, "amount"),
    ({"amount": "99999999999"}, "amount"),
    ({"amount": "1" * 400}, "amount"),
    ({"amount": "400.001"}, "amount"),
    ({"amount": "NaN"}, "amount"),
    ({"amount": "Infinity"}, "amount"),
    ({"amount": 400.0}, "amount"),
    ({"amount": 400}, "amount"),
    ({"amount": ["400"]}, "amount"),
    ({"amount": {"value": "400"}}, "amount"),
    ({"amount": None}, "amount"),
    ({"amount": True}, "amount"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": ["USD"]}, "currency"),
    ({"currency": None}, "currency"),
    ({"exchange_rate": 1.0}, "exchange_rate"),
    ({"currency": "EUR", "exchange_rate": None}, "exchange_rate"),
    ({"currency": "EUR", "exchange_rate": "-1"}, "exchange_rate"),
    ({"received_on": FUTURE}, "received_on"),
    ({"received_on": "2014-02-30"}, "received_on"),
    ({"received_on": "1900-01-01"}, "received_on"),
    ({"received_on": 20140615}, "received_on"),
    ({"received_on": None}, "received_on"),
    ({"received_by": ["a", "b"]}, "received_by"),
    ({"occasion": {"en": "x"}}, "occasion"),
    ({"note": 12}, "note"),
    ({"note": "a\x00b"}, "note"),
    ({"note": "\ud800"}, "note"),
    ({"occasion": "x" * 301}, "occasion"),
    ({"method": "bitcoin"}, "method"),
    ({"method": "in_kind"}, "in_kind_description"),
    ({"public_display": ["default"]}, "public_display"),
    ({"fund_id": 999}, "fund_id"),
    ({"fund_id": 10**30}, "fund_id"),
    ({"fund_id": "9" * 40}, "fund_id"),
    ({"fund_id": None}, "fund_id"),
    ({"fund_id": [1]}, "fund_id"),
    ({"fund_id": True}, "fund_id"),
    ({"donor_ids": []}, "donor_ids"),
    ({"donor_ids": None}, "donor_ids"),
    ({"donor_ids": "1"}, "donor_ids"),
    ({"donor_ids": ["1"]}, "donor_ids"),
    ({"donor_ids": [True]}, "donor_ids"),
    ({"donor_ids": [1.5]}, "donor_ids"),  # 1.0 is an integer to JSON Schema: accepted
    ({"donor_ids": [999]}, "donor_ids"),
    ({"donor_ids": [10**30]}, "donor_ids"),
    ({"donor_ids": [-1]}, "donor_ids"),
    ({"donor_ids": [[1]]}, "donor_ids"),
    ({"donor_ids": list(range(1, 500))}, "donor_ids"),
    ({"shares": [400.0]}, "shares"),
    ({"shares": "400"}, "shares"),
    ({"shares": ["300"]}, "shares"),
    ({"shares": ["-400"]}, "shares"),
    ({"shares": [{"a": 1}]}, "shares"),
    ({"ammount": "400"}, "ammount"),
    ({"id": 5}, "id"),
]


@pytest.mark.parametrize(
    ("overrides", "field"),
    BAD_CONTRIBUTIONS,
    ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD_CONTRIBUTIONS)],
)
def test_bad_contribution_is_422_with_a_field_message(app, call, book, overrides, field):
    before = counts(app)
    r = call("POST", "/contributions", json=contribution_body(book, **overrides))
    assert r.status_code == 422, r.json
    assert r.json["error"] and r.json["fields"][field], r.json
    assert counts(app) == before


def test_float_amount_message_says_send_a_string(call, book):
    r = call("POST", "/contributions", json=contribution_body(book, amount=400.0))
    assert "string" in r.json["fields"]["amount"]


BAD_BODIES = [
    ("application/json", b"[1, 2]", 400),
    ("application/json", b'"text"', 400),
    ("application/json", b"null", 400),
    ("application/json", b"{not json", 400),
    ("application/json", b"", 400),
    ("application/json", b"\xff\xfe{}", 400),
    ("application/json", b"[" * 100000 + b"]" * 100000, 400),
    ("application/json", b'{"amount": 1e999}', 422),
    ("text/plain", b"{}", 415),
    ("application/x-www-form-urlencoded", b"amount=400", 415),
    (None, b"", 415),
]


@pytest.mark.parametrize(("content_type", "data", "status"), BAD_BODIES)
@pytest.mark.parametrize(
    "url",
    [
        "/contributions",
        "/expenses",
        "/donors",
        "/funds",
        "/contributions/{contribution}/void",
        "/expenses/{expense}/void",
    ],
)
def test_malformed_bodies(app, call, book, url, content_type, data, status):
    if url == "/expenses" and content_type is None:
        return  # no body at all: read as JSON and refused below
    before = counts(app)
    headers = {"Content-Type": content_type} if content_type else {}
    r = call("POST", url.format(**book.__dict__), data=data, headers=headers)
    assert r.status_code == status, r.data[:300]
    assert r.is_json and r.json["error"] and isinstance(r.json["fields"], dict)
    assert counts(app) == before


def test_patch_with_bad_bodies(app, call, book):
    before = counts(app)
    for body in ([{"city": "x"}], "x", None):
        r = call(
            "PATCH",
            f"/donors/{book.donor}",
            data=json.dumps(body),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400
    r = call("PATCH", f"/donors/{book.donor}", json={"name_en": None})
    assert r.status_code == 422 and "name_en" in r.json["fields"]
    r = call("PATCH", f"/donors/{book.donor}", json={"country": ["US"]})
    assert r.status_code == 422 and "country" in r.json["fields"]
    assert counts(app) == before
    assert call("GET", f"/donors/{book.donor}").json["name_en"] == "CNRP Minnesota"


WEIRD = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    10**30,
    "",
    " ",
    "<b>",
    [],
    [1],
    ["x"],
    {},
    {"a": 1},
    "\u0000",
    "\ud800",
    "x" * 10000,
    "NaN",
    "1e5",
    "٣",
    "１２",
    "0x10",
    "²",
]


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/contributions", "CONTRIBUTION_FIELDS"),
        ("/expenses", "EXPENSE_FIELDS"),
        ("/donors", "DONOR_FIELDS"),
        ("/funds", "FUND_FIELDS"),
    ],
)
def test_no_value_in_any_field_is_a_500(app, call, book, url, fields):
    from ceroc_donations.book import api

    good = {
        "/contributions": contribution_body(book),
        "/expenses": expense_body(book),
        "/donors": {"name_en": "D"},
        "/funds": {"code": "c", "name_en": "C"},
    }[url]
    for field in getattr(api, fields):
        for value in WEIRD:
            r = call("POST", url, json={**good, field: value})
            assert r.status_code in (201, 409, 422), (field, value, r.status_code)
            if r.status_code == 201 and isinstance(value, str) and value.strip():
                # Accepted text is stored as typed; an accepted amount is the same number.
                returned = r.json[field]
                if field == "amount":
                    assert Decimal(returned) == Decimal(value), (field, value, returned)
                elif field == "in_kind_description":  # kept only for in-kind gifts
                    assert returned is None, (field, value, returned)
                else:
                    assert returned == value.strip(), (field, value, returned)


def test_html_and_khmer_are_kept_as_typed(call, book):
    text = f"{HTML} {KHMER}"
    donor = call(
        "POST",
        "/donors",
        json={
            "name_en": text,
            "name_km": text,
            "city": text,
            "region": text,
            "email": None,
            "postal_address": text,
            "note": text,
        },
    ).json
    for key in ("name_en", "name_km", "city", "region", "postal_address", "note"):
        assert donor[key] == text, key
    c = call(
        "POST",
        "/contributions",
        json=contribution_body(
            book,
            donor_ids=[donor["id"]],
            received_by=text[:120],
            occasion=text,
            purpose=text,
            note=text,
            method="in_kind",
            in_kind_description=text,
        ),
    ).json
    for key in ("occasion", "purpose", "note", "in_kind_description"):
        assert c[key] == text, key
    assert c["received_by"] == text[:120].strip()
    assert c["donors"][0]["name_en"] == text
    e = call(
        "POST",
        "/expenses",
        json=expense_body(book, payee=text, description_en=text, description_km=text),
    ).json
    for key in ("payee", "description_en", "description_km"):
        assert e[key] == text, key
    f = call(
        "POST", "/funds", json={"code": "k", "name_en": text, "name_km": text, "description": text}
    ).json
    for key in ("name_en", "name_km", "description"):
        assert f[key] == text, key
    voided = call("POST", f"/contributions/{c['id']}/void", json={"reason": text}).json
    assert voided["void_reason"] == text
    again = call("GET", f"/contributions/{c['id']}", "member")
    assert again.json["occasion"] == text and again.mimetype == "application/json"
    assert call("GET", "/contributions?q=" + KHMER.split()[0] + "&void=1").json["items"]


# --- idempotency, voiding ---------------------------------------------------------------------


CREATES = [
    ("/donors", lambda book: {"name_en": "Idempotent donor"}, {"name_en": "Another donor"}),
    ("/funds", lambda book: {"code": "events", "name_en": "Events"}, {"code": "trips"}),
    ("/contributions", contribution_body, {"amount": "401.00"}),
    ("/expenses", expense_body, {"payee": "Another shop"}),
]


@pytest.mark.parametrize(("url", "body", "change"), CREATES, ids=[c[0] for c in CREATES])
def test_idempotency_key_on_every_create_call(app, call, book, url, body, change):
    headers = {"Idempotency-Key": "abc-123"}
    first = call("POST", url, json=body(book), headers=headers)
    assert first.status_code == 201, first.json
    after_first = counts(app)
    second = call("POST", url, json=body(book), headers=headers)
    assert second.status_code == 200 and second.json == first.json
    # The same body written otherwise (key order, spacing) is the same request.
    reordered = json.dumps(dict(reversed(list(body(book).items()))), indent=2)
    r = call("POST", url, data=reordered, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json["id"] == first.json["id"]
    different = call("POST", url, json={**body(book), **change}, headers=headers)
    assert different.status_code == 422, different.json
    assert "different" in different.json["error"] and different.json["fields"]["Idempotency-Key"]
    assert counts(app) == after_first
    if url != "/funds":  # a fund's code is unique anyway
        third = call("POST", url, json=body(book), headers={"Idempotency-Key": "other"})
        assert third.status_code == 201 and third.json["id"] != first.json["id"]
    r = call("POST", url, json=body(book), headers={"Idempotency-Key": "k" * 65})
    assert r.status_code == 400


def test_idempotency_key_is_not_used_up_by_a_refused_request(call, book):
    headers = {"Idempotency-Key": "retry-after-fix"}
    bad = call("POST", "/contributions", json=contribution_body(book, amount="-1"), headers=headers)
    assert bad.status_code == 422 and "amount" in bad.json["fields"]
    good = call("POST", "/contributions", json=contribution_body(book), headers=headers)
    assert good.status_code == 201


def test_keys_are_per_kind_of_entry(call, book):
    headers = {"Idempotency-Key": "shared"}
    assert call("POST", "/donors", json={"name_en": "A"}, headers=headers).status_code == 201
    r = call("POST", "/contributions", json=contribution_body(book), headers=headers)
    assert r.status_code == 201


def test_keys_are_per_caller(app, call, book):
    """Two people whose scripts pick the same key each get their own record, never the
    other's answer."""
    from ceroc_donations.accounts.service import create_user
    from ceroc_donations.security import new_api_token

    with app.app_context():
        treasurer = db.session.execute(select(User).filter_by(role="treasurer")).scalar_one()
        other = create_user(
            "second.treasurer@ceroc.example", "Second", "treasurer", "2nd-treasurer-2014", by=None
        )
        book.tokens["second"] = new_api_token(other, "test")
        db.session.commit()
        assert other.id != treasurer.id
    headers = {"Idempotency-Key": "nightly-import-1"}
    body = contribution_body(book)
    mine = call("POST", "/contributions", json=body, headers=headers)
    theirs = call("POST", "/contributions", "second", json=body, headers=headers)
    assert mine.status_code == 201 and theirs.status_code == 201, theirs.json
    assert theirs.json["id"] != mine.json["id"]
    again = call("POST", "/contributions", "second", json=body, headers=headers)
    assert again.status_code == 200 and again.json["id"] == theirs.json["id"]


def test_void_twice_is_409(app, call, book):
    url = f"/contributions/{book.contribution}/void"
    assert call("POST", url, json={}).status_code == 422
    assert call("POST", url, json={"reason": "  "}).json["fields"]["reason"]
    r = call("POST", url, json={"reason": "Recorded twice"})
    assert r.status_code == 200 and r.json["voided"] and r.json["void_reason"] == "Recorded twice"
    before = counts(app)
    r = call("POST", url, json={"reason": "again"})
    assert r.status_code == 409 and "void" in r.json["error"]
    assert counts(app) == before
    e = f"/expenses/{book.expense}/void"
    assert call("POST", e, json={"reason": "x"}).status_code == 200
    assert call("POST", e, json={"reason": "x"}).status_code == 409
    listed = call("GET", "/contributions").json["items"]
    assert all(c["id"] != book.contribution for c in listed)
    assert call("GET", "/contributions?void=1").json["items"][0]["voided"]


@pytest.mark.parametrize(
    "url",
    [
        "/contributions/999",
        "/expenses/999",
        "/donors/999",
        "/funds/999",
        "/contributions/99999999999999999999999",
        "/nothing-here",
        "/contributions/abc",
    ],
)
def test_not_found_is_json(call, book, url):
    r = call("GET", url)
    assert r.status_code == 404 and r.is_json and r.json["error"]


def test_unknown_ids_on_writes(app, call, book):
    before = counts(app)
    assert call("POST", "/contributions/999/void", json={"reason": "x"}).status_code == 404
    assert call("PATCH", "/donors/99999999999999999999999", json={"city": "x"}).status_code == 404
    assert call("DELETE", f"/contributions/{book.contribution}").status_code == 405
    assert counts(app) == before


# --- funds and donors -------------------------------------------------------------------------


def test_funds_create_duplicate_and_balance(call, book):
    r = call("POST", "/funds", json={"code": "general", "name_en": "Again"})
    assert r.status_code == 409 and r.json["fields"]["code"]
    assert call("POST", "/funds", json={"code": "Bad Code", "name_en": "x"}).status_code == 422
    general = call("GET", f"/funds/{book.fund}", "member").json
    assert (
        general["money_in"]
        == general["balance"]
        == {
            "amount": "400.00",
            "currency": "USD",
            "minor": 40000,
        }
    )
    promo = call("GET", f"/funds/{book.promo}").json
    assert promo["balance"] == {"amount": "-120.00", "currency": "USD", "minor": -12000}
    assert [f["code"] for f in call("GET", "/funds").json["items"]] == ["general", "promotion"]


def test_donor_patch_changes_only_what_is_sent(call, book):
    r = call("PATCH", f"/donors/{book.donor}", json={"city": "Saint Paul", "country": "us"})
    assert r.status_code == 200
    assert (r.json["name_en"], r.json["city"], r.json["country"]) == (
        "CNRP Minnesota",
        "Saint Paul",
        "US",
    )


# --- lists ------------------------------------------------------------------------------------


def test_cursor_pages_cover_everything_once(call, book):
    for day in range(1, 8):
        assert (
            call(
                "POST",
                "/contributions",
                json=contribution_body(book, received_on=f"2015-01-{day:02d}"),
            ).status_code
            == 201
        )
    seen, cursor, pages = [], None, 0
    while True:
        r = call("GET", "/contributions?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200 and len(r.json["items"]) <= 3
        seen += [c["id"] for c in r.json["items"]]
        cursor, pages = r.json["next_cursor"], pages + 1
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 8 and pages == 3
    days = [call("GET", f"/contributions/{i}").json["received_on"] for i in seen]
    assert days == sorted(days, reverse=True)


def test_donor_pages(call, book):
    for name in ("Ann", "Bob", "Cat", "Dan"):
        call("POST", "/donors", json={"name_en": name})
    first = call("GET", "/donors?limit=2").json
    assert [d["name_en"] for d in first["items"]] == ["Ann", "Bob"]
    rest = call("GET", f"/donors?limit=2&cursor={first['next_cursor']}").json
    assert [d["name_en"] for d in rest["items"]] == ["CNRP Minnesota", "Cat"]
    assert call("GET", "/donors?q=bob").json["items"][0]["name_en"] == "Bob"
    assert call("GET", "/donors?cursor=zzz").status_code == 422


def test_donor_cursor_after_the_longest_name(call, book):
    for letter in "𐀀ក":
        r = call("POST", "/donors", json={"name_en": letter * 200})
        assert r.status_code == 201, r.json
    first = call("GET", "/donors?limit=1&q=" + "ក" * 10)
    assert first.status_code == 200 and first.json["next_cursor"] is None
    pages, cursor = [], None
    while True:
        r = call("GET", "/donors?limit=1" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        pages += [d["id"] for d in r.json["items"]]
        if not (cursor := r.json["next_cursor"]):
            break
    assert len(pages) == len(set(pages)) == 3


def test_filters(call, book):
    def ids(url):
        r = call("GET", url)
        assert r.status_code == 200, r.json
        return [item["id"] for item in r.json["items"]]

    assert ids(f"/contributions?fund={book.fund}") == [book.contribution]
    assert ids(f"/contributions?fund={book.promo}") == []
    assert ids(f"/contributions?donor={book.donor}") == [book.contribution]
    assert ids("/contributions?from=2014-06-16") == []
    assert ids("/contributions?to=2014-06-15") == [book.contribution]
    assert ids("/contributions?thanks=not_thanked") == [book.contribution]
    assert ids("/contributions?thanks=sent") == []
    assert ids("/contributions?q=minnesota") == [book.contribution]
    assert ids("/expenses?category=printing") == [book.expense]
    assert ids("/expenses?category=travel") == []
    assert ids("/expenses?q=print") == [book.expense]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=abc",
        "limit=-1",
        "limit=99999999999999999999999",
        "from=2014-13-01",
        "to=yesterday",
        "fund=x",
        "fund=99999999999999999999999",
        "donor=-1",
        "void=maybe",
        "thanks=lots",
        "cursor=%%%",
        "cursor=WyIyMDE0LTAxLTAxIiwgOTk5OTk5OTk5OTk5OTk5OTk5OTk5OTld",
        "limit=%C2%B2",
        "limit=1e3",
        "limit=%EF%BC%91",
        "fund=%C2%B2",
        "fund=-0",
        "donor=99999999999999999999",
        "from=99999-01-01",
        "to=2014-06-15T00:00",
        "void=2",
        "q=a%00b",
        "cursor=" + "A" * 5000,
        "cursor=" + encode_cursor("x", 1),
        "cursor=" + encode_cursor("2014-01-01", True),
    ],
)
def test_bad_list_parameters_are_422(call, book, query):
    url = "/contributions?" + query
    r = call("GET", url)
    assert r.status_code == 422 and r.json["fields"], query
    if "thanks" not in query and "donor" not in query:
        assert call("GET", "/expenses?" + query).status_code == 422, query


def _cursor(*values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor("x\u0000y", 1),
        _cursor("\ud800", 1),
        _cursor("Ann", 2**63),
        _cursor("Ann", 1.5),
        _cursor("Ann"),
        _cursor(["Ann"], 1),
        base64.urlsafe_b64encode(b"[" * 300).decode(),
    ],
)
def test_bad_donor_cursors_are_422(call, book, cursor):
    r = call("GET", f"/donors?cursor={cursor}")
    assert r.status_code == 422 and r.json["fields"]["cursor"], cursor


@pytest.mark.parametrize(
    "query",
    [
        "limit=99999999999999999999",
        "fund=99999999999999999999",
        "donor=99999999999999999999",
        "fund=%C2%B2",
        "cursor=" + "A" * 5000,
        "direction=up",
        "from=2014-02-30",
    ],
)
def test_bad_ledger_parameters_are_422(call, book, query):
    r = call("GET", "/ledger?" + query)
    assert r.status_code == 422 and r.json["fields"], query


def test_limit_200_is_accepted(call, book):
    assert call("GET", "/contributions?limit=200").status_code == 200
    assert call("GET", "/expenses?category=nope").status_code == 422


# --- receipts ---------------------------------------------------------------------------------


def _multipart(book, **overrides):
    data = {k: str(v) for k, v in expense_body(book).items()}
    data.update(overrides)
    return data


def test_multipart_expense_with_receipt(app, call, book):
    data = _multipart(book, receipt=(io.BytesIO(PNG), "receipt.png"))
    r = call(
        "POST",
        "/expenses",
        data=data,
        content_type="multipart/form-data",
        headers={"Idempotency-Key": "upload-1"},
    )
    assert r.status_code == 201, r.json
    assert r.json["receipt"]["mime"] == "image/png" and r.json["receipt"]["name"] == "receipt.png"
    before, files = counts(app), os.listdir(app.config["RECEIPTS_DIR"])
    again = call(
        "POST",
        "/expenses",
        data=_multipart(book, receipt=(io.BytesIO(PNG), "receipt.png")),
        content_type="multipart/form-data",
        headers={"Idempotency-Key": "upload-1"},
    )
    assert again.status_code == 200 and again.json["id"] == r.json["id"]
    assert counts(app) == before and os.listdir(app.config["RECEIPTS_DIR"]) == files
    assert r.json["receipt"]["url"] == f"/expenses/{r.json['id']}/receipt"  # the page serves it
    with app.app_context():
        stored = db.session.get(Expense, r.json["id"])
        path = os.path.join(app.config["RECEIPTS_DIR"], stored.receipt_path)
    with open(path, "rb") as fh:
        assert fh.read() == PNG


def test_multipart_expense_without_receipt(call, book):
    r = call("POST", "/expenses", data=_multipart(book), content_type="multipart/form-data")
    assert r.status_code == 201 and r.json["receipt"] is None


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"<html>not a receipt</html>", "receipt.pdf"),
        (b"", "empty.png"),
        (PNG, "renamed.pdf"),
        (b"%PDF-" + b"0" * (10 * 1024 + 1), "huge.pdf"),
    ],
)
def test_bad_receipts_store_nothing(app, call, book, content, name):
    # A small limit keeps the test fast (and clear of the test client's spooled temp file);
    # the rule is the same at 10 MB.
    app.config["MAX_RECEIPT_BYTES"] = 10 * 1024
    before = counts(app)
    r = call(
        "POST",
        "/expenses",
        data=_multipart(book, receipt=(io.BytesIO(content), name)),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422, r.json
    if content:
        assert r.json["fields"]["receipt"]
    assert counts(app) == before
    folder = app.config["RECEIPTS_DIR"]
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_bad_multipart_fields_store_nothing(app, call, book):
    before = counts(app)
    r = call(
        "POST",
        "/expenses",
        data=_multipart(book, amount="12.345", paid_on=FUTURE, receipt=(io.BytesIO(PNG), "r.png")),
        content_type="multipart/form-data",
    )
    assert r.status_code == 422 and {"amount", "paid_on"} <= set(r.json["fields"])
    assert counts(app) == before
    folder = app.config["RECEIPTS_DIR"]
    assert not os.path.exists(folder) or os.listdir(folder) == []


def test_request_over_the_upload_limit_is_a_json_413(app, call, book):
    app.config["MAX_CONTENT_LENGTH"] = 20 * 1024
    before = counts(app)
    r = call(
        "POST",
        "/expenses",
        data=_multipart(book, receipt=(io.BytesIO(b"%PDF-" + b"0" * 40000), "b.pdf")),
        content_type="multipart/form-data",
    )
    assert r.status_code == 413 and r.is_json and r.json["error"]
    r = call(
        "POST",
        "/contributions",
        data=b'{"note": "' + b"x" * 40000 + b'"}',
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413 and r.is_json
    assert counts(app) == before


def test_multipart_is_refused_for_contributions(call, book):
    r = call("POST", "/contributions", data={"amount": "1"}, content_type="multipart/form-data")
    assert r.status_code == 415


# --- the document says what the API accepts ---------------------------------------------------


def _input_validator(doc, name):
    from openapi_schema_validator import OAS31Validator, oas31_format_checker

    root = {"components": doc["components"], "allOf": [{"$ref": f"#/components/schemas/{name}"}]}
    return OAS31Validator(root, format_checker=oas31_format_checker)


def test_request_schemas_accept_good_bodies_and_refuse_malformed_ones(client, book):
    doc = client.get(API + "/openapi.json").json
    contribution = _input_validator(doc, "ContributionInput")
    expense = _input_validator(doc, "ExpenseInput")
    assert contribution.is_valid(contribution_body(book))
    assert contribution.is_valid(contribution_body(book, currency="EUR", exchange_rate="1.1"))
    assert expense.is_valid(expense_body(book))
    for overrides in (
        {"amount": 400},
        {"amount": "-5"},
        {"currency": "XYZ"},
        {"currency": "EUR", "exchange_rate": None},
        {"received_on": "2014-02-30"},
        {"method": "bitcoin"},
        {"donor_ids": []},
        {"donor_ids": [1, 1]},
        {"donor_ids": ["1"]},
        {"occasion": "x" * 301},
        {"fund_id": [1]},
        {"ammount": "400"},
    ):
        assert not contribution.is_valid(contribution_body(book, **overrides)), overrides
    body = contribution_body(book, currency="EUR")
    del body["exchange_rate"]
    assert not contribution.is_valid(body)  # a foreign gift needs its rate
    donor = _input_validator(doc, "DonorInput")
    assert donor.is_valid({"name_en": "A", "country": "US", "email": "a@example.org"})
    for bad in ({}, {"name_en": ""}, {"name_en": "A", "country": "USA"}, {"name_en": "A", "x": 1}):
        assert not donor.is_valid(bad), bad
    fund = _input_validator(doc, "FundInput")
    assert fund.is_valid({"code": "events", "name_en": "Events"})
    assert not fund.is_valid({"code": "Bad Code", "name_en": "x"})
    sent = _input_validator(doc, "LetterSentInput")
    assert [sent.is_valid({"via": v}) for v in ("post", "hand", "email", "print")] == [
        True,
        True,
        True,
        False,
    ]


def test_ids_written_as_whole_floats_are_ids(call, book):
    """JSON Schema counts 12.0 as an integer, so the API reads it as the id 12."""
    body = contribution_body(book, donor_ids=[float(book.donor)], fund_id=float(book.fund))
    response = call("POST", "/contributions", json=body)
    assert response.status_code == 201, response.json
    assert [d["id"] for d in response.json["donors"]] == [book.donor]
    assert response.json["fund"]["id"] == book.fund


def test_405_says_which_methods_the_address_takes(client):
    response = client.delete(f"{API}/funds")
    assert response.status_code == 405
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}
    assert response.json["error"]
