"""Page times on a big book: ``python bench/book.py [--contributions N] [--expenses M]``.

Builds a file SQLite database in a temporary folder (100,000 contributions and 20,000
expenses by default, ~2,000 donors, 5 funds, 2014–2026): a few entries through the services,
the rest bulk-inserted in the same shapes (contribution, contribution_donor, ledger_entry,
fund_month_total, counters). It checks that the monthly totals equal the ledger's sums,
then times pages with the Flask test client, logged in as the treasurer, and the API list
call with a bearer token when this checkout has ``/api/v1/contributions``.
Target: p95 ≤ 50 ms per page on a 2-core machine.

``CEROC_BENCH_ROOT=/path/to/checkout`` times another checkout's code.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

ROOT = os.environ.get("CEROC_BENCH_ROOT") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))
)
sys.path.insert(0, ROOT)

PASSWORD = "bench-password-2026"
FUNDS = [
    ("general", "General"),
    ("promotion", "Promotion & petition collection"),
    ("events", "Events"),
    ("legal", "Legal aid"),
    ("youth", "Youth programme"),
]
CURRENCIES = [
    ("USD", "1", 80),
    ("CAD", "0.74", 8),
    ("AUD", "0.66", 6),
    ("EUR", "1.08", 4),
    ("KHR", "0.000245", 2),
]
CATEGORIES = ("promotion", "printing", "travel", "events", "fees", "other")
FIRST_NAMES = (
    "Sophea",
    "Dara",
    "Chantha",
    "Vannak",
    "Srey",
    "Bopha",
    "Rithy",
    "Sokha",
    "Piseth",
    "Kalyan",
    "Janet",
    "Mony",
    "Sambath",
    "Nary",
    "Vichet",
    "Leakena",
)
LAST_NAMES = (
    "Seng",
    "Chan",
    "Sok",
    "Kim",
    "Heng",
    "Lim",
    "Touch",
    "Meas",
    "Keo",
    "Ouk",
    "Pich",
    "Long",
    "Sam",
    "Yim",
    "Chhay",
    "Nuon",
)
CITIES = (
    "Minneapolis",
    "Long Beach",
    "Lowell",
    "Toronto",
    "Montreal",
    "Melbourne",
    "Paris",
    "Seattle",
    "Philadelphia",
    "Newmarket",
)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--contributions", type=int, default=100_000)
    p.add_argument("--expenses", type=int, default=20_000)
    p.add_argument("--donors", type=int, default=2_000)
    p.add_argument("--runs", type=int, default=50)
    p.add_argument("--seed", type=int, default=2014)
    return p.parse_args()


def _now() -> str:
    return datetime.now().isoformat(sep=" ")


def _day(rng: random.Random, start: date, days: int) -> date:
    return start + timedelta(days=rng.randrange(days))


def build(app, args) -> dict:
    """Fill the database; return a few facts the timings need."""
    from sqlalchemy import select

    from ceroc_donations.accounts.models import User
    from ceroc_donations.book import service as book
    from ceroc_donations.book.inputs import parse_contribution, parse_donor, parse_expense
    from ceroc_donations.book.models import Fund
    from ceroc_donations.extensions import db
    from ceroc_donations.money import Money, convert
    from ceroc_donations.security import hash_password

    rng = random.Random(args.seed)
    start, end = date(2014, 1, 1), min(date.today(), date(2026, 12, 31))
    span = (end - start).days + 1

    db.create_all()
    treasurer = User(
        email="treasurer@bench.example",
        name="Treasurer",
        role="treasurer",
        password_hash=hash_password(PASSWORD),
    )
    db.session.add(treasurer)
    db.session.flush()
    funds = [book.create_fund(code, name, by=treasurer) for code, name in FUNDS]
    # A sample through the services: the bulk rows below copy these shapes.
    sample_donors = [
        book.create_donor(
            parse_donor({"name_en": f"Sample donor {i}", "name_km": "ម្ចាស់អំណោយ", "country": "US"}),
            by=treasurer,
        )
        for i in range(3)
    ]
    n_sample = min(20, args.contributions)
    for i in range(n_sample):
        ids = [str(sample_donors[i % 3].id)] + (
            [str(sample_donors[(i + 1) % 3].id)] if i % 5 == 0 else []
        )
        cur, rate, _w = CURRENCIES[i % 3]
        book.record_contribution(
            parse_contribution(
                {
                    "amount": f"{rng.randrange(5, 2000)}.00",
                    "currency": cur,
                    "exchange_rate": rate,
                    "received_on": _day(rng, start, span).isoformat(),
                    "fund_id": str(funds[i % 5].id),
                    "occasion": "Sample",
                    "method": "cash",
                },
                donor_ids=ids,
            ),
            by=treasurer,
        )
    n_sample_exp = min(5, args.expenses)
    for i in range(n_sample_exp):
        book.record_expense(
            parse_expense(
                {
                    "paid_on": _day(rng, start, span).isoformat(),
                    "payee": f"Sample payee {i}",
                    "amount": "12.50",
                    "currency": "USD",
                    "category": CATEGORIES[i % 6],
                    "fund_id": str(funds[i % 5].id),
                }
            ),
            by=treasurer,
        )
    fund_ids = [f.id for f in db.session.execute(select(Fund).order_by(Fund.id)).scalars()]
    treasurer_id = treasurer.id
    db.session.commit()
    db.session.remove()  # its connection would hold SQLite's write lock
    now = _now()

    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("BEGIN IMMEDIATE")
        # donors
        donor_rows = []
        for i in range(args.donors):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            kind = "group" if i % 7 == 0 else "person"
            name = (
                f"Khmer association of {rng.choice(CITIES)} {i}"
                if kind == "group"
                else f"{first} {last} {i}"
            )
            donor_rows.append(
                (
                    kind,
                    name,
                    f"{last} {first} {i}" if i % 3 == 0 else None,
                    rng.choice(CITIES),
                    "US",
                    "bilingual",
                    "named",
                    now,
                )
            )
        cur.executemany(
            "INSERT INTO donor (kind, name_en, name_km, city, country, letter_language, "
            "public_display, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            donor_rows,
        )
        donors = list(cur.execute("SELECT id, name_en FROM donor ORDER BY id"))
        (next_c,) = cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM contribution").fetchone()
        (next_e,) = cur.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM expense").fetchone()
        counters = defaultdict(int)
        for name, value in cur.execute("SELECT name, value FROM counter"):
            counters[name] = value
        months: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])

        currencies = [c for c, _r, w in CURRENCIES for _ in range(w)]
        rates = {c: Decimal(r) for c, r, _w in CURRENCIES}
        contributions, shares, ledger = [], [], []
        for n in range(args.contributions - n_sample):
            cid = next_c + n
            day = _day(rng, start, span)
            currency = rng.choice(currencies)
            minor = rng.randrange(500, 200_000) * (1000 if currency == "KHR" else 1)
            base = convert(Money(minor, currency), rates[currency], "USD").minor
            fund_id = fund_ids[rng.randrange(len(fund_ids))]
            counters[f"contribution-{day.year}"] += 1
            ref = f"C-{day.year}-{counters[f'contribution-{day.year}']:04d}"
            voided = rng.random() < 0.01
            who = rng.sample(donors, 2 if rng.random() < 0.1 else 1)
            status = "sent" if day.year < 2026 or rng.random() < 0.5 else "not_thanked"
            contributions.append(
                (
                    cid,
                    ref,
                    minor,
                    currency,
                    str(rates[currency]),
                    base,
                    "USD",
                    voided,
                    "Bench: voided" if voided else None,
                    now if voided else None,
                    False,
                    now,
                    now,
                    day.isoformat(),
                    "Treasurer",
                    rng.choice(CITIES) + " gathering",
                    None,
                    "cash",
                    fund_id,
                    "default",
                    None,
                    status,
                    treasurer_id,
                )
            )
            for position, (donor_id, _name) in enumerate(who):
                shares.append((cid, donor_id, None, position))
            ledger.append(
                (
                    day.isoformat(),
                    "in",
                    fund_id,
                    "contribution",
                    base,
                    minor,
                    currency,
                    " & ".join(name for _id, name in who)[:300],
                    voided,
                    cid,
                    None,
                )
            )
            if not voided:
                m = months[(fund_id, day.replace(day=1).isoformat())]
                m[0] += base
                m[2] += 1
        cur.executemany(
            "INSERT INTO contribution (id, reference, amount_minor, currency, exchange_rate, "
            "base_amount_minor, base_currency, voided, void_reason, voided_at, is_example, "
            "created_at, updated_at, received_on, received_by, occasion, purpose, method, "
            "fund_id, public_display, note, thank_status, recorded_by_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            contributions,
        )
        cur.executemany(
            "INSERT INTO contribution_donor (contribution_id, donor_id, share_minor,"
            " position) VALUES (?, ?, ?, ?)",
            shares,
        )

        expenses = []
        for n in range(args.expenses - n_sample_exp):
            eid = next_e + n
            day = _day(rng, start, span)
            minor = rng.randrange(500, 80_000)
            fund_id = fund_ids[rng.randrange(len(fund_ids))]
            category = rng.choice(CATEGORIES)
            counters[f"expense-{day.year}"] += 1
            ref = f"E-{day.year}-{counters[f'expense-{day.year}']:04d}"
            payee = f"{rng.choice(('Print shop', 'Radio', 'Airline', 'Hall', 'Bank'))} {n % 300}"
            expenses.append(
                (
                    eid,
                    ref,
                    minor,
                    "USD",
                    "1",
                    minor,
                    "USD",
                    False,
                    False,
                    now,
                    now,
                    day.isoformat(),
                    payee,
                    category,
                    fund_id,
                    "Bench expense",
                    treasurer_id,
                )
            )
            ledger.append(
                (
                    day.isoformat(),
                    "out",
                    fund_id,
                    category,
                    minor,
                    minor,
                    "USD",
                    payee,
                    False,
                    None,
                    eid,
                )
            )
            m = months[(fund_id, day.replace(day=1).isoformat())]
            m[1] += minor
            m[3] += 1
        cur.executemany(
            "INSERT INTO expense (id, reference, amount_minor, currency, exchange_rate, "
            "base_amount_minor, base_currency, voided, is_example, created_at, updated_at, "
            "paid_on, payee, category, fund_id, description_en, recorded_by_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            expenses,
        )
        # The ledger in date order, as a book filled over the years would be.
        ledger.sort(key=lambda row: row[0])
        cur.executemany(
            "INSERT INTO ledger_entry (entry_on, direction, fund_id, category, "
            "base_amount_minor, amount_minor, currency, label, voided, contribution_id, "
            "expense_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ledger,
        )
        cur.executemany(
            "INSERT INTO fund_month_total (fund_id, month, in_minor, out_minor, in_count, "
            "out_count) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fund_id, month) DO UPDATE SET "
            "in_minor = in_minor + excluded.in_minor, out_minor = out_minor + "
            "excluded.out_minor, in_count = in_count + excluded.in_count, "
            "out_count = out_count + excluded.out_count",
            [(f, m, *v) for (f, m), v in months.items()],
        )
        cur.executemany(
            "INSERT INTO counter (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE "
            "SET value = excluded.value",
            list(counters.items()),
        )
        cur.execute("COMMIT")
        # As a live database would be: statistics gathered, the WAL folded into the file.
        cur.execute("ANALYZE")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        raw.close()
    return {"donor_name": donors[len(donors) // 2][1]}


def check_totals() -> None:
    """Monthly totals must equal the ledger's sums, per fund and month, in and out."""
    from sqlalchemy import text

    from ceroc_donations.extensions import db

    ledger = {
        tuple(r[:2]): tuple(r[2:])
        for r in db.session.execute(
            text(
                "SELECT fund_id, strftime('%Y-%m-01', entry_on), "
                "SUM(CASE WHEN direction = 'in' THEN base_amount_minor ELSE 0 END), "
                "SUM(CASE WHEN direction = 'out' THEN base_amount_minor ELSE 0 END), "
                "SUM(direction = 'in'), SUM(direction = 'out') "
                "FROM ledger_entry WHERE NOT voided GROUP BY 1, 2"
            )
        )
    }
    totals = {
        tuple(r[:2]): tuple(r[2:])
        for r in db.session.execute(
            text(
                "SELECT fund_id, month, in_minor, out_minor, in_count, out_count "
                "FROM fund_month_total "
                "WHERE in_count OR out_count"
            )
        )
    }
    entries = db.session.execute(text("SELECT COUNT(*) FROM ledger_entry")).scalar()
    posted = {k: v for k, v in ledger.items() if any(v)}
    ok = posted == totals
    print(
        f"check: fund_month_total ({len(totals)} fund-months) == SUM(ledger_entry not voided)"
        f" over {entries:,} entries: {'OK' if ok else 'MISMATCH'}"
    )
    if not ok:
        bad = sorted(set(posted.items()) ^ set(totals.items()))[:5]
        raise SystemExit(f"totals differ, e.g. {bad}")


def timed(client, url: str, runs: int, headers=None) -> tuple[float, float, int]:
    for _ in range(3):  # warm caches and Jinja's template cache
        r = client.get(url, headers=headers)
        assert r.status_code == 200, (url, r.status_code, r.data[:300])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = client.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    return statistics.median(times), p95, len(r.data)


def main() -> None:
    args = parse_args()
    from sqlalchemy import select

    from ceroc_donations import create_app
    from ceroc_donations.accounts.models import User
    from ceroc_donations.book.models import Contribution
    from ceroc_donations.extensions import db
    from ceroc_donations.filters import encode_cursor

    with tempfile.TemporaryDirectory(prefix="ceroc-bench-") as tmp:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.sqlite",
                "SECRET_KEY": "bench",
                "WTF_CSRF_ENABLED": False,
                "RECEIPTS_DIR": f"{tmp}/receipts",
                "ARCHIVE_DIR": f"{tmp}/letters",
            }
        )
        t0 = time.perf_counter()
        with app.app_context():
            facts = build(app, args)
        build_s = time.perf_counter() - t0
        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; code from {ROOT}")
        print(
            f"built {args.contributions:,} contributions, {args.expenses:,} expenses, "
            f"{args.donors:,} donors, {len(FUNDS)} funds in {build_s:.1f} s"
        )
        with app.app_context():
            check_totals()
            ids = db.session.execute(
                select(Contribution.received_on, Contribution.id)
                .where(Contribution.voided.is_(False))
                .order_by(Contribution.received_on.desc(), Contribution.id.desc())
            ).all()
            deep = encode_cursor(*ids[len(ids) // 2])
            treasurer = db.session.execute(select(User)).scalar_one()
            api_token = None
            if any(r.rule == "/api/v1/contributions" for r in app.url_map.iter_rules()):
                from ceroc_donations.security import new_api_token

                api_token = new_api_token(treasurer, "bench")
                db.session.commit()
            db.session.remove()

        client = app.test_client()
        r = client.post("/login", data={"email": "treasurer@bench.example", "password": PASSWORD})
        assert r.status_code == 302, r.data[:300]
        q = facts["donor_name"].split()[0]
        cases = [
            ("dashboard", "/", None),
            ("contributions, first page", "/contributions/", None),
            ("contributions, page deep (cursor)", f"/contributions/?after={deep}", None),
            (f"contributions, ?q={q}", f"/contributions/?q={q}", None),
        ]
        if any(r.rule == "/contributions/convert.json" for r in app.url_map.iter_rules()):
            cases += [
                ("new contribution form", "/contributions/new", None),
                (
                    "live base value (convert.json, CAD)",
                    "/contributions/convert.json?amount=1.234,50&currency=CAD&exchange_rate=0,73",
                    None,
                ),
                ("merge page (same-name scan)", "/donors/1/merge", None),
            ]
        if api_token:
            cases.append(
                (
                    "API /api/v1/contributions",
                    "/api/v1/contributions",
                    {"Authorization": f"Bearer {api_token}"},
                )
            )
        print(f"\n{'page':40} {'median':>9} {'p95':>9}  {'bytes':>8}   (runs: {args.runs})")
        worst = 0.0
        for label, url, headers in cases:
            median, p95, size = timed(client, url, args.runs, headers)
            worst = max(worst, p95)
            flag = "" if p95 <= 50 else "  > 50 ms target"
            print(f"{label:40} {median:7.1f}ms {p95:7.1f}ms  {size:8,}{flag}")
        if not api_token:
            print("API: /api/v1/contributions is not in this checkout; skipped.")
        print(f"\nworst p95 {worst:.1f} ms (target 50 ms)")


if __name__ == "__main__":
    main()
