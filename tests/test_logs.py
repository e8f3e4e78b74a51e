"""The log: one format on stderr, a request id per request, echoed in the response."""

from __future__ import annotations

import logging
import re

from ceroc_donations.logs import HEADER, LOGGER, RequestIdFilter


def test_each_response_carries_a_new_request_id(client):
    first = client.get("/login").headers[HEADER]
    second = client.get("/login").headers[HEADER]
    assert re.fullmatch(r"[0-9a-f]{16}", first) and first != second


def test_a_sane_incoming_id_is_kept_and_a_bad_one_replaced(client):
    assert client.get("/login", headers={HEADER: "proxy-42.abc"}).headers[HEADER] == (
        "proxy-42.abc"
    )
    for bad in ("two words", "x" * 129, "line\\nbreak", "<script>"):
        returned = client.get("/login", headers={HEADER: bad}).headers[HEADER]
        assert returned != bad and re.fullmatch(r"[0-9a-f]{16}", returned), bad


def test_a_failed_csrf_check_still_gets_an_id(csrf_app, client):
    r = client.post("/login", data={"email": "x@test.example", "password": "x"})
    assert r.status_code == 400 and re.fullmatch(r"[0-9a-f]{16}", r.headers[HEADER])


def test_log_lines_name_their_request(client, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER.name):
        client.get("/login", headers={HEADER: "abc-123"})
    [record] = [r for r in caplog.records if "GET /login 200" in r.getMessage()]
    handler = next(h for h in LOGGER.handlers if h.filters)
    line = handler.format(record)
    assert re.fullmatch(r"\S+ \S+ INFO \[abc-123\] ceroc_donations: GET /login 200 \d+ ms", line)


def test_lines_outside_a_request_show_a_dash():
    record = logging.LogRecord("ceroc_donations", logging.ERROR, __file__, 1, "boom", (), None)
    assert RequestIdFilter().filter(record) and record.request_id == "-"


def test_one_handler_however_many_apps(app):
    from ceroc_donations import create_app

    create_app({"SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert len([h for h in LOGGER.handlers if h.filters]) == 1
