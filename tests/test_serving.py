"""The app served as in production: gunicorn with deploy/gunicorn.conf.py, many clients at once.

On SQLite always; on PostgreSQL when CEROC_TEST_DATABASE_URL is set (scripts/test-postgres.sh).
"""

from __future__ import annotations

import json
import re
import threading
from collections import Counter as Tally
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ceroc_donations.book.models import Contribution, FundMonthTotal, LedgerEntry
from ceroc_donations.extensions import db
from tests.conftest import TEST_DATABASE_URL
from tests.serving_support import Connection, Gunicorn, seed_book, server_env

# Servers, worker processes and threads see only committed data: a database of its own.
pytestmark = pytest.mark.own_database

CLIENTS = 8
POSTS = 400


@pytest.fixture
def served(app, tmp_path):
    """Two funds, three donors and a treasurer's token; the app under gunicorn (2 workers)."""
    token, funds, donors = seed_book(app)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    env = server_env(url, tmp_path / "storage")
    with Gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
        yield server, token, funds, donors


def _body(n: int, funds: list[int], donors: list[int]) -> dict:
    """Gift *n*: amounts, currencies, funds and donors vary; one in five is a joint gift."""
    joint = n % 5 == 0
    currency, rate = ("CAD", "0.74") if n % 3 == 0 else ("USD", "1")
    body = {
        "donor_ids": donors[:2] if joint else [donors[n % 3]],
        "amount": f"{n % 250 + 1}.{n % 100:02d}",
        "currency": currency,
        "exchange_rate": rate,
        "received_on": "2014-06-15",
        "fund_id": funds[n % 2],
        "method": "cash",
    }
    if joint:
        whole = Decimal(body["amount"])
        half = (whole / 2).quantize(Decimal("0.01"))
        body["shares"] = [str(half), str(whole - half)]
    return body


def test_eight_clients_post_400_contributions_at_once(served, app):
    server, token, funds, donors = served
    answers: list[tuple[int, dict | bytes]] = []
    lock = threading.Lock()
    start = threading.Barrier(CLIENTS)

    def client(k: int) -> None:
        conn = Connection(server.port, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        start.wait()
        for i in range(POSTS // CLIENTS):
            n = i * CLIENTS + k
            status, data = conn.request(
                "POST",
                "/api/v1/contributions",
                json_body=_body(n, funds, donors),
                headers={"Idempotency-Key": f"load-{n}"},
            )
            with lock:
                answers.append((status, json.loads(data) if status < 300 else data[:300]))
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    statuses = Tally(status for status, _ in answers)
    assert statuses == {201: POSTS}, (statuses, [a for a in answers if a[0] != 201][:3])
    created = [body for _, body in answers]

    with app.app_context():
        rows = db.session.execute(select(Contribution)).scalars().all()
        assert len(rows) == POSTS
        # References are gap-free and each answer's reference is its row's.
        refs = sorted(c.reference for c in rows)
        assert refs == [f"C-2014-{n:04d}" for n in range(1, POSTS + 1)]
        assert sorted(b["reference"] for b in created) == refs
        # Totals: what the clients were told == the rows == the ledger == the monthly totals.
        posted_base = sum(b["base_amount"]["minor"] for b in created)
        per_currency = Tally()
        for b in created:
            per_currency[b["amount"]["currency"]] += b["amount"]["minor"]
        stored = Tally()
        for c in rows:
            stored[c.currency] += c.amount_minor
        assert stored == per_currency
        assert sum(c.base_amount_minor for c in rows) == posted_base
        ledger = db.session.execute(
            select(func.count(), func.sum(LedgerEntry.base_amount_minor)).where(
                LedgerEntry.direction == "in"
            )
        ).one()
        assert (ledger[0], int(ledger[1])) == (POSTS, posted_base)
        monthly = db.session.execute(
            select(func.sum(FundMonthTotal.in_count), func.sum(FundMonthTotal.in_minor))
        ).one()
        assert (int(monthly[0]), int(monthly[1])) == (POSTS, posted_base)
        for fund in funds:
            in_fund = sum(b["base_amount"]["minor"] for b in created if b["fund"]["id"] == fund)
            total = db.session.execute(
                select(func.sum(FundMonthTotal.in_minor)).where(FundMonthTotal.fund_id == fund)
            ).scalar_one()
            assert int(total) == in_fund
        db.session.remove()
        db.engine.dispose()

    # The API's balances say the same as the database.
    conn = Connection(server.port, headers={"Authorization": f"Bearer {token}"})
    status, data = conn.request("GET", "/api/v1/balances")
    conn.close()
    assert status == 200
    balances = json.loads(data)
    assert balances["total"]["in"]["minor"] == posted_base
    assert {f["fund_id"]: f["in"]["minor"] for f in balances["funds"]} == {
        fund: sum(b["base_amount"]["minor"] for b in created if b["fund"]["id"] == fund)
        for fund in funds
    }
    assert server.stop() == 0, server.logs()


def test_gunicorn_serves_pages_without_the_development_server_warning(served):
    server, _token, _funds, _donors = served
    conn = Connection(server.port)
    status, _ = conn.request("GET", "/login")
    assert status == 200
    status, body = conn.request("GET", "/healthz")
    assert status == 200
    conn.close()
    assert server.stop() == 0
    log = server.logs()
    assert "development server" not in log.lower()
    assert "Booting worker" in log
    # The access log names the path but never the query string (searches may hold names).
    assert '"GET /login HTTP/1.1" 200' in log
    # Gunicorn's own lines use the app's one format: time, level, [request id], logger.
    line = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \[[^\]]+\] [\w.]+: ")
    gunicorn_lines = [x for x in log.splitlines() if "gunicorn." in x]
    assert any("gunicorn.error: Booting worker" in x for x in gunicorn_lines)
    assert gunicorn_lines and all(line.match(x) for x in gunicorn_lines), gunicorn_lines
    # An access line carries the request id the app answered with, which its own line has.
    access = next(x for x in gunicorn_lines if '"GET /login HTTP/1.1" 200' in x)
    rid = re.search(r"\[([0-9a-f]{16})\] gunicorn.access", access).group(1)
    assert f"[{rid}] ceroc_donations: GET /login 200" in log


@pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL: run scripts/test-postgres.sh")
def test_postgres_is_the_database_served(served):
    server, _token, _funds, _donors = served
    conn = Connection(server.port)
    status, body = conn.request("GET", "/healthz")
    conn.close()
    assert status == 200
    assert json.loads(body)["checks"]["database"]["dialect"] == "postgresql"
