"""Money that cannot be entered wrong: decimal commas, required rates, bounds, on every face.

The form, the JSON API and the CSV import all read numbers through ``money.read_decimal``
and check gifts through ``book.inputs``; these tests send the same nasty inputs to each.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ceroc_donations.accounts.models import User
from ceroc_donations.book.models import Contribution, FundMonthTotal
from ceroc_donations.extensions import db
from ceroc_donations.money import (
    CURRENCIES,
    MAX_BOOK_MINOR,
    MAX_MAJOR,
    MAX_RATE,
    Ambiguous,
    Money,
    MoneyError,
    parse_amount,
    parse_rate,
    read_decimal,
)

API = "/api/v1"
KHMER = "សមាគមខ្មែរ មីនីសូតា"
HTML = '<script>alert("x")</script>'

# --- the one rule for decimal marks ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12,50", "12.50"),
        ("0,74", "0.74"),
        ("0,745", "0.745"),
        ("12,5", "12.5"),
        ("1.234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1 234,56", "1234.56"),
        ("1\u202f234,56", "1234.56"),
        ("1\u00a0234.5", "1234.5"),
        ("1 234", "1234"),
        ("1.234.567", "1234567"),
        ("1,234,567", "1234567"),
        ("1,234,567.89", "1234567.89"),
        ("1.234.567,89", "1234567.89"),
        ("1234,567", "1234.567"),
        ("1.234", "1.234"),  # a single point is always the decimal mark
        ("400", "400"),
        ("+400", "400"),
        ("-12,50", "-12.50"),
        (".5", "0.5"),
        ("៤០០,៥០", "400.50"),
    ],
)
def test_read_decimal_reads_a_comma_only_where_unambiguous(text, value):
    assert read_decimal(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "whole", "decimal"),
    [("1,234", "1234", "1.234"), ("12,500", "12500", "12.500"), ("999,000", "999000", "999.000")],
)
def test_a_comma_that_could_be_either_is_refused_with_both_readings(text, whole, decimal):
    with pytest.raises(Ambiguous) as exc:
        read_decimal(text)
    assert f"Write {whole} or {decimal}." in str(exc.value)


@pytest.mark.parametrize(
    "text",
    ["1e3", "NaN", "Infinity", "$400", "400 USD", "1,23.4", "1.234.5,6", "1 2 3", "12,34,567",
     "1,,5", "1..5", "", ",", ".", "1,234,56", "0x10", "١٢٣"],
)  # fmt: skip
def test_read_decimal_refuses_what_is_not_a_number(text):
    assert read_decimal(text) is None


def _group(digits: str, sep: str) -> str:
    head = len(digits) % 3 or 3
    return sep.join([digits[:head]] + [digits[i : i + 3] for i in range(head, len(digits), 3)])


STYLES = ("plain", "plain_comma", "en", "de", "fr", "ch_space")


def formatted(value: Decimal, places: int, style: str) -> str:
    """*value* written as people in different countries write it."""
    whole, _, fraction = f"{value:.{places}f}".partition(".")
    if style == "plain":
        return f"{whole}.{fraction}" if fraction else whole
    if style == "plain_comma":
        return f"{whole},{fraction}" if fraction else whole
    if style == "en":
        return _group(whole, ",") + (f".{fraction}" if fraction else "")
    if style == "de":  # with points grouping, a German amount always shows its decimals
        return _group(whole, ".") + f",{fraction or '00'}"
    if style == "fr":
        return _group(whole, "\u202f") + (f",{fraction}" if fraction else "")
    return _group(whole, " ") + (f".{fraction}" if fraction else "")


numbers = st.builds(
    lambda whole, fraction, places: (Decimal(whole) + Decimal(fraction) / 10**places, places),
    st.integers(min_value=0, max_value=10**12),
    st.integers(min_value=0, max_value=10**6),
    st.integers(min_value=0, max_value=6),
).map(lambda t: (t[0].quantize(Decimal(1).scaleb(-t[1])), t[1]))


@given(numbers, st.sampled_from(STYLES))
def test_formatted_numbers_are_read_exactly_or_refused_as_ambiguous(number, style):
    value, places = number
    text = formatted(value, places, style)
    try:
        read = read_decimal(text)
    except Ambiguous as problem:
        # only a lone "d,ddd" is ambiguous; the message names both readings, one of them right
        assert re.fullmatch(r"[1-9]\d{0,2},\d{3}", text), text
        whole, decimal = text.replace(",", ""), text.replace(",", ".")
        assert f"Write {whole} or {decimal}." in str(problem)
        assert value in (Decimal(whole), Decimal(decimal))
        return
    assert read == value, (text, read, value)


# --- amounts and rates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("12,50", "USD", 1250), ("1.234,5", "EUR", 123450), ("1 234", "JPY", 1234),
     ("0,125", "KWD", 125), ("1,250.50", "USD", 125050)],
)  # fmt: skip
def test_decimal_comma_is_never_multiplied(text, currency, minor):
    assert parse_amount(text, currency) == Money(minor, currency)


def test_rate_with_decimal_comma():
    assert parse_rate("0,74") == Decimal("0.74")
    assert parse_rate("4 100") == Decimal("4100")
    with pytest.raises(Ambiguous, match="Write 4100 or 4.100"):
        parse_rate("4,100")


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("10.005", "USD", "at most 2 decimal places"),
        ("10,005", "USD", "Write 10005 or 10.005"),
        ("1.5", "JPY", "no decimal places"),
        ("1.2345", "KWD", "at most 3 decimal places"),
        ("-5", "USD", "greater than 0"),
        ("-1,234", "USD", "greater than 0"),
        ("0", "USD", "greater than 0"),
        ("0,00", "USD", "greater than 0"),
        ("10000000000.01", "USD", "too large"),
        ("1" * 400, "USD", "too large"),
    ],
)
def test_amount_errors_say_what_to_do(text, currency, message):
    with pytest.raises(MoneyError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    ("text", "message"),
    [("0", "greater than 0"), ("-0,5", "greater than 0"), ("1000000.1", "too large"),
     ("0.00000000001", "10 decimal places"), ("1,5e3", "as a number")],
)  # fmt: skip
def test_rate_errors(text, message):
    with pytest.raises(MoneyError, match=message):
        parse_rate(text)


def exact_base_minor(minor: int, exp: int, rate: Decimal, base_exp: int) -> int:
    """amount × rate rounded half to even, in integers only (no Decimal context involved)."""
    sign, digits, rate_exp = rate.as_tuple()
    numerator = minor * int("".join(map(str, digits))) * 10**base_exp
    denominator = 10**exp
    if rate_exp >= 0:
        numerator *= 10**rate_exp
    else:
        denominator *= 10**-rate_exp
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    return quotient


# --- every face: fixtures ------------------------------------------------------------------


@pytest.fixture
def setup(app):
    """A fund, a donor, an API token for the treasurer; returns their ids and the token."""
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import parse_donor
    from ceroc_donations.security import new_api_token

    with app.app_context():
        user = db.session.execute(select(User).where(User.role == "treasurer")).scalar_one()
        fund = svc.create_fund("general", "General", by=user)
        donor = svc.create_donor(parse_donor({"name_en": "CNRP Minnesota"}), by=user)
        token = new_api_token(user, "test")
        db.session.commit()
        return {"fund": fund.id, "donor": donor.id, "token": token}


def form(setup, **overrides):
    data = {
        "donor_ids": [str(setup["donor"])],
        "amount": "400.00",
        "currency": "USD",
        "exchange_rate": "",
        "received_on": "2026-11-20",
        "fund_id": str(setup["fund"]),
        "method": "cash",
        "public_display": "default",
    }
    data.update(overrides)
    return data


def body(setup, **overrides):
    data = form(setup, **overrides)
    data["donor_ids"] = [setup["donor"]]
    data["fund_id"] = setup["fund"]
    return {k: v for k, v in data.items() if v != ""}


def api(client, setup, data):
    return client.post(
        API + "/contributions",
        json=data,
        headers={"Authorization": f"Bearer {setup['token']}"},
    )


def n_gifts(app) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Contribution)).scalar_one()


def last_gift(app) -> tuple[int, str, str, int]:
    with app.app_context():
        c = db.session.execute(select(Contribution).order_by(Contribution.id.desc())).scalar()
        return c.amount_minor, c.currency, c.exchange_rate, c.base_amount_minor


def csv_rows(client, auth, lines: list[str]) -> tuple[str, str, bytes]:
    """Upload a CSV of *lines*; return (token, preview page, content)."""
    auth.login("treasurer")
    content = "donor,amount,currency,exchange_rate,received_on,fund,note\n" + "\n".join(lines)
    raw = content.encode()
    r = client.post(
        "/contributions/import",
        data={"file": (io.BytesIO(raw), "gifts.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    token = re.search(r"token=([0-9a-f]+)", r.location).group(1)
    return token, client.get(r.location).get_data(as_text=True), raw


def csv_confirm(client, token, raw):
    return client.post(
        "/contributions/import/confirm",
        data={"token": token, "sha256": hashlib.sha256(raw).hexdigest(), "create_missing": "0"},
    )


# --- 1. a foreign gift needs its rate ------------------------------------------------------


def test_form_leaves_the_rate_empty_and_refuses_a_foreign_gift_without_one(
    app, client, auth, setup
):
    auth.login("treasurer")
    page = client.get("/contributions/new").get_data(as_text=True)
    rate_input = re.search(r'<input id="f-exchange_rate"[^>]*>', page, re.S).group(0)
    assert 'value=""' in rate_input  # no silent 1
    assert "js/money-preview.js" in page and "<script>" not in page.split("</footer>")[1]
    r = client.post("/contributions/new", data=form(setup, amount="500", currency="CAD"))
    assert r.status_code == 422
    assert "Enter how many USD one CAD was worth that day." in r.get_data(as_text=True)
    assert n_gifts(app) == 0


def test_api_and_csv_refuse_a_foreign_gift_without_a_rate(app, client, auth, setup):
    r = api(client, setup, body(setup, amount="500", currency="CAD"))
    assert r.status_code == 422 and "exchange_rate" in r.json["fields"], r.json
    token, page, raw = csv_rows(client, auth, ["CNRP Minnesota,500,CAD,,2014-06-15,general,"])
    assert "1 with errors" in page and "Enter how many USD one CAD was worth that day." in page
    assert csv_confirm(client, token, raw).status_code == 422
    assert n_gifts(app) == 0


def test_a_base_currency_gift_needs_no_rate_everywhere(app, client, auth, setup):
    auth.login("treasurer")
    assert client.post("/contributions/new", data=form(setup)).status_code == 302
    assert api(client, setup, body(setup, amount="10")).status_code == 201
    assert last_gift(app) == (1000, "USD", "1", 1000)


def test_form_offers_the_last_rate_used_and_shows_the_base_value(app, client, auth, setup):
    auth.login("treasurer")
    for day, rate in (("2026-11-12", "0.7312"), ("2026-10-01", "0.7"), ("2026-11-13", "0.75")):
        r = client.post(
            "/contributions/new",
            data=form(setup, amount="500", currency="CAD", exchange_rate=rate, received_on=day),
        )
        assert r.status_code == 302
    with app.app_context():  # the latest is voided: it is not offered
        from ceroc_donations.book import service as svc

        latest = db.session.execute(
            select(Contribution).where(Contribution.exchange_rate == "0.75")
        ).scalar_one()
        svc.void_contribution(latest, "typo", by=None)
        db.session.commit()
    r = client.get("/contributions/convert.json?amount=500&currency=CAD&exchange_rate=0.7312")
    assert r.json["text"] == "= $365.60"
    assert r.json["last_rate"]["rate"] == "0.7312"
    assert "0.7312" in r.json["last_rate"]["text"] and "C-2026-0001" in r.json["last_rate"]["text"]
    assert client.get("/contributions/convert.json?currency=EUR").json["last_rate"] is None
    r = client.get("/contributions/convert.json?amount=1,234&currency=CAD&exchange_rate=0,5")
    assert "Write 1234 or 1.234" in r.json["problems"]["amount"] and r.json["text"] == ""
    r = client.get("/contributions/convert.json?amount=12,50&currency=CAD&exchange_rate=0,5")
    assert r.json["text"] == "= $6.25"
    # after an error the page says the same without JavaScript
    r = client.post("/contributions/new", data=form(setup, amount="500", currency="CAD"))
    page = r.get_data(as_text=True)
    assert 'placeholder="0.7312"' in page and "Last rate used for CAD: 0.7312" in page
    auth.logout()
    auth.login("member")
    assert client.get("/contributions/convert.json?currency=CAD").status_code == 403


# --- 2. decimal commas, on every face ------------------------------------------------------


def test_decimal_commas_on_the_form_the_api_and_the_csv(app, client, auth, setup):
    auth.login("treasurer")
    r = client.post(
        "/contributions/new",
        data=form(setup, amount="500,00", currency="CAD", exchange_rate="0,74"),
    )
    assert r.status_code == 302
    assert last_gift(app) == (50000, "CAD", "0.74", 37000)
    r = api(client, setup, body(setup, amount="12,50"))
    assert r.status_code == 201 and r.json["amount"]["amount"] == "12.50"
    token, page, raw = csv_rows(
        client, auth, ['CNRP Minnesota,"1.234,56",EUR,"1,1",2014-06-15,general,']
    )
    assert "0 with errors" in page
    assert csv_confirm(client, token, raw).status_code == 302
    assert last_gift(app) == (123456, "EUR", "1.1", 135802)


def test_an_ambiguous_comma_is_refused_on_every_face(app, client, auth, setup):
    auth.login("treasurer")
    r = client.post("/contributions/new", data=form(setup, amount="1,234"))
    assert r.status_code == 422 and "Write 1234 or 1.234." in r.get_data(as_text=True)
    r = api(client, setup, body(setup, amount="100", currency="CAD", exchange_rate="1,250"))
    assert r.status_code == 422
    assert "Write 1250 or 1.250." in r.json["fields"]["exchange_rate"]
    token, page, raw = csv_rows(client, auth, ['CNRP Minnesota,"1,234",USD,,2014-06-15,general,'])
    assert "1 with errors" in page and "Write 1234 or 1.234." in page
    assert n_gifts(app) == 0


# --- 3. bounds the exports can hold --------------------------------------------------------


def test_a_gift_too_large_for_the_exports_is_refused_and_the_exports_still_work(
    app, client, auth, setup
):
    huge = body(setup, amount="10000000000", currency="KWD", exchange_rate="1000000")
    r = api(client, setup, huge)
    assert r.status_code == 422 and "more than the book takes" in r.json["fields"]["exchange_rate"]
    auth.login("treasurer")
    r = client.post(
        "/contributions/new",
        data={
            **form(setup),
            **{k: str(v) for k, v in huge.items() if k in ("amount", "currency", "exchange_rate")},
        },
    )
    assert r.status_code == 422 and "more than the book takes" in r.get_data(as_text=True)
    token, page, raw = csv_rows(
        client, auth, ["CNRP Minnesota,10000000000,KWD,1000000,2014-06-15,general,"]
    )
    assert "1 with errors" in page and "more than the book takes" in page
    assert n_gifts(app) == 0
    # the largest gift that is accepted still exports as exact numbers
    biggest = body(setup, amount="9999999999.999", currency="KWD", exchange_rate="1")
    r = api(client, setup, biggest)
    assert r.status_code == 201, r.json
    assert r.json["base_amount"]["amount"] == "10000000000.00"
    for url in ("/ledger/export.csv", "/ledger/export.xlsx"):
        r = client.get(url)
        assert r.status_code == 200, url
        data = r.get_data()
        assert len(data) > 100
    assert b"10000000000.00" in client.get("/ledger/export.csv").get_data()


def test_a_full_book_refuses_more_on_every_face(app, client, auth, setup):
    with app.app_context():  # a book already holding almost all a spreadsheet number can
        db.session.add(
            FundMonthTotal(
                fund_id=setup["fund"],
                month=date(2014, 1, 1),
                in_minor=MAX_BOOK_MINOR - 100,
                out_minor=0,
                in_count=1,
                out_count=0,
            )
        )
        db.session.commit()
    r = api(client, setup, body(setup, amount="1.01"))
    assert r.status_code == 422 and "exports can show" in r.json["fields"]["amount"]
    auth.login("treasurer")
    r = client.post("/contributions/new", data=form(setup, amount="2"))
    assert r.status_code == 422 and "exports can show" in r.get_data(as_text=True)
    token, page, raw = csv_rows(
        client,
        auth,
        [
            "CNRP Minnesota,0.60,USD,,2014-06-15,general,",
            "CNRP Minnesota,0.50,USD,,2014-06-16,general,",
        ],
    )
    assert "1 with errors" in page and "exports can show" in page.split('id="row-3"')[1]
    assert n_gifts(app) == 0
    assert api(client, setup, body(setup, amount="1.00")).status_code == 201


def test_limits_are_within_what_exports_and_the_database_hold():
    for exp in set(CURRENCIES.values()):
        assert len(str(int(MAX_MAJOR * 10**exp))) <= 15  # every amount and base value
    assert MAX_BOOK_MINOR < 10**15 and MAX_BOOK_MINOR < 2**63 - 1  # every total
    assert len(format(MAX_RATE + Decimal("0.0000000001"), "f")) <= 32  # the rate column


# --- 4. random gifts: the base value is amount × rate, half-even -------------------------


EXPONENT_CURRENCIES = {0: ["JPY", "KRW", "VND"], 2: ["USD", "CAD", "EUR", "KHR"], 3: ["KWD"]}
currencies = st.sampled_from(sorted(CURRENCIES))
rates = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(min_value=1, max_value=10**12),
    st.integers(min_value=0, max_value=10),
).filter(lambda r: r <= MAX_RATE)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    currency=currencies,
    base=st.sampled_from(["USD", "JPY", "KWD", "EUR"]),
    minor=st.integers(min_value=1, max_value=10**13),
    rate=rates,
    amount_style=st.sampled_from(STYLES),
    rate_style=st.sampled_from(STYLES),
)
def test_random_gifts_store_amount_times_rate_rounded_half_even(
    app, setup, currency, base, minor, rate, amount_style, rate_style
):
    from ceroc_donations.book import service as svc
    from ceroc_donations.book.inputs import Invalid, parse_contribution

    exp = CURRENCIES[currency]
    amount = Decimal(minor).scaleb(-exp)
    assume(amount <= MAX_MAJOR)
    if currency == base:
        rate = Decimal(1)
    amount_text = formatted(amount, exp, amount_style)
    places = max(0, -rate.normalize().as_tuple().exponent)
    rate_text = formatted(rate.normalize(), places, rate_style) if currency != base else ""
    expected = exact_base_minor(minor, exp, rate, CURRENCIES[base])
    app.config["BASE_CURRENCY"] = base
    with app.test_request_context():
        try:
            data = parse_contribution(
                form(setup, amount=amount_text, currency=currency, exchange_rate=rate_text)
            )
        except Invalid as exc:
            ambiguous = [t for t in (amount_text, rate_text) if re.fullmatch(r"\d{1,3},\d{3}", t)]
            too_big = expected > MAX_MAJOR * 10 ** CURRENCIES[base]
            assert ambiguous or too_big, (amount_text, rate_text, exc.fields)
            return
        finally:
            app.config["BASE_CURRENCY"] = "USD"
        app.config["BASE_CURRENCY"] = base
        try:
            c = svc.record_contribution(data, by=None)
            assert (c.amount_minor, c.currency) == (minor, currency)
            assert c.base_amount_minor == expected
            assert c.base_currency == base
        finally:
            db.session.rollback()
            app.config["BASE_CURRENCY"] = "USD"


# --- 6. nasty inputs on every face ---------------------------------------------------------

FUTURE = (date.today() + timedelta(days=60)).isoformat()
NASTY = [
    ({"amount": "-400"}, "amount", "greater than 0"),
    ({"amount": "0"}, "amount", "greater than 0"),
    ({"amount": "99999999999"}, "amount", "too large"),
    ({"amount": "1" * 400}, "amount", "too large"),
    ({"amount": "400.005"}, "amount", "at most 2 decimal places"),
    ({"amount": "400,005"}, "amount", "Write 400005 or 400.005"),
    ({"amount": "5.5", "currency": "JPY", "exchange_rate": "0.0067"}, "amount", "no decimal"),
    ({"amount": "1.2345", "currency": "KWD", "exchange_rate": "3.25"}, "amount", "3 decimal"),
    ({"amount": "400", "currency": "XYZ"}, "currency", "Unknown currency"),
    ({"amount": "400", "currency": HTML}, "currency", "Unknown currency"),
    ({"amount": "400", "currency": "CAD", "exchange_rate": "0"}, "exchange_rate", "greater"),
    ({"amount": "400", "currency": "CAD", "exchange_rate": "abc"}, "exchange_rate", "number"),
    ({"amount": HTML}, "amount", "as a number"),
    ({"amount": KHMER}, "amount", "as a number"),
    ({"received_on": FUTURE}, "received_on", "in the future"),
]


@pytest.mark.parametrize(("overrides", "field", "message"), NASTY)
def test_nasty_inputs_on_the_form(app, client, auth, setup, overrides, field, message):
    auth.login("treasurer")
    r = client.post("/contributions/new", data=form(setup, **overrides))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    error = page.split(f'id="e-{field}"')[1].split("</p>")[0]
    assert message in error.replace("&#34;", '"'), error
    assert HTML not in page  # escaped wherever it is shown again
    assert n_gifts(app) == 0


@pytest.mark.parametrize(("overrides", "field", "message"), NASTY)
def test_nasty_inputs_in_the_api(app, client, setup, overrides, field, message):
    r = api(client, setup, body(setup, **overrides))
    assert r.status_code == 422
    assert message in r.json["fields"][field], r.json
    assert n_gifts(app) == 0


@pytest.mark.parametrize(("overrides", "field", "message"), NASTY)
def test_nasty_inputs_in_the_csv(app, client, auth, setup, overrides, field, message):
    values = {"amount": "400", "currency": "USD", "exchange_rate": "", "received_on": "2014-06-15"}
    values.update(overrides)
    cells = [values[k].replace('"', '""') for k in ("amount", "currency", "exchange_rate")]
    line = 'CNRP Minnesota,"{}","{}","{}",{},general,'.format(*cells, values["received_on"])
    token, page, raw = csv_rows(client, auth, [line])
    assert "1 with errors" in page
    assert message in page.replace("&#34;", '"').replace("&quot;", '"')
    assert HTML not in page
    assert csv_confirm(client, token, raw).status_code == 422
    assert n_gifts(app) == 0


def test_html_and_khmer_text_are_kept_and_escaped(app, client, auth, setup):
    auth.login("treasurer")
    r = client.post(
        "/contributions/new",
        data=form(setup, amount="12,50", occasion=HTML, purpose=KHMER, note=KHMER + HTML),
    )
    assert r.status_code == 302
    with app.app_context():
        c = db.session.execute(select(Contribution)).scalar_one()
        assert (c.occasion, c.purpose, c.amount_minor) == (HTML, KHMER, 1250)
        cid = c.id
    page = client.get(f"/contributions/{cid}").get_data(as_text=True)
    assert HTML not in page and "&lt;script&gt;" in page and KHMER in page


def test_a_double_submit_records_one_gift_on_the_form_and_the_api(app, client, auth, setup):
    auth.login("treasurer")
    page = client.get("/contributions/new").get_data(as_text=True)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    data = form(setup, amount="500", currency="CAD", exchange_rate="0,7312", idempotency_key=key)
    assert client.post("/contributions/new", data=data).status_code == 302
    again = client.post("/contributions/new", data=data, follow_redirects=True)
    assert "was already recorded: the form was sent twice" in again.get_data(as_text=True)
    headers = {"Authorization": f"Bearer {setup['token']}", "Idempotency-Key": "k-1"}
    for _ in range(2):
        r = client.post(API + "/contributions", json=body(setup, amount="7"), headers=headers)
        assert r.status_code in (200, 201)
    assert n_gifts(app) == 2
