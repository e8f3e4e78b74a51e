"""Query filters, cursors and page sizes: one reader, strict for the API, lenient for pages."""

from __future__ import annotations

import base64
import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ceroc_donations import filters
from ceroc_donations.book.inputs import MAX_ID, Invalid

HUGE = "99999999999999999999999"
NASTY = [HUGE, "-1", "0", "²", "١٢", "１２", "1e3", "0x10", " 7 ", "", "\x00", "x" * 5000]


def test_whole_number_takes_ascii_digits_within_bounds():
    assert filters.whole_number("42") == 42
    assert filters.whole_number(" 42 ") == 42
    assert filters.whole_number(str(MAX_ID)) == MAX_ID
    for raw in (str(MAX_ID + 1), HUGE, "²", "١٢", "１２", "-1", "1.0", "", None, "1 2"):
        assert filters.whole_number(raw) is None, raw
    assert filters.whole_number("5", 1, 4) is None
    assert filters.whole_number("0", 1) is None


@given(st.text(max_size=40))
def test_whole_number_never_raises_and_stays_in_bounds(raw):
    value = filters.whole_number(raw, 1, 1000)
    assert value is None or 1 <= value <= 1000


@given(
    st.one_of(
        st.tuples(st.dates(), st.integers(-MAX_ID, MAX_ID)),
        st.tuples(st.text(max_size=60).filter(filters._storable), st.integers(-MAX_ID, MAX_ID)),
    )
)
def test_cursor_round_trip(key):
    shape = (type(key[0]), int)
    assert filters.decode_cursor(filters.encode_cursor(*key), shape) == key


@given(st.text(max_size=700))
def test_any_text_as_cursor_is_a_key_or_none(raw):
    for shape in ((date, int), (str, int)):
        key = filters.decode_cursor(raw, shape)
        assert key is None or (len(key) == 2 and abs(key[1]) <= MAX_ID)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _b64(json.dumps(["2014-01-01", MAX_ID + 1]).encode()),
        _b64(json.dumps(["2014-02-30", 1]).encode()),
        _b64(json.dumps(["2014-01-01", True]).encode()),
        _b64(json.dumps(["2014-01-01"]).encode()),
        _b64(json.dumps({"day": "2014-01-01", "id": 1}).encode()),
        _b64(b"[" * 5000),  # longer than any cursor made here
        _b64(b"[" * 3000),  # deeper than the JSON reader goes
        _b64(b"\xff\xfe"),
        "%%%",
    ],
)
def test_bad_cursors_decode_to_none(cursor):
    assert filters.decode_cursor(cursor, (date, int)) is None


def test_text_cursors_refuse_what_a_database_cannot_compare():
    for name in ("a\x00b", "\ud800"):
        raw = _b64(json.dumps([name, 1]).encode())
        assert filters.decode_cursor(raw, (str, int)) is None


def test_strict_names_every_bad_field_lenient_ignores_them(app):
    args = {
        "q": "a\x00b",
        "fund": HUGE,
        "donor": "²",
        "from": "2014-13-01",
        "to": "yesterday",
        "void": "maybe",
        "thanks": "lots",
        "category": "nope",
        "limit": HUGE,
        "cursor": "zzz",
    }
    with app.test_request_context():
        strict = filters.strict(args)
        filters.book_filter(strict)
        strict.limit()
        strict.cursor()
        with pytest.raises(Invalid) as exc:
            strict.check()
        assert set(exc.value.fields) == set(args)
        lenient = filters.lenient(args)
        assert filters.book_filter(lenient) == filters.BookFilter()
        assert (lenient.limit(), lenient.cursor(), lenient.errors) == (50, None, {})


def test_strict_refuses_a_filter_given_twice_lenient_takes_the_first(app):
    from werkzeug.datastructures import MultiDict

    args = MultiDict([("from", ""), ("from", "2014-13-01"), ("fund", "1")])
    with app.test_request_context():
        strict = filters.strict(args)
        filters.book_filter(strict)
        with pytest.raises(Invalid) as exc:
            strict.check()
        assert set(exc.value.fields) == {"from"}
        assert filters.book_filter(filters.lenient(args)).fund_id == 1


@given(st.dictionaries(st.sampled_from(["q", "fund", "donor", "from", "to", "void"]), st.text()))
def test_lenient_never_raises(args):
    f = filters.book_filter(filters.lenient(args))
    assert f.fund_id is None or 1 <= f.fund_id <= MAX_ID
    assert f.q is None or len(f.q) <= filters.MAX_QUERY_TEXT


# --- pages: huge or odd numbers are ignored, never a 500 ---------------------------------------

PAGE_URLS = [
    "/donors/?page={v}",
    "/donors/?q={v}",
    "/donors/search.json?q={v}",
    "/audit?before={v}",
    "/audit?entity={v}",
    "/contributions/?fund={v}&donor={v}&from={v}&to={v}&void={v}&thanks={v}&after={v}",
    "/expenses/?fund={v}&category={v}&q={v}&after={v}",
]


@pytest.mark.parametrize("url", PAGE_URLS)
def test_pages_ignore_bad_numbers(client, auth, url):
    auth.login("treasurer")
    for value in NASTY:
        r = client.get(url.format(v=value))
        assert r.status_code == 200, (url, value, r.status_code)


def test_donor_page_past_the_end_is_empty_and_a_huge_page_is_the_first(client, auth, donor):
    auth.login("treasurer")
    assert donor.name_en.encode() in client.get("/donors/?page=" + HUGE).data
    assert donor.name_en.encode() not in client.get("/donors/?page=1000000").data


@pytest.mark.parametrize("value", NASTY)
def test_ledger_filter_row_says_what_is_wrong(client, auth, value):
    auth.login("treasurer")
    r = client.get(f"/ledger/?fund={value}&donor={value}&after={value}")
    assert r.status_code in (200, 422), (value, r.status_code)
    if value.strip() not in ("",):
        assert r.status_code == 422


def test_letter_forms_refuse_odd_numbers(client, auth, donor):
    auth.login("board")
    r = client.post("/letters/batches", data={"ids": ["²", HUGE, "-1"]})
    assert r.status_code == 422
    for year in ("²", HUGE, "1e3"):
        r = client.post(f"/letters/donors/{donor.id}/statement", data={"year": year})
        assert r.status_code == 302


def test_import_confirm_reads_odd_line_numbers_as_none(client, auth):
    auth.login("treasurer")
    r = client.post("/contributions/import/confirm", data={"token": "nope", "ack": ["²", HUGE]})
    assert 400 <= r.status_code < 500  # before: int("²") raised, a 500
